"""One module per log format. Each defines FORMAT, sniff(path) -> bool and read(path) -> Run."""

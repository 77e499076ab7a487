"""CLI command groups, one module each; `traintriage.cli.COMMANDS` lists them."""

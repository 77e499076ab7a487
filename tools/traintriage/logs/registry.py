"""The readers, in the order `--format auto` tries them (most specific signature first)."""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType

from traintriage.logs.model import LogReadError, Run

# name -> module; auto-detection tries them in this order. Text is the catch-all, so it is last.
READERS = {
    "hf": "traintriage.logs.readers.hf",
    "tensorboard": "traintriage.logs.readers.tensorboard",
    "wandb": "traintriage.logs.readers.wandb",
    "mlflow": "traintriage.logs.readers.mlflow",
    "jsonl": "traintriage.logs.readers.jsonl",
    "csv": "traintriage.logs.readers.csv_reader",
    "text": "traintriage.logs.readers.text",
}
FORMATS = ("auto", *READERS)


def reader(name: str) -> ModuleType:
    return importlib.import_module(READERS[name])


def detect(path: Path) -> str:
    """The format of a file or folder, or LogReadError saying what was found instead."""
    for name in READERS:
        if name == "text" and path.is_dir():
            continue
        if reader(name).sniff(path):
            return name
    if path.is_dir():
        found = sorted({p.suffix or p.name for p in path.rglob("*") if p.is_file()})[:12]
        raise LogReadError(
            f"{path}: no run logs found in this folder (looked for event files, *.wandb, mlruns, "
            f"trainer_state.json, metrics.csv; found file types: {', '.join(found) or 'none'}). "
            "Pass a log file, or --format"
        )
    return "text"


def read_run(path: str | Path, format: str = "auto") -> Run:  # noqa: A002 - the CLI flag's name
    """Read a run log into a Run. Raises LogReadError with an actionable message when it cannot."""
    p = Path(path).expanduser()
    if format not in FORMATS:
        raise LogReadError(f"unknown format '{format}'; choose one of: {', '.join(FORMATS)}")
    if not p.exists():
        raise LogReadError(f"{p}: no such file or directory")
    if p.is_file() and p.stat().st_size == 0:
        raise LogReadError(f"{p}: empty file (the run has not logged anything yet?)")
    fmt = detect(p) if format == "auto" else format
    try:
        run = reader(fmt).read(p)
    except LogReadError:
        raise
    except (OSError, UnicodeDecodeError) as e:
        raise LogReadError(f"{p}: cannot read as {fmt}: {e}") from e
    run.metadata.setdefault("detected_format", fmt) if format == "auto" else None
    return run

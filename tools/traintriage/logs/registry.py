"""The readers, in the order `--format auto` tries them (most specific signature first)."""

from __future__ import annotations

import importlib
import os
import stat
from pathlib import Path
from types import ModuleType

from traintriage.logs import sources
from traintriage.logs.model import LogReadError, Run
from traintriage.logs.readers._common import file_kind

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
            f"{path}: no run logs found in this folder (looked for traintriage_watch.jsonl, event files, *.wandb, "
            f"mlruns, trainer_state.json, metrics.csv; found file types: {', '.join(found) or 'none'}). "
            "Pass a log file, or --format"
        )
    return "text"


def read_run(path: str | Path, format: str = "auto") -> Run:  # noqa: A002 - the CLI flag's name
    """Read a run log into a Run, or raise LogReadError with an actionable message when it cannot.

    No other exception escapes: unreadable lines are skipped and counted (Run.skipped_lines, Run.first_skip).
    Only regular files and folders are opened: a FIFO, device or socket is refused before any open()."""
    p = Path(path).expanduser()
    if format not in FORMATS:
        raise LogReadError(f"unknown format '{format}'; choose one of: {', '.join(FORMATS)}")
    try:
        st = os.stat(p)
    except FileNotFoundError:
        raise LogReadError(f"{p}: no such file or directory") from None
    except (OSError, ValueError) as e:  # ValueError: a NUL byte in the path
        raise LogReadError(f"{p}: cannot read ({getattr(e, 'strerror', None) or e})") from None
    if not (stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode)):
        raise LogReadError(f"{p}: {file_kind(st.st_mode)}, not a log file; refusing to open it")
    if stat.S_ISREG(st.st_mode) and st.st_size == 0:
        raise LogReadError(f"{p}: empty file (the run has not logged anything yet?)")
    fmt = format
    watch = sources.watch_files(p) if format == "auto" and p.is_dir() else []
    try:
        if watch:  # our own watch file first: every step's loss, LR and norms (logs/sources.py)
            fmt = "jsonl"
            run = reader(fmt).read(watch[0])
        else:
            if format == "auto":
                fmt = detect(p)
            run = reader(fmt).read(p)
    except LogReadError:
        raise
    except (OSError, UnicodeDecodeError) as e:
        raise LogReadError(f"{p}: cannot read as {fmt}: {e}") from e
    if format == "auto":
        run.metadata.setdefault("detected_format", fmt)
    if p.is_dir():
        read = watch[:1] or sources.files_read_by(fmt, p, run.metadata)
        why = (f"a {{format}} log; {sources.WATCH_NAME} is read instead: it has every step's loss, LR and norms"
               if watch else f"a {{format}} log; the folder was read as {fmt} (pass this file to read it instead)")
        run.files_read, run.files_skipped = sources.account(p, fmt, read, why)
    else:
        run.files_read = [str(p)]
    return run

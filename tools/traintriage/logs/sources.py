"""Which files in a run folder are read, and which are left out (and why).

A run folder often holds several logs of the same run: our own `traintriage_watch.jsonl` (written by
`traintriage.watch` and the HF / Lightning callbacks, in the Trainer's `output_dir` / `default_root_dir`), the
framework's TensorBoard event files (Lightning's default logger writes `lightning_logs/version_N/`, HF's
`runs/<date>_<host>/`), HF checkpoints' `trainer_state.json`, a CSV logger's `metrics.csv`. Our watch file is
preferred: it holds the loss of every optimizer step with the LR and the gradient / parameter / update norms,
where the framework's logs hold window averages of a few scalars. Every other log file found is named as
skipped with the reason, so a person knows what the diagnosis rests on.
"""

from __future__ import annotations

import os
from pathlib import Path

from traintriage.logs.model import FileSkip
from traintriage.logs.readers._common import is_regular
from traintriage.watcher import DEFAULT_PATH as WATCH_NAME

# At most this many skipped files are named (a checkpoint folder can hold hundreds of event files); the rest
# are counted in one line.
MAX_NAMED_SKIPS = 20


def watch_files(folder: Path) -> list[Path]:
    """Our own watch files under `folder`, newest first (empty ones left out: the run has not logged yet)."""
    found = [p for p in folder.rglob(WATCH_NAME) if is_regular(p) and _size(p) > 0]
    return sorted(found, key=_mtime, reverse=True)


def _size(p: Path) -> int:
    try:
        return p.stat().st_size
    except OSError:
        return 0


def _mtime(p: Path) -> float:
    try:
        return p.stat().st_mtime
    except OSError:
        return 0.0


def _found_by(folder: Path) -> dict[str, list[Path]]:
    """Every log each folder reader would find under `folder` (format -> files or run folders)."""
    from traintriage.logs.readers import csv_reader, hf, mlflow, tensorboard, wandb

    return {
        "tensorboard": tensorboard.event_files(folder),
        "hf": hf._files(folder),
        "wandb": wandb._files(folder),
        "mlflow": mlflow._run_dirs(folder),
        "csv": csv_reader._found(folder),
    }


def _rel(p: Path, folder: Path) -> str:
    try:
        return str(p.relative_to(folder))
    except ValueError:
        return str(p)


def account(folder: Path, fmt: str, read: list[Path], why_not: str) -> tuple[list[str], list[FileSkip]]:
    """(files read, files skipped) for a folder read as `fmt` from the files `read`: every other log any reader
    would find there is skipped with `why_not` (formatted with its format)."""
    done = {os.path.normpath(p) for p in read}
    skipped: list[FileSkip] = []
    for other, paths in _found_by(folder).items():
        for p in paths:
            if os.path.normpath(p) in done:
                continue
            why = (f"another {fmt} file of the same folder; read {_rel(read[0], folder)}" if other == fmt and read
                   else why_not.format(format=other))
            skipped.append(FileSkip(path=_rel(p, folder), why=why))
    for p in watch_files(folder):
        if os.path.normpath(p) not in done:
            skipped.append(FileSkip(path=_rel(p, folder), why=f"an older {WATCH_NAME}; read the newest"))
    if len(skipped) > MAX_NAMED_SKIPS:
        rest = len(skipped) - MAX_NAMED_SKIPS
        skipped = [*skipped[:MAX_NAMED_SKIPS], FileSkip(path=f"... {rest} more", why="not named to keep this short")]
    return [_rel(p, folder) or "." for p in read], skipped


def files_read_by(fmt: str, folder: Path, metadata: dict) -> list[Path]:
    """The files (or run folders) the `fmt` reader read from `folder`, as far as its result says."""
    if "file" in metadata:  # hf, csv: the one file they chose among several
        return [Path(metadata["file"])]
    return _found_by(folder).get(fmt, [])

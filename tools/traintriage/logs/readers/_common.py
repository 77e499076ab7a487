"""Helpers shared by the tabular readers (CSV, JSONL, HF): which column is the step, which is the clock."""

from __future__ import annotations

import json
import math
import os
import re
import stat
from pathlib import Path
from typing import Any

from traintriage.logs.model import LogReadError, to_float

# Column names writers use for the x-axis, most specific first.
STEP_COLUMNS = ("global_step", "step", "_step", "trainer/global_step", "iteration", "iter", "it", "steps", "epoch")
WALL_COLUMNS = ("wall_time", "wall time", "_timestamp", "timestamp", "time")


def numpy_or_none():  # noqa: ANN201 - the numpy module
    """numpy, or None where it is not installed (the bulk paths need it; the row paths do not)."""
    try:
        import numpy
    except ImportError:
        return None
    return numpy


def pick(columns: list[str], wanted: tuple[str, ...]) -> str | None:
    low = {c.strip().lower(): c for c in columns}
    for w in wanted:
        if w in low:
            return low[w]
    return None


def flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """{'train': {'loss': 1}} -> {'train/loss': 1}. Keys are str (JSON); the depth is bounded by loads()."""
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(flatten(v, key + "/"))
        else:
            out[key] = v
    return out


def wall_seconds(v: Any) -> float | None:
    """Unix seconds from a number (s or ms) — strings and dates are not guessed at."""
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    v = to_float(v)
    if v is None or not math.isfinite(v):
        return None
    if v > 1e11:  # milliseconds (MLflow, some JS writers)
        v /= 1000.0
    return v if v > 1e8 else None  # small numbers are durations, not timestamps


# --- input safety: regular files only, bounded lines, bounded JSON --------------------------------------------------------

# Longest line a line-based reader holds in memory. A metric line or record is well under a few KB; a longer
# one is a dumped tensor or a runaway print. It is skipped and counted, read through in pieces, so a
# newline-less multi-GB file costs at most this much memory. (The text reader's block size, 8 MiB, too.)
MAX_LINE_BYTES = 8 << 20


def lines(f, cap: int = MAX_LINE_BYTES):  # noqa: ANN001 - a binary file object
    """Yield (line number, line) from a binary file; a line over `cap` bytes comes as (number, None) after
    being read through (never held whole)."""
    n = 0
    while True:
        line = f.readline(cap + 1)
        if not line:
            return
        n += 1
        if len(line) > cap:
            while line and not line.endswith(b"\n"):
                line = f.readline(cap)
            yield n, None
            continue
        yield n, line


# Deepest JSON nesting a record may have. Writers nest metrics 1-3 levels ({"train": {"loss": ..}}, W&B's
# value_json); Python's json module and flatten() recurse per level and hit RecursionError near 1,000.
# 64 is far above any writer's records and far below that limit.
MAX_JSON_DEPTH = 64
_JSON_TOKENS = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{}]')  # strings (skipped whole) and brackets


def json_depth(raw: bytes) -> int:
    """The bracket nesting depth of a JSON text, in one linear pass (brackets inside strings not counted)."""
    if raw.count(b"[") + raw.count(b"{") <= MAX_JSON_DEPTH:
        return 0  # cannot be deeper than the number of open brackets: the common case costs two counts
    depth = deepest = 0
    for m in _JSON_TOKENS.finditer(raw):
        c = m.group()
        if c in (b"[", b"{"):
            depth += 1
            deepest = max(deepest, depth)
        elif c in (b"]", b"}"):
            depth -= 1
    return deepest


def loads(raw: bytes | str) -> Any:
    """json.loads with the nesting capped at MAX_JSON_DEPTH: too deep is a ValueError like any bad JSON."""
    b = raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else raw
    if json_depth(b) > MAX_JSON_DEPTH:
        raise ValueError(f"JSON nested deeper than {MAX_JSON_DEPTH} levels")
    return json.loads(b)


def file_kind(mode: int) -> str:
    for test, name in ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"), (stat.S_ISDIR, "a folder")):
        if test(mode):
            return name
    return "not a regular file"


def check_regular(path: Path) -> None:
    """LogReadError unless path is a regular file. Checked before opening: opening a FIFO blocks until a writer
    comes, and a device such as /dev/zero never ends."""
    try:
        mode = os.stat(path).st_mode
    except OSError as e:
        raise LogReadError(f"{path}: cannot stat ({e.strerror})") from e
    if not stat.S_ISREG(mode):
        raise LogReadError(f"{path}: {file_kind(mode)}, not a regular file; pass a log file or a run folder")


def is_regular(path: Path) -> bool:
    """True for a regular file (following links); FIFOs, devices, sockets, folders and dangling links: False."""
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except OSError:
        return False


def regular(paths) -> list[Path]:  # noqa: ANN001 - any iterable of paths
    """The regular files among paths (what auto-discovery in a run folder may open)."""
    return [p for p in paths if is_regular(p)]

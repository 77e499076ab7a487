"""JSON-lines logs (one object per line, e.g. `{"step": 10, "loss": 0.31}`), and a JSON array of such
objects. Nested objects are flattened with '/'. Values may be numbers or numeric strings ('NaN', '1e-3').
A line that is not a JSON object, nests deeper than MAX_JSON_DEPTH, is longer than MAX_LINE_BYTES or has a
step outside int64 (1e999, 99999999999999999999) is skipped and counted (Run.skipped_lines, first_skip),
never fatal unless nothing is readable.
"""

from __future__ import annotations

from pathlib import Path

from traintriage.logs.model import Run, RunBuilder, to_float, to_step
from traintriage.logs.readers._common import (
    MAX_LINE_BYTES,
    STEP_COLUMNS,
    WALL_COLUMNS,
    flatten,
    is_regular,
    lines,
    loads,
    pick,
    wall_seconds,
)

FORMAT = "jsonl"


def sniff(path: Path) -> bool:
    if not is_regular(path):
        return False
    if path.suffix.lower() in (".jsonl", ".ndjson"):
        return True
    try:
        with path.open("rb") as f:
            for _, line in lines(f):
                if line is None:
                    return False
                if line.strip():
                    obj = loads(line)
                    return isinstance(obj, dict) and "log_history" not in obj
    except (OSError, ValueError):
        return False
    return False


def read(path: Path) -> Run:
    rb = RunBuilder(str(path), FORMAT)
    idx = 0
    with path.open("rb") as f:
        for lineno, line in lines(f, MAX_LINE_BYTES):
            if line is None:
                rb.skip_line(lineno, f"longer than {MAX_LINE_BYTES} bytes")
                continue
            if not line.strip():
                continue
            try:
                obj = loads(line)
            except ValueError as e:  # bad JSON, bad UTF-8, too deep, an int over Python's digit limit
                rb.skip_line(lineno, f"not JSON ({_short(e)})")
                continue
            if isinstance(obj, list) and lineno == 1:  # a JSON array of records on one line
                for n, rec in enumerate(obj, 1):
                    if not isinstance(rec, dict) or (why := _record(rec, idx, rb)):
                        rb.skip_line(lineno, f"array item {n}: {why or 'not an object'}")
                        continue
                    idx += 1
                continue
            if not isinstance(obj, dict):
                rb.skip_line(lineno, f"a JSON {type(obj).__name__}, not an object")
                continue
            why = _record(obj, idx, rb)
            if why:
                rb.skip_line(lineno, why)
                continue
            idx += 1
    if not rb.builders:
        raise rb.no_metrics("no JSON object lines with numeric values")
    return rb.finish()


def _short(e: Exception) -> str:
    return str(e)[:80]


def _record(obj: dict, idx: int, rb: RunBuilder) -> str | None:
    """Add one record's metrics; the reason it was skipped, or None."""
    flat = flatten(obj)
    keys = list(flat)
    sk = pick(keys, STEP_COLUMNS)
    wk = pick(keys, WALL_COLUMNS)
    step = idx  # no step, or a step that is not a number (null, 'n/a', NaN): the record's index
    if sk is not None:
        v = flat[sk]
        sv = None if isinstance(v, bool) else v if isinstance(v, int) else to_float(v)
        if sv is not None and sv == sv:
            step = to_step(sv)
            if step is None:  # a number, but not an int64 one (1e999, 99999999999999999999)
                return f"step {str(flat[sk])[:40]!r} is outside the int64 range"
    wall = wall_seconds(flat.get(wk)) if wk else None
    for k, v in flat.items():
        if k in (sk, wk):
            continue
        x = to_float(v)
        if x is not None and not isinstance(v, bool):
            rb.add(k, step, x, wall)
    return None

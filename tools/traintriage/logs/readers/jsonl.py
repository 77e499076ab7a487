"""JSON-lines logs (one object per line, e.g. `{"step": 10, "loss": 0.31}`), and a JSON array of such
objects. Nested objects are flattened with '/'. Values may be numbers or numeric strings ('NaN', '1e-3').
Lines that are not JSON objects are counted and reported, never fatal unless nothing is readable.
"""

from __future__ import annotations

import json
from pathlib import Path

from traintriage.logs.model import LogReadError, Run, RunBuilder, to_float
from traintriage.logs.readers._common import STEP_COLUMNS, WALL_COLUMNS, flatten, pick, wall_seconds

FORMAT = "jsonl"


def sniff(path: Path) -> bool:
    if path.is_dir():
        return False
    if path.suffix.lower() in (".jsonl", ".ndjson"):
        return True
    try:
        with path.open("rb") as f:
            for line in f:
                if line.strip():
                    obj = json.loads(line)
                    return isinstance(obj, dict) and "log_history" not in obj
    except (OSError, ValueError):
        return False
    return False


def read(path: Path) -> Run:
    rb = RunBuilder(str(path), FORMAT)
    if path.stat().st_size == 0:
        raise LogReadError(f"{path}: empty file")
    bad = 0
    first_bad = None
    idx = 0
    with path.open("rb") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except ValueError:
                obj = None
            if isinstance(obj, list) and lineno == 1:  # a JSON array of records on one line
                for rec in obj:
                    if isinstance(rec, dict):
                        _record(rec, idx, rb)
                        idx += 1
                continue
            if not isinstance(obj, dict):
                bad += 1
                first_bad = first_bad or lineno
                continue
            _record(obj, idx, rb)
            idx += 1
    if bad:
        rb.skipped.append(f"{bad} line(s) were not JSON objects and were skipped (first at line {first_bad})")
    if not rb.builders:
        raise LogReadError(f"{path}: no JSON object lines with numeric values ({bad} unreadable line(s))")
    return rb.finish()


def _record(obj: dict, idx: int, rb: RunBuilder) -> None:
    flat = flatten(obj)
    keys = list(flat)
    sk = pick(keys, STEP_COLUMNS)
    wk = pick(keys, WALL_COLUMNS)
    step_v = to_float(flat.get(sk)) if sk else None
    step = int(step_v) if step_v is not None and step_v == step_v else idx
    wall = wall_seconds(flat.get(wk)) if wk else None
    for k, v in flat.items():
        if k in (sk, wk):
            continue
        x = to_float(v)
        if x is not None and not isinstance(v, bool):
            rb.add(k, step, x, wall)

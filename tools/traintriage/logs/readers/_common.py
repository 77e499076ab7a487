"""Helpers shared by the tabular readers (CSV, JSONL, HF): which column is the step, which is the clock."""

from __future__ import annotations

from typing import Any

# Column names writers use for the x-axis, most specific first.
STEP_COLUMNS = ("global_step", "step", "_step", "trainer/global_step", "iteration", "iter", "it", "steps", "epoch")
WALL_COLUMNS = ("wall_time", "wall time", "_timestamp", "timestamp", "time")


def pick(columns: list[str], wanted: tuple[str, ...]) -> str | None:
    low = {c.strip().lower(): c for c in columns}
    for w in wanted:
        if w in low:
            return low[w]
    return None


def flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """{'train': {'loss': 1}} -> {'train/loss': 1}."""
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
    v = float(v)
    if v > 1e11:  # milliseconds (MLflow, some JS writers)
        v /= 1000.0
    return v if v > 1e8 else None  # small numbers are durations, not timestamps

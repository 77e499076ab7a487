"""Helpers for the checks that compare ranks (a torchrun probe's ev["ranks"], probe/ranks.py)."""

from __future__ import annotations

from typing import Any


def rank_records(ev: dict[str, Any], kind: str) -> list[list[dict[str, Any]]]:
    """Per rank, its records of `kind` (empty when the probe ran one process)."""
    return [r.get("by", {}).get(kind, []) for r in ev.get("ranks") or []]


def by_step(ev: dict[str, Any], kind: str = "ddp") -> list[tuple[int, list[dict[str, Any]]]]:
    """(step, one record per rank) for the steps every rank recorded, in step order."""
    per_rank = rank_records(ev, kind)
    if len(per_rank) < 2:
        return []
    maps = [{rec.get("step"): rec for rec in recs} for recs in per_rank]
    common = set(maps[0]).intersection(*maps[1:])
    return [(s, [m[s] for m in maps]) for s in sorted(common)]


def rel_diff(a: float, b: float) -> float:
    """|a - b| relative to the larger magnitude (0 when both are 0)."""
    scale = max(abs(a), abs(b))
    return abs(a - b) / scale if scale else 0.0

"""replicas-out-of-sync: the ranks' parameters differ at the same step, so each rank trains its own model."""

from __future__ import annotations

from typing import Any

from traintriage.probe.detectors._common import finding
from traintriage.probe.detectors._ranks import by_step, rel_diff

# Relative difference of two ranks' float64 parameter checksums (probe/ddp_record.py) above which the replicas
# differ. Replicas kept in sync are bitwise equal: DDP broadcasts rank 0's parameters at construction and every
# rank applies the same averaged gradient (PyTorch DDP design notes), so their checksums agree to the last bit;
# 1e-9 leaves room for nothing but float64 summation order, and a real drift is orders of magnitude larger.
REL_TOL = 1e-9


def detect(ev: dict[str, Any]) -> list:
    rows = by_step(ev)
    if not rows:
        return []
    bad = [(s, recs) for s, recs in rows
           if any(rel_diff(r["params"], recs[0]["params"]) > REL_TOL for r in recs[1:])]
    if not bad:
        return []
    first, recs = bad[0]
    last_step, last = rows[-1]
    worst = max(rel_diff(r["params"], last[0]["params"]) for r in last[1:])
    ranks = [r["rank"] for r in recs[1:] if rel_diff(r["params"], recs[0]["params"]) > REL_TOL]
    differing = _differing_params(bad)
    never_synced = all(r.get("ddp") and not r.get("backward_synced") for _, rr in rows for r in rr)
    start = ("before the first update: the replicas started from different weights (built or re-initialised "
             "per rank after DDP broadcast them, or no DDP wrapper to broadcast them)" if first == 0 else
             f"from step {first} on: the ranks applied different updates to the same weights")
    return [finding(
        "replicas-out-of-sync", "error", 0.7 if never_synced else 0.9,
        f"The ranks' parameters differ {start}; at step {last_step} they differ by a relative {worst:.2g} "
        f"(rank(s) {ranks} vs rank 0), so every rank trains its own model and a checkpoint saved on rank 0 is not "
        "what the other ranks evaluated." + (f" Parameters that differ: {', '.join(differing[:5])}." if differing
                                             else ""),
        first_step=first, steps_compared=len(rows), steps_differing=len(bad), last_rel_diff=worst,
        ranks_differing=ranks, params_differing=differing[:10],
        checksums_first={r["rank"]: r["params"] for r in recs}, world_size=ev.get("world_size"))]


def _differing_params(bad: list[tuple[int, list[dict[str, Any]]]]) -> list[str]:
    """Names of the parameters whose sums differ across ranks, on the first step that listed them."""
    for _, recs in bad:
        lists = [r.get("param_sums") for r in recs]
        if all(lists):
            return [row[0] for i, row in enumerate(lists[0])
                    if any(i < len(o) and rel_diff(o[i][1], row[1]) > REL_TOL for o in lists[1:])]
    return []

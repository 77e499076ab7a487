"""grad-allreduce-not-averaged: a hand-written all-reduce sums the ranks' gradients and nothing divides them."""

from __future__ import annotations

import math
from typing import Any

from traintriage.probe.detectors._common import finding
from traintriage.probe.detectors._ranks import by_step

# The checksum of a gradient is linear (probe/ddp_record.py), so after `all_reduce(SUM)` the gradient a rank
# steps with has checksum S = the sum of the ranks' local checksums, and S / N when it was averaged: the ratio
# (checksum at the step) / (S / N) is N for a sum, 1 for a mean, 1/N for a mean divided once more. The ratios
# to tell apart are at least a factor 2 apart; float32 rounding of the reduced values moves a ratio by ~1e-6,
# so a match within this relative tolerance is exact for the purpose.
RATIO_TOL = 1e-3
# Share of the steps with a hand-written gradient all-reduce that must show the sum (one clipped step aside).
SUMMED_SHARE = 0.5


def _ratio(recs: list[dict[str, Any]]) -> float | None:
    """(checksum at the step) / (mean of the local checksums), averaged over the ranks; None when undefined (a
    zero sum, or a non-finite gradient once a run has diverged)."""
    s = sum(r["reduced_pre"] for r in recs)
    n = len(recs)
    if not s or not math.isfinite(s) or not all(math.isfinite(r["reduced_post"]) for r in recs):
        return None
    ratios = [r["reduced_post"] / (s / n) for r in recs]
    return sum(ratios) / n


def _near(x: float, target: float) -> bool:
    return abs(x - target) <= RATIO_TOL * target


def detect(ev: dict[str, Any]) -> list:
    rows = [(s, recs) for s, recs in by_step(ev) if all(r.get("reduced") for r in recs)]
    n = ev.get("world_size") or 0
    if not rows or n < 2:
        return []
    ratios = [(s, _ratio(recs)) for s, recs in rows]
    ratios = [(s, r) for s, r in ratios if r is not None]
    summed = [s for s, r in ratios if _near(r, n)]
    twice = [s for s, r in ratios if _near(r, 1 / n)]
    ev_common = {"world_size": n, "steps_with_manual_allreduce": len(ratios),
                 "ratio_to_mean": [round(r, 6) for _, r in ratios[:10]], "reduced_tensors": rows[0][1][0]["reduced"]}
    if ratios and len(summed) / len(ratios) >= SUMMED_SHARE:
        return [finding(
            "grad-allreduce-not-averaged", "error", 0.95,
            f"The script all-reduces the gradients itself and steps with their sum: in {len(summed)}/{len(ratios)} "
            f"steps the gradient at optimizer.step() is {n}x the mean of the ranks' local gradients (world size "
            f"{n}). Divide by the world size after the all_reduce (or use DDP): as it is, the effective learning "
            f"rate is {n}x the one set.", steps_summed=len(summed), **ev_common)]
    if ratios and len(twice) / len(ratios) >= SUMMED_SHARE:
        return [finding(
            "grad-allreduce-not-averaged", "error", 0.9,
            f"The gradients are averaged twice: in {len(twice)}/{len(ratios)} steps the gradient at "
            f"optimizer.step() is 1/{n} of the mean of the ranks' local gradients (world size {n}), so the "
            f"effective learning rate is 1/{n} of the one set.", steps_divided_twice=len(twice), **ev_common)]
    return []

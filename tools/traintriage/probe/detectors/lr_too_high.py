"""lr-too-high: updates are a large fraction of the weights and the loss rises, oscillates or blows up."""

from __future__ import annotations

import math
from typing import Any

from traintriage.probe.detectors._common import finding, group_rel_updates, losses, median

# CS231n (Karpathy, "Neural Networks Part 3"): the update/weight ratio should be around 1e-3. Thirty
# times that, sustained, moves every weight by 3 % a step: fine for a few warm steps, not as a regime.
REL_UPDATE_HIGH = 3e-2
# Final loss above this multiple of the initial loss counts as rising (one batch replayed: it should fall).
LOSS_RISE = 1.0


def detect(ev: dict[str, Any]) -> list:
    rel = group_rel_updates(ev, skip_first=1)
    if not rel:
        return []
    meds = [median(g) for g in rel if g]
    meds = [m for m in meds if m is not None]
    if not meds:
        return []
    top = max(meds)
    ls = losses(ev)
    raw = ev.get("losses", [])
    nonfinite = any(x is None or (isinstance(x, float) and not math.isfinite(x)) for x in raw)
    of = ev.get("overfit") or {}
    ratio = of.get("ratio")
    if top < REL_UPDATE_HIGH:
        return []
    # oscillation: the loss goes up on many steps even though the batch is fixed
    ups = sum(1 for a, b in zip(ls, ls[1:]) if b > a)
    # only meaningful on a pinned batch: with fresh batches every step the loss wobbles by itself
    osc = bool(ev.get("pinned")) and len(ls) > 4 and ups / (len(ls) - 1) > 0.4
    rising = ratio is not None and ratio > LOSS_RISE
    if not (nonfinite or rising or (osc and not (ratio is not None and ratio < 0.5))):
        return []
    lrs = [g.get("lr") for g in (ev.get("steps") or [{}])[0].get("groups", [])]
    return [finding("lr-too-high", "error", 0.9 if (nonfinite or rising) else 0.7,
                    f"Each step changes the weights by {top:.2g} of their norm (a healthy ratio is ~1e-3) and the "
                    + ("loss blows up" if nonfinite else "loss rises" if rising else "loss oscillates")
                    + " on a single batch: lower the learning rate (try 10x smaller).",
                    median_rel_update=round(top, 6), guideline=1e-3, lr=lrs,
                    loss_ratio=ratio, nonfinite=nonfinite, up_steps=ups)]

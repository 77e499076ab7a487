"""lr-too-high: updates are a large fraction of the weights and the loss rises, oscillates or blows up."""

from __future__ import annotations

import math
from typing import Any

from traintriage.probe.detectors._common import finding, group_rel_updates, losses, median

# CS231n (Karpathy, "Neural Networks Part 3"): the update/weight ratio should be around 1e-3. Thirty
# times that, sustained, moves every weight by 3 % a step: fine for a few warm steps, not as a regime.
REL_UPDATE_HIGH = 3e-2
# A single step moving the weights by 10 % of their norm (100x the guideline) is a blow-up when the
# loss on the same batch spikes with it.
REL_UPDATE_PEAK = 0.1
# Loss on a fixed batch jumping to this multiple of its start is a divergence event, even if it recovers.
LOSS_SPIKE = 2.0
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
    peak = max(max(g) for g in group_rel_updates(ev) if g)
    ls = losses(ev)
    raw = ev.get("losses", [])
    nonfinite = any(x is None or (isinstance(x, float) and not math.isfinite(x)) for x in raw)
    of = ev.get("overfit") or {}
    ratio = of.get("ratio")
    spike = len(ls) > 2 and ls[0] > 0 and max(ls[1:]) >= LOSS_SPIKE * ls[0]
    if peak >= REL_UPDATE_PEAK and (spike or nonfinite):
        lrs = [g.get("lr") for g in (ev.get("steps") or [{}])[0].get("groups", [])]
        return [finding("lr-too-high", "error", 0.9,
                        f"A single step moved the weights by {peak:.2g} of their norm (a healthy ratio is ~1e-3) and "
                        + ("the loss turned non-finite" if nonfinite else
                           f"the loss jumped to {max(ls[1:]) / ls[0]:.3g}x its start")
                        + ": the learning rate is too high for this model (try 10x smaller, or warm up).",
                        peak_rel_update=round(peak, 6), median_rel_update=round(top, 6), guideline=1e-3, lr=lrs,
                        loss_spike=round(max(ls[1:]) / ls[0], 4) if len(ls) > 1 and ls[0] > 0 else None,
                        nonfinite=nonfinite)]
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

"""flat-loss: the training loss does not move at all."""

from __future__ import annotations

import numpy as np

from traintriage.logs.detectors.base import Context, Detection, ema, fmt, head, sym, tail

ID = "flat-loss"
SEVERITY = "error"
# refs/symptoms.md#flat-loss: "stays within a few percent of its first value for hundreds of steps".
FLAT_REL = 0.05
# Even the smoothed curve must not wander more than this (a loss that fell and came back is not flat).
FLAT_SPREAD = 0.10
# Fewer logged points than this cannot show "hundreds of steps" of nothing.
MIN_POINTS = 20


def detect(ctx: Context) -> list[Detection]:
    c = ctx.curve("train_loss")
    if c is None:
        return []
    c = c.clean()
    if len(c) < MIN_POINTS:
        return []
    v = c.values
    start, end = head(v), tail(v)
    scale = max(abs(start), 1e-8)
    s = ema(v, max(3, len(c) // 20))
    rel = abs(end - start) / scale
    spread = float(np.ptp(s[len(s) // 10 :])) / scale
    if rel >= FLAT_REL or spread >= FLAT_SPREAD:
        return []
    ev = {"start": start, "end": end, "relative_change": rel, "smoothed_spread": spread, "points": len(c),
          "steps": [int(c.steps[0]), int(c.steps[-1])]}
    extra = ""
    ur = ctx.curve("update_ratio")
    if ur is not None and len(ur):
        ev["update_ratio_median"] = float(np.nanmedian(ur.values))
        extra = f"; median relative update {fmt(ev['update_ratio_median'])}"
    lr = ctx.curve("lr")
    if lr is not None and len(lr) and np.nanmax(np.abs(lr.values)) == 0:
        ev["lr_max"] = 0.0
        extra += "; the logged LR is 0 throughout"
    msg = (f"{c.name} stays at {fmt(start)} -> {fmt(end)} ({rel:.1%} change) over steps "
           f"{c.steps[0]}..{c.steps[-1]} ({len(c)} points){extra}")
    return [Detection(sym(ID, c.name, c.steps[0], msg, ev), SEVERITY)]

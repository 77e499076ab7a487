"""overfitting: training loss keeps falling while validation loss rises."""

from __future__ import annotations

import numpy as np

from traintriage.logs.detectors.base import Context, Detection, fmt, sym

ID = "overfitting"
SEVERITY = "warning"
# Validation must end this far above its best, on the last two evaluations (one bad eval is noise).
VAL_RISE = 0.10
# ... while the training loss keeps improving past the step of the best validation loss.
TRAIN_STILL_FALLING = 0.02
MIN_EVALS = 4


def detect(ctx: Context) -> list[Detection]:
    tr, va = ctx.curve("train_loss"), ctx.curve("val_loss")
    if tr is None or va is None:
        return []
    tr, va = tr.clean(), va.clean()
    if len(va) < MIN_EVALS or len(tr) < 4:
        return []
    v = va.values
    b = int(np.argmin(v))
    best = float(v[b])
    if best <= 0 or b >= len(va) - 2:
        return []
    last2 = v[-2:]
    if not np.all(last2 > (1 + VAL_RISE / 2) * best) or v[-1] < (1 + VAL_RISE) * best:
        return []
    tr_at_best = float(np.interp(va.steps[b], tr.steps, tr.values))
    w = max(1, len(tr) // 20)
    tr_end = float(np.median(tr.values[-w:]))
    if tr_end > (1 - TRAIN_STILL_FALLING) * tr_at_best:
        return []
    ev = {"val_best": best, "val_best_step": int(va.steps[b]), "val_last": float(v[-1]), "train_at_val_best": tr_at_best,
          "train_last": tr_end, "gap_last": float(v[-1]) - tr_end, "evals": len(va)}
    msg = (f"{va.name} is best at step {va.steps[b]} ({fmt(best)}) and rises to {fmt(v[-1])} while {tr.name} "
           f"keeps falling ({fmt(tr_at_best)} -> {fmt(tr_end)})")
    return [Detection(sym(ID, va.name, va.steps[b], msg, ev), SEVERITY)]

"""metric-stuck: the loss moves but an accuracy metric does not."""

from __future__ import annotations

import numpy as np

from traintriage.logs.detectors.base import Context, Detection, fmt, head, sym, tail

ID = "metric-stuck"
SEVERITY = "warning"
# The loss must clearly move: at least this relative fall.
LOSS_FALL = 0.2
# ... while the metric's 10th..90th percentile range stays under this (absolute, for accuracies in [0, 1];
# AUTOTRAINER's "no epoch adds 0.01 to accuracy" is the same scale).
STUCK_RANGE = 0.01
MIN_POINTS = 5


def detect(ctx: Context) -> list[Detection]:
    loss = ctx.curve("train_loss")
    if loss is None or len(loss.clean()) < MIN_POINTS:
        return []
    lc = loss.clean()
    start, end = head(lc.values), tail(lc.values)
    if start <= 0 or (start - end) / start < LOSS_FALL:
        return []
    out = []
    for role in ("val_accuracy", "accuracy"):
        for m in ctx.curves(role):
            m = m.clean()
            if len(m) < MIN_POINTS:
                continue
            p10, p90 = np.percentile(m.values, [10, 90])
            scale = 1.0 if np.nanmax(np.abs(m.values)) <= 1.0 else max(abs(float(np.median(m.values))), 1e-12)
            if (p90 - p10) / scale >= STUCK_RANGE:
                continue
            ev = {"metric_p10": float(p10), "metric_p90": float(p90), "loss_start": start, "loss_end": end,
                  "points": len(m)}
            msg = (f"{m.name} stays at {fmt(np.median(m.values))} (10-90% range {fmt(p90 - p10)}) while {lc.name} falls "
                   f"{(start - end) / start:.0%} ({fmt(start)} -> {fmt(end)})")
            out.append(Detection(sym(ID, m.name, m.steps[0], msg, ev), SEVERITY))
    return out

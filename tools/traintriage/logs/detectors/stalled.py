"""stalled: training was progressing, then the weights stopped moving.

Read from the loss together with the update ratio or the LR (refs/symptoms.md#stalled): the loss flattens
mid-run while the relative update collapses, or the LR falls to ~0 long before the end.
"""

from __future__ import annotations

import numpy as np

from traintriage.logs.detectors.base import Context, Detection, fmt, head, sym
from traintriage.thresholds import REL_UPDATE_LOW

ID = "stalled"
SEVERITY = "warning"
# "the relative update collapses ... by one or more orders of magnitude (to under about 1e-5)".
COLLAPSE = 10.0
UPDATE_FLOOR = REL_UPDATE_LOW  # traintriage/thresholds.py, shared with the probe and the handbook
# An LR at or below this share of its peak counts as ~0; a schedule that gets there in the last
# END_SHARE of the run is an ordinary decay-to-zero, earlier is a stall.
LR_ZERO_SHARE, END_SHARE = 1e-3, 0.2
MIN_POINTS = 10


def detect(ctx: Context) -> list[Detection]:
    ur = ctx.curve("update_ratio")
    if ur is not None and len(ur.clean()) >= MIN_POINTS:
        u = ur.clean()
        early = head(u.values, 0.2)
        low = (u.values < early / COLLAPSE) & (u.values < UPDATE_FLOOR)
        idx = np.nonzero(low)[0]
        if early > 0 and idx.size and np.all(low[idx[0] :][-max(3, len(u) // 10) :]):
            i = int(idx[0])
            ev = {"update_ratio_early": early, "update_ratio_after": float(np.median(u.values[i:])),
                  "from_step": int(u.steps[i]), "points": len(u)}
            msg = (f"{u.name} collapses from {fmt(early)} to {fmt(ev['update_ratio_after'])} at step {u.steps[i]} "
                   "and stays there: the weights stopped moving")
            return [Detection(sym(ID, u.name, u.steps[i], msg, ev), SEVERITY)]
    lr = ctx.curve("lr")
    if lr is None or len(lr.clean()) < MIN_POINTS:
        return []
    c = lr.clean()
    peak = float(c.values.max())
    if peak <= 0:
        return []
    zero = c.values <= LR_ZERO_SHARE * peak
    after_peak = np.arange(len(c)) > int(np.argmax(c.values))
    idx = np.nonzero(zero & after_peak)[0]
    if not idx.size or not np.all(zero[idx[0] :]):
        return []
    i = int(idx[0])
    span = c.steps[-1] - c.steps[0]
    if span <= 0 or (c.steps[-1] - c.steps[i]) < END_SHARE * span:
        return []
    ev = {"lr_peak": peak, "lr_after": float(np.median(c.values[i:])), "from_step": int(c.steps[i]),
          "share_of_run_at_zero": float((c.steps[-1] - c.steps[i]) / span)}
    msg = (f"{c.name} falls to {fmt(ev['lr_after'])} (peak {fmt(peak)}) at step {c.steps[i]} and stays there for the "
           f"last {ev['share_of_run_at_zero']:.0%} of the run: nothing can move after that")
    return [Detection(sym(ID, c.name, c.steps[i], msg, ev), SEVERITY)]

"""lr-schedule-flat: the logged learning rate never changes (or is 0)."""

from __future__ import annotations

import numpy as np

from traintriage.logs.detectors.base import Context, Detection, finding, fmt, sym

ID = "lr-schedule-flat"
# A constant LR is often intended, so this is info; an LR of exactly 0 is an error (nothing can learn).
SEVERITY = "info"
MIN_POINTS = 10
# "constant": max and min agree to this relative precision (float32 logging noise is ~1e-7).
CONST_REL = 1e-6
# A trace that falls to this share of its peak within the first EARLY_SHARE of the run and stays there
# "jumps straight to its floor" (refs/symptoms.md#lr-schedule-flat).
FLOOR_SHARE, EARLY_SHARE = 0.01, 0.1


def detect(ctx: Context) -> list[Detection]:
    c = ctx.curve("lr")
    if c is None:
        return []
    c = c.clean()
    if len(c) < MIN_POINTS:
        return []
    v = c.values
    hi, lo = float(v.max()), float(v.min())
    span = [int(c.steps[0]), int(c.steps[-1])]
    if hi == 0 and lo == 0:
        ev = {"lr": 0.0, "points": len(c), "steps": span}
        msg = f"{c.name} is 0 at every one of {len(c)} logged steps ({span[0]}..{span[1]}): no update can happen"
        return [Detection(sym(ID, c.name, c.steps[0], msg, ev), "error",
                          [finding("scheduler-misuse", "error", 0.6, msg, ev)])]
    if hi - lo <= CONST_REL * abs(hi):
        ev = {"lr": hi, "points": len(c), "steps": span}
        msg = (f"{c.name} is constant at {fmt(hi)} over steps {span[0]}..{span[1]}; fine if intended, otherwise the "
               "scheduler is not being stepped")
        return [Detection(sym(ID, c.name, c.steps[0], msg, ev), SEVERITY)]
    k = max(1, int(EARLY_SHARE * len(c)))
    if np.all(v[k:] <= FLOOR_SHARE * hi) and len(v) - k >= MIN_POINTS:
        ev = {"peak": hi, "floor": float(np.median(v[k:])), "floor_from_step": int(c.steps[k]), "points": len(c)}
        msg = f"{c.name} drops from {fmt(hi)} to {fmt(ev['floor'])} by step {c.steps[k]} and stays at the floor"
        return [Detection(sym(ID, c.name, c.steps[k], msg, ev), "warning")]
    return []

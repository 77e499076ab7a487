"""gradscaler-collapse: the fp16 loss scale keeps shrinking toward 1."""

from __future__ import annotations

import numpy as np

from traintriage.logs.detectors.base import Context, Detection, finding, fmt, sym, tail

ID = "gradscaler-collapse"
SEVERITY = "error"
# GradScaler starts at 2**16 and halves on every overflow; a healthy run settles on a high plateau
# (2**13..2**16). Ending 2**10 below its peak, or at 1 or below, is the collapse (seed 003 O24;
# torch.amp.GradScaler docs: init_scale=65536, backoff_factor=0.5, growth_interval=2000).
DROP_FACTOR = 2.0**10
FLOOR = 1.0
MIN_POINTS = 5


def detect(ctx: Context) -> list[Detection]:
    c = ctx.curve("loss_scale")
    if c is None:
        return []
    c = c.clean()
    if len(c) < MIN_POINTS:
        return []
    v = c.values
    peak_i = int(np.argmax(v))
    peak, end = float(v[peak_i]), tail(v, 0.2)
    if not (end <= FLOOR or (peak > 0 and end <= peak / DROP_FACTOR)):
        return []
    mid = np.sqrt(max(peak, 1e-30) * max(end, 1e-30))
    below = np.nonzero(v[peak_i:] <= mid)[0]
    i = peak_i + (int(below[0]) if below.size else 0)
    halvings = int(np.sum(v[1:] < v[:-1]))
    ev = {"peak": peak, "peak_step": int(c.steps[peak_i]), "end": end, "drop": peak / max(end, 1e-30),
          "decreases": halvings, "points": len(c)}
    msg = (f"{c.name} falls from {fmt(peak)} (step {c.steps[peak_i]}) to {fmt(end)} ({halvings} decreases): "
           "fp16 overflows on most steps and those optimizer steps are skipped")
    return [Detection(sym(ID, c.name, c.steps[i], msg, ev), SEVERITY,
                      [finding("gradscaler-collapse", "error", 0.85, msg + "; switch to bf16 or find the overflowing op", ev)])]

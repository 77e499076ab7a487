"""param-norm-growth: the parameter norm grows fast and keeps accelerating."""

from __future__ import annotations

import numpy as np

from traintriage.logs.detectors.base import Context, Detection, fmt, head, sym, tail

ID = "param-norm-growth"
SEVERITY = "warning"
# Seed 002: "steady, sub-linear growth: healthy ... exponential / super-linear growth: weights growing fast,
# could mean you're diverging". We call it when the norm at least doubles AND the second half grows faster
# than the first (super-linear).
GROWTH = 2.0
ACCEL = 1.2
MIN_POINTS = 10


def detect(ctx: Context) -> list[Detection]:
    c = ctx.curve("param_norm")
    if c is None:
        return []
    c = c.clean()
    if len(c) < MIN_POINTS:
        return []
    v = c.values
    start, end = head(v), tail(v)
    mid = float(np.median(v[len(v) // 2 - 1 : len(v) // 2 + 2]))
    if start <= 0 or end < GROWTH * start:
        return []
    d1, d2 = mid - start, end - mid
    if d2 <= ACCEL * max(d1, 0):
        return []
    i = int(np.argmax(v > start * np.sqrt(GROWTH)))
    ev = {"start": start, "mid": mid, "end": end, "growth": end / start, "first_half_growth": d1,
          "second_half_growth": d2, "points": len(c)}
    msg = (f"{c.name} grows {end / start:.1f}x ({fmt(start)} -> {fmt(end)}) and accelerates (second half "
           f"+{fmt(d2)} vs first half +{fmt(d1)})")
    return [Detection(sym(ID, c.name, c.steps[i], msg, ev), SEVERITY)]

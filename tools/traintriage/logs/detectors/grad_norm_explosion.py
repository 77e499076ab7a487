"""grad-norm-explosion: the total gradient norm grows by orders of magnitude."""

from __future__ import annotations

import numpy as np

from traintriage.logs.detectors.base import Context, Detection, ema, finding, fmt, head, sym

ID = "grad-norm-explosion"
SEVERITY = "warning"
# refs/symptoms.md#grad-norm-explosion: "rising tenfold or more over a stretch of training".
GROWTH = 10.0
# "or jumping by orders of magnitude in single steps".
JUMP = 100.0
MIN_POINTS = 10


def detect(ctx: Context) -> list[Detection]:
    g = ctx.curve("grad_norm")
    if g is None or len(g) < MIN_POINTS:
        return []
    bad = ~np.isfinite(g.values)
    if bad.any():
        i = int(np.argmax(bad))
        ev = {"first_bad_step": int(g.steps[i]), "non_finite_points": int(bad.sum()), "points": len(g)}
        msg = f"{g.name} is {g.values[i]} at step {g.steps[i]} ({int(bad.sum())} non-finite points)"
        return [Detection(sym(ID, g.name, g.steps[i], msg, ev), "error",
                          [finding("exploding-gradients", "error", 0.7, msg, ev)])]
    v = g.values
    base = head(v)
    if base <= 0:
        return []
    s = ema(v, max(3, len(g) // 20))
    grown = np.nonzero(s > GROWTH * base)[0]
    jumps = np.nonzero(v[1:] > JUMP * np.maximum(v[:-1], 1e-12))[0] + 1
    if not grown.size and not jumps.size:
        return []
    i = int(grown[0]) if grown.size else int(jumps[0])
    if jumps.size and jumps[0] < i:
        i = int(jumps[0])
    ev = {"early_median": base, "max": float(v.max()), "max_over_early": float(v.max() / base),
          "start_step": int(g.steps[i]), "single_step_jumps": int(jumps.size), "points": len(g)}
    msg = (f"{g.name} grows from a median of {fmt(base)} early on to {fmt(v.max())} ({v.max() / base:.0f}x), "
           f"crossing {GROWTH:.0f}x at step {g.steps[i]}")
    return [Detection(sym(ID, g.name, g.steps[i], msg, ev), SEVERITY,
                      [finding("exploding-gradients", "warning", 0.6, msg, ev)])]

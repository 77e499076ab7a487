"""plateau: the loss falls, then levels off high."""

from __future__ import annotations

import numpy as np

from traintriage.logs.detectors.base import Context, Detection, ema, fmt, head, sym

ID = "plateau"
SEVERITY = "warning"
# refs/symptoms.md#plateau: "relative change under about 1% over a few hundred steps".
PLATEAU_REL = 0.01
# The flat stretch must cover at least this share of the run and this many points to be a plateau.
MIN_SHARE, MIN_FLAT_POINTS = 0.25, 10
# It must have fallen first (else it is flat-loss) ...
MIN_DROP = 0.10
# ... and level off "well above where it should end": heuristic, at half or more of the starting loss.
# A healthy classifier run usually ends far below half its initial loss; this keeps converged runs quiet.
HIGH_LEVEL = 0.5


def detect(ctx: Context) -> list[Detection]:
    c = ctx.curve("train_loss")
    if c is None:
        return []
    c = c.clean()
    if len(c) < 2 * MIN_FLAT_POINTS:
        return []
    v = c.values
    s = ema(v, max(5, len(c) // 10))
    start = head(v)
    if start <= 0:
        return []
    level = float(s[-1])
    # earliest i such that the smoothed curve from i to the end stays within PLATEAU_REL of the level
    ok = np.abs(s - level) <= PLATEAU_REL * max(abs(level), 1e-12)
    bad = np.nonzero(~ok)[0]
    i0 = int(bad[-1]) + 1 if bad.size else 0
    flat_n = len(c) - i0
    if flat_n < MIN_FLAT_POINTS or flat_n < MIN_SHARE * len(c):
        return []
    drop = (start - level) / start
    if drop < MIN_DROP or level < HIGH_LEVEL * start:
        return []
    ev = {"start": start, "level": level, "drop": drop, "plateau_from_step": int(c.steps[i0]),
          "plateau_points": flat_n, "points": len(c)}
    msg = (f"{c.name} fell {drop:.0%} (from {fmt(start)}) then levelled off at {fmt(level)} from step "
           f"{c.steps[i0]} ({flat_n} of {len(c)} points within {PLATEAU_REL:.0%})")
    return [Detection(sym(ID, c.name, c.steps[i0], msg, ev), SEVERITY)]

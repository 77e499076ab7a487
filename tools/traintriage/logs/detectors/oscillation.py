"""oscillation: the loss swings up and down without a downward trend."""

from __future__ import annotations

import numpy as np

from traintriage.logs.detectors.base import Context, Detection, fmt, head, sym, tail

ID = "oscillation"
SEVERITY = "warning"
MIN_POINTS = 30
# Swing size: the 10th..90th percentile range of the second half, relative to its median. Minibatch noise of
# a converging run is usually well under this; a saw-tooth from a too-high LR is not (heuristic).
SWING_REL = 0.5
# "without a downward trend": the second half improves by less than this.
MAX_TREND = 0.05


def detect(ctx: Context) -> list[Detection]:
    c = ctx.curve("train_loss")
    if c is None:
        return []
    c = c.clean()
    if len(c) < MIN_POINTS:
        return []
    half = c.values[len(c) // 2 :]
    med = float(np.median(half))
    if med <= 0:
        return []
    p10, p90 = np.percentile(half, [10, 90])
    swing = float(p90 - p10) / med
    trend = (head(half, 0.2) - tail(half, 0.2)) / med
    # The swing must go back and forth: measured around the best monotone curve through the points, a monotone
    # climb (a divergence: its own symptom) swings by nothing however far it climbs.
    r10, r90 = np.percentile(monotone_residual(half), [10, 90])
    back_and_forth = float(r90 - r10) / med
    if swing < SWING_REL or back_and_forth < SWING_REL or trend > MAX_TREND:
        return []
    flips = float(np.mean(np.diff(np.sign(np.diff(half))) != 0))
    i0 = len(c) // 2
    ev = {"swing_rel": swing, "swing_around_monotone_rel": back_and_forth, "p10": float(p10), "p90": float(p90), "median": med, "trend": trend,
          "direction_change_rate": flips, "points": len(c)}
    msg = (f"{c.name} swings between {fmt(p10)} and {fmt(p90)} (±{swing / 2:.0%} of its median {fmt(med)}) over "
           f"the second half with no downward trend ({trend:+.1%})")
    return [Detection(sym(ID, c.name, c.steps[i0], msg, ev), SEVERITY)]


def _isotonic(y: np.ndarray) -> np.ndarray:
    """The non-decreasing least-squares fit of y (pool adjacent violators; Barlow et al. 1972)."""
    vals: list[float] = []
    sizes: list[int] = []
    for v in y.tolist():
        vals.append(v)
        sizes.append(1)
        while len(vals) > 1 and vals[-2] > vals[-1]:
            n = sizes[-2] + sizes[-1]
            vals[-2] = (vals[-2] * sizes[-2] + vals[-1] * sizes[-1]) / n
            sizes[-2] = n
            vals.pop()
            sizes.pop()
    return np.repeat(np.array(vals), sizes)


def monotone_residual(y: np.ndarray) -> np.ndarray:
    """y minus the closer of its best non-decreasing and best non-increasing fit: what no monotone curve explains."""
    up = y - _isotonic(y)
    down = y + _isotonic(-y)
    return up if float(np.sum(up**2)) <= float(np.sum(down**2)) else down

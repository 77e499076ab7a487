"""loss-still-falling: training stopped while the loss was still falling about as fast as in the run's middle.

A run that converged bends: the loss falls fast early and its last stretch is nearly flat (an exponential approach
to a floor, or a power law, drops far less per step at the end than in the middle). A run stopped mid-descent has
not bent: its last fifth still falls at a rate comparable to the middle fifth's. The rate is the slope of a
least-squares line through each window (raw loss per step, so noise averages out), and the end's fall must stand
out of the noise (its slope several standard errors below zero) and be a real share of the loss, not a creep.

A schedule that decayed the LR to near zero ended as designed: a still-falling loss at the end of a cosine or linear
decay is the annealing at work, not a cut (the LR trace, when logged, decides). Stopping early is sometimes intended
(a budget, a smoke test), so this is a warning naming too-few-epochs (refs/catalogue/structure.md#too-few-epochs),
never an error.
"""

from __future__ import annotations

import numpy as np

from traintriage.logs.detectors.base import Context, Detection, finding, fmt, sym

ID = "loss-still-falling"
SEVERITY = "warning"  # stopping early can be intended: a risk, not a proven fault (refs/triage.md, severity)
# The windows compared: the last fifth of the logged points and the fifth centred on the middle (the catalogue's
# "last 20% of steps", refs/catalogue/structure.md#too-few-epochs).
WINDOW_SHARE = 0.2
# Fewer points than this per window give no slope worth reading (base.MIN_POINTS is the curve-wide floor).
MIN_WINDOW_POINTS = 6
# "Comparable": the end still falls at least at this share of the middle's rate. An exponential approach
# L = floor + A exp(-t/tau) stopped at T gives exp(-0.4 T/tau): 0.5 at T ~ 1.7 tau, where 18 % of the initial excess
# loss is still left; a run trained to 3 tau (5 % left) gives 0.3; a power law (t^-0.5) over 1000 steps 0.41 -> 0.1.
RATE_SHARE = 0.5
# The end's fall must stand out of the step-to-step noise: its slope this many standard errors below zero (a
# noisy plateau has |t| ~ 1; 3 is the usual three-sigma bar).
MIN_T = 3.0
# ... and be steep, not a creep: the fitted line loses at least this share of its level across the last fifth
# (twice the 1 % that refs/symptoms.md#plateau calls flat).
MIN_END_FALL = 0.02
# An LR at or below this share of its peak at the end: the schedule decayed (a step decay by 10x, a cosine or
# linear decay to ~0), so the run ended where its schedule says it should.
LR_DECAYED_SHARE = 0.1


def _fit(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """(slope, its standard error) of the least-squares line through (x, y)."""
    xc = x - x.mean()
    sxx = float((xc**2).sum())
    slope = float((xc * (y - y.mean())).sum() / sxx)
    res = y - y.mean() - slope * xc
    se = float(np.sqrt((res**2).sum() / max(1, len(x) - 2) / sxx))
    return slope, se


def detect(ctx: Context) -> list[Detection]:
    c = ctx.curve("train_loss")
    if c is None:
        return []
    c = c.clean()
    n = len(c)
    w = int(round(WINDOW_SHARE * n))
    if w < MIN_WINDOW_POINTS or len(np.unique(c.steps)) < n:
        return []
    x, v = c.steps.astype(np.float64), c.values
    mid = slice(n // 2 - w // 2, n // 2 - w // 2 + w)
    end = slice(n - w, n)
    s_mid, _ = _fit(x[mid], v[mid])
    s_end, se_end = _fit(x[end], v[end])
    level = float(s_end * (x[end][0] - x[end].mean()) + v[end].mean())  # the end line where it starts
    fall = -s_end * float(x[end][-1] - x[end][0])
    if s_mid >= 0 or s_end >= 0 or level <= 0 or s_end > RATE_SHARE * s_mid:
        return []
    if (se_end > 0 and s_end / se_end > -MIN_T) or fall < MIN_END_FALL * level:
        return []
    ev = {"end_slope": s_end, "mid_slope": s_mid, "rate_share": s_end / s_mid, "end_fall": fall,
          "end_fall_share": fall / level, "t": s_end / se_end if se_end > 0 else None,
          "end_from_step": int(c.steps[end][0]), "last_step": int(c.steps[-1]), "points": n}
    lr = ctx.curve("lr")
    lr_note = "the LR was not logged"
    if lr is not None and len(lr.clean()):
        lv = lr.clean().values
        peak, last = float(lv.max()), float(lv[-1])
        ev.update(lr_peak=peak, lr_last=last)
        if peak > 0 and last <= LR_DECAYED_SHARE * peak:
            return []  # the schedule decayed to its end: a still-falling loss there is the annealing
        lr_note = f"the LR ends at {fmt(last)}, {last / peak:.0%} of its peak" if peak > 0 else "the LR is 0"
    msg = (f"{c.name} is still falling when training stops: over the last {w} of {n} points (steps "
           f"{c.steps[end][0]}..{c.steps[-1]}) it falls {fmt(-s_end)} per step ({fall / level:.0%} of its level), "
           f"{s_end / s_mid:.0%} of the middle's rate ({fmt(-s_mid)} per step), with no plateau; {lr_note}")
    fmsg = (msg + ". Training stopped mid-descent: train longer, or size the schedule (warm-up, decay horizon) to "
            "the steps actually run; if stopping here was intended (a budget, a smoke test), ignore this.")
    return [Detection(sym(ID, c.name, c.steps[end][0], msg, ev), SEVERITY,
                      [finding("too-few-epochs", SEVERITY, 0.6, fmsg, ev)])]

"""update-ratio-low / update-ratio-high: relative update ||dW||/||W|| far from ~1e-3.

Reads a logged relative-update series, or update_norm / param_norm when both are logged (seed 002's
`relative_update_norm`). The effective-LR ratio (||U||/||G_clipped||), when logged with the LR, is reported
next to it: far above the LR means the optimizer amplifies gradients, far below means it damps them.
"""

from __future__ import annotations

import numpy as np

from traintriage.logs.detectors.base import Context, Curve, Detection, finding, fmt, sym
from traintriage.thresholds import REL_UPDATE_HIGH, REL_UPDATE_LOW

IDS = ("update-ratio-low", "update-ratio-high")
SEVERITY = "warning"
# The shared relative-update marks (traintriage/thresholds.py, stated in refs/diagnostic_metrics.md): a median
# above REL_UPDATE_HIGH is too large (was 1e-2 here while the probe used 3e-2; seed 002 itself says ">> 1e-2");
# below REL_UPDATE_LOW the weights barely move; exact zeros are an error.
HIGH = REL_UPDATE_HIGH
LOW = REL_UPDATE_LOW
# Skip this share of the run (warmup starts tiny on purpose).
WARMUP_SHARE = 0.1
MIN_POINTS = 5


def _ratio(ctx: Context) -> Curve | None:
    r = ctx.curve("update_ratio")
    if r is not None:
        return r.clean()
    u, p = ctx.curve("update_norm"), ctx.curve("param_norm")
    if u is None or p is None:
        return None
    common, iu, ip = np.intersect1d(u.steps, p.steps, return_indices=True)
    if not common.size:
        return None
    vals = u.values[iu] / np.maximum(p.values[ip], 1e-30)
    c = Curve(f"{u.name}/{p.name}", "update_ratio", common, vals)
    return c.clean()


def detect(ctx: Context) -> list[Detection]:
    r = _ratio(ctx)
    if r is None or len(r) < MIN_POINTS:
        return []
    v = r.values[int(WARMUP_SHARE * len(r)) :]
    med = float(np.median(v))
    zero_share = float(np.mean(v == 0))
    ev = {"median": med, "p10": float(np.percentile(v, 10)), "p90": float(np.percentile(v, 90)),
          "zero_share": zero_share, "points": len(r)}
    eff, lr = ctx.curve("effective_lr_ratio"), ctx.curve("lr")
    if eff is not None and lr is not None and len(eff.clean()) and len(lr.clean()):
        e, lr_c = eff.clean(), lr.clean()
        lr_at = np.interp(e.steps, lr_c.steps, lr_c.values)
        ok = lr_at > 0
        if ok.any():
            ev["effective_lr_over_lr"] = float(np.median(e.values[ok] / lr_at[ok]))
    if med > HIGH:
        msg = (f"{r.name} has a median of {fmt(med)} after warmup (healthy ~1e-3): each step moves the "
               f"weights by {med:.1%} of their size")
        return [Detection(sym("update-ratio-high", r.name, r.steps[0], msg, ev), SEVERITY,
                          [finding("lr-too-high", "warning", 0.6, msg, ev)])]
    if med < LOW:
        if zero_share > 0.5:
            msg = f"{r.name} is exactly 0 on {zero_share:.0%} of steps: the optimizer does not move these weights"
            return [Detection(sym("update-ratio-low", r.name, r.steps[0], msg, ev), "error",
                              [finding("params-not-in-optimizer", "warning", 0.5, msg, ev)])]
        msg = f"{r.name} has a median of {fmt(med)} after warmup (healthy ~1e-3): the weights barely move"
        return [Detection(sym("update-ratio-low", r.name, r.steps[0], msg, ev), SEVERITY,
                          [finding("lr-too-low", "warning", 0.5, msg, ev)])]
    return []

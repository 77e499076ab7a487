"""grad-clip-saturated: gradient clipping fires on most steps."""

from __future__ import annotations

import numpy as np

from traintriage.logs.detectors.base import Context, Detection, fmt, sym

ID = "grad-clip-saturated"
SEVERITY = "warning"
# refs/symptoms.md#grad-clip-saturated: "exceeds max_norm on more than about half of the steps after warmup".
SATURATED_SHARE = 0.5
# Skip this share of the run as warmup.
WARMUP_SHARE = 0.1
MIN_POINTS = 10
# Config keys writers use for the clip threshold (HF, Lightning, nanoGPT-style scripts).
CLIP_KEYS = ("max_grad_norm", "gradient_clip_val", "grad_clip", "clip_grad_norm", "max_norm", "clip_grad")


def detect(ctx: Context) -> list[Detection]:
    ratio = ctx.curve("grad_clip_ratio")
    if ratio is not None and len(ratio.clean()) >= MIN_POINTS:
        r = ratio.clean()
        v = r.values[int(WARMUP_SHARE * len(r)) :]
        share = float(np.mean(v > 1.0))
        if share > SATURATED_SHARE:
            ev = {"clipped_share": share, "median_ratio": float(np.median(v)), "points": len(r)}
            msg = f"{r.name} > 1 (clipping) on {share:.0%} of steps after warmup (median ratio {fmt(np.median(v))})"
            return [Detection(sym(ID, r.name, r.steps[0], msg, ev), SEVERITY)]
        return []
    g = ctx.curve("grad_norm")
    if g is None:
        return []
    g = g.clean()
    if len(g) < MIN_POINTS:
        return []
    v = g.values[int(WARMUP_SHARE * len(g)) :]
    clip = ctx.meta(*CLIP_KEYS)
    try:
        clip = float(clip) if clip is not None else None
    except (TypeError, ValueError):
        clip = None
    if clip and clip > 0:
        share = float(np.mean(v > clip))
        if share > SATURATED_SHARE:
            ev = {"clip": clip, "clipped_share": share, "median_grad_norm": float(np.median(v)), "points": len(g)}
            msg = (f"{g.name} exceeds the clip threshold {fmt(clip)} on {share:.0%} of steps after warmup "
                   f"(median {fmt(np.median(v))}): the clip, not the LR, sets the step size")
            return [Detection(sym(ID, g.name, g.steps[0], msg, ev), SEVERITY)]
        return []
    # No threshold known: a norm logged *after* clipping sits exactly at max_norm when clipping fires.
    top = float(v.max())
    pinned = float(np.mean(np.abs(v - top) <= 1e-6 * max(top, 1e-12)))
    varies = float(v.min()) < top * (1 - 1e-3)  # a constant series proves nothing about clipping
    if top > 0 and pinned > SATURATED_SHARE and varies:
        ev = {"pinned_value": top, "pinned_share": pinned, "points": len(g)}
        msg = (f"{g.name} sits exactly at {fmt(top)} on {pinned:.0%} of steps: it is logged after clipping and the "
               "clip fires almost every step")
        return [Detection(sym(ID, g.name, g.steps[0], msg, ev), SEVERITY)]
    return []

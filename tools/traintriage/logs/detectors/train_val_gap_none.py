"""train-val-gap-none: validation numbers equal training numbers at every evaluation."""

from __future__ import annotations

import numpy as np

from traintriage.logs.detectors.base import Context, Detection, fmt, sym

ID = "train-val-gap-none"
SEVERITY = "warning"
# "identical, or nearly": relative difference below this at every matched evaluation (float printing noise).
SAME_REL = 1e-4
MIN_MATCHED = 3


def detect(ctx: Context) -> list[Detection]:
    tr, va = ctx.curve("train_loss"), ctx.curve("val_loss")
    if tr is None or va is None:
        return []
    tr, va = tr.clean(), va.clean()
    common, it, iv = np.intersect1d(tr.steps, va.steps, return_indices=True)
    if common.size < MIN_MATCHED:
        return []
    a, b = tr.values[it], va.values[iv]
    rel = np.abs(a - b) / np.maximum(np.abs(a), 1e-12)
    if not np.all(rel < SAME_REL):
        return []
    ev = {"matched_evals": int(common.size), "max_rel_diff": float(rel.max()), "steps": [int(s) for s in common[:10]]}
    msg = (f"{va.name} equals {tr.name} at all {common.size} shared steps (max relative difference "
           f"{fmt(rel.max())}); validation is probably computed on the training data or code path")
    return [Detection(sym(ID, va.name, common[0], msg, ev), SEVERITY)]

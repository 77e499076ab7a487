"""nan-loss: the training (or validation) loss becomes NaN or inf."""

from __future__ import annotations

import numpy as np

from traintriage.logs.detectors.base import Context, Detection, finding, fmt, sym

ID = "nan-loss"
SEVERITY = "error"  # every step after a NaN loss is wasted; a NaN loss means NaN gradients


def detect(ctx: Context) -> list[Detection]:
    out = []
    for role in ("train_loss", "val_loss"):
        c = ctx.curve(role)
        if c is None:
            continue
        bad = ~np.isfinite(c.values)
        if not bad.any():
            continue
        i = int(np.argmax(bad))
        before = c.values[:i][np.isfinite(c.values[:i])]
        ev = {
            "first_bad_step": int(c.steps[i]), "first_bad_value": str(c.values[i]), "non_finite_points": int(bad.sum()),
            "points": len(c), "finite_after": int(np.isfinite(c.values[i:]).sum()),
            "last_finite_value": float(before[-1]) if before.size else None,
            "median_before": float(np.median(before)) if before.size else None,
        }
        spike = bool(before.size >= 3 and before[-1] > 3 * np.median(before))
        msg = (f"{c.name} is {c.values[i]} at step {c.steps[i]} ({int(bad.sum())} of {len(c)} points non-finite)"
               + (f"; it spiked to {fmt(before[-1])} (median {fmt(np.median(before))}) just before" if spike else ""))
        d = Detection(sym(ID, c.name, c.steps[i], msg, ev), SEVERITY)
        if role == "train_loss":
            d.findings.append(finding("non-finite-loss", "error", 0.9, msg, ev))
        out.append(d)
    return out

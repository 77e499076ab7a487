"""loss-spikes: isolated upward jumps in the loss that then recover."""

from __future__ import annotations

import numpy as np

from traintriage.logs.detectors.base import Context, Detection, fmt, sym, trailing_median
from traintriage.logs.spike_rule import MAD_TO_SIGMA, SPIKE_FACTOR, SPIKE_Z

ID = "loss-spikes"
SEVERITY = "warning"
# SPIKE_FACTOR, SPIKE_Z: logs/spike_rule.py (the downsampler keeps the points this rule flags).
MIN_POINTS = 20


def detect(ctx: Context) -> list[Detection]:
    c = ctx.curve("train_loss")
    if c is None:
        return []
    c = c.clean()
    if len(c) < MIN_POINTS:
        return []
    v = c.values
    w = int(min(max(5, len(c) // 50), 200))
    med = trailing_median(v, w)
    mad = trailing_median(np.abs(v - med), w) * MAD_TO_SIGMA + 1e-12
    is_spike = (v > SPIKE_FACTOR * np.maximum(med, 1e-12)) & ((v - med) / mad > SPIKE_Z) & (med > 0)
    is_spike[:w] = False  # the trailing window is not yet full
    idx = np.nonzero(is_spike)[0]
    if not idx.size:
        return []
    # only count a spike once per run of consecutive spiking points
    starts = idx[np.concatenate([[True], np.diff(idx) > 1])]
    ratio = v[idx] / med[idx]
    ev = {"count": int(starts.size), "steps": [int(c.steps[i]) for i in starts[:20]],
          "max_ratio_to_median": float(ratio.max()), "points": len(c)}
    msg = (f"{c.name} spikes {starts.size} time(s) to up to {fmt(ratio.max())}x its running median; first at "
           f"step {c.steps[starts[0]]} ({fmt(v[starts[0]])} vs median {fmt(med[starts[0]])})")
    return [Detection(sym(ID, c.name, c.steps[starts[0]], msg, ev), SEVERITY)]

"""vanishing-gradients: early layers get orders of magnitude less gradient than late ones."""

from __future__ import annotations

import math
from typing import Any

from traintriage.probe.detectors._common import finding, overfit_failed

# RMS gradient of the first weight matrix below 1e-3 of the last one's: the first layers effectively
# do not train (Glorot & Bengio 2010 show the decay with depth for saturating nets).
VANISH_RATIO = 1e-3


def _rms(p: dict[str, Any]) -> float | None:
    g, n = p.get("grad"), p.get("numel") or 0
    return g / math.sqrt(n) if g is not None and n else None


def detect(ev: dict[str, Any]) -> list:
    per = [s for s in ev.get("steps", []) if s.get("params")]
    if not per:
        return []
    rows = [p for p in per[0]["params"] if p.get("dim", 0) >= 2 and not p.get("orphan") and p.get("requires_grad")]
    if len(rows) < 3:
        return []
    first, last = _rms(rows[0]), _rms(rows[-1])
    if first is None or not last:
        return []
    ratio = first / last
    if ratio >= VANISH_RATIO:
        return []
    sev = "error" if overfit_failed(ev) else "warning"
    return [finding("vanishing-gradients", sev, 0.75 if sev == "error" else 0.45,
                    f"The first layer's gradient ({rows[0]['name']}, RMS {first:.2g}) is {ratio:.1e} of the last "
                    f"layer's ({rows[-1]['name']}, RMS {last:.2g}): the early layers barely learn. Use ReLU-family "
                    "activations, residual connections or normalisation, and a matching init.",
                    first_layer=rows[0]["name"], last_layer=rows[-1]["name"], first_rms_grad=first,
                    last_rms_grad=last, ratio=ratio, layers=len(rows))]

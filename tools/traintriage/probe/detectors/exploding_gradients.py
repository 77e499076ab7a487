"""exploding-gradients: the gradient norm is huge or grows by orders of magnitude within a few steps."""

from __future__ import annotations

from typing import Any

from traintriage.probe.detectors._common import finding

# Growth of the (pre-clipping) gradient norm over the probe that no healthy run shows on one batch.
GROWTH = 1e3
# Absolute pre-clipping norm that is explosive for any normally initialised model.
ABS_NORM = 1e4


def detect(ev: dict[str, Any]) -> list:
    gn = [s.get("grad_norm") for s in ev.get("steps", []) if s.get("n_backward")]
    vals = [g for g in gn if g is not None]
    nonfinite = any(g is None for g in gn)
    if not vals:
        return []
    first = next((g for g in vals if g > 0), None)
    peak = max(vals)
    growth = peak / first if first else None
    if not (nonfinite or peak > ABS_NORM or (growth is not None and growth > GROWTH)):
        return []
    clipped = any((s.get("grad_norm_at_step") or 0) < 0.9 * (s.get("grad_norm") or 0) for s in ev.get("steps", []))
    dynamic = growth is not None and growth > GROWTH  # grows during training, not just large at init
    from traintriage.probe.detectors.lr_too_high import REL_UPDATE_PEAK

    rels = [s.get("rel_update") or 0 for s in ev.get("steps", [])]
    lr_driven = bool(rels) and max(rels) >= REL_UPDATE_PEAK  # huge steps came first: lr-too-high's finding
    conf = 0.5 if lr_driven else (0.75 if dynamic or nonfinite else 0.6)
    return [finding("exploding-gradients", "error", conf,
                    f"The gradient norm (before clipping) reaches {peak:.3g}"
                    + (f", {growth:.2g}x its first value" if growth else "") + (" and turns non-finite" if nonfinite else "")
                    + ": clip gradients (clip_grad_norm_), lower the LR, or fix the init/normalisation.",
                    grad_norm_first=first, grad_norm_peak=peak, growth=growth, nonfinite=nonfinite,
                    clipping_seen=clipped)]

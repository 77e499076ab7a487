"""exploding-gradients: the gradient norm is huge or grows by orders of magnitude within a few steps.

The norm is read before clipping (right after backward). Two things decide the severity and the rank:
- Clipping that contains it. refs/catalogue/dynamics.md#exploding-gradients: clipping the global norm is the
  safety net (Pascanu et al. 2013). When the optimizer saw the clipped gradient, the applied steps stayed
  small, the loss stayed finite and the one-batch overfit passed, the pre-clip norm is worth knowing
  (warning) but the run is not broken by it.
- What came first (the catalogue's split from lr-too-high): a norm that is already at its peak at step 0,
  before any update, is the init/architecture; a norm that starts ordinary and grows only after steps
  moving the weights by >= lr_too_high.REL_UPDATE_PEAK is the LR's doing (lr-too-high ranks first).
"""

from __future__ import annotations

from typing import Any

from traintriage.probe.detectors._common import (
    REL_UPDATE_PEAK,
    finding,
    first_nonfinite_step,
    instability_before,
)

# Growth of the (pre-clipping) gradient norm over the probe that no healthy run shows on one batch.
GROWTH = 1e3
# Absolute pre-clipping norm that is explosive for any normally initialised model.
ABS_NORM = 1e4
# Pre-clip norm this many times above what the optimizer was handed counts as "clipping active" (PyTorch's
# clip_grad_norm_ scales by max_norm / (norm + 1e-6): any real clip shows up far below 0.9).
CLIP_SEEN = 0.9
# Growth above this, after a large step, means the norm was ordinary at first and the updates grew it.
LR_GROWTH = 10.0
# The one-batch overfit threshold (evidence.OVERFIT_PASS_FRACTION): the loss ended below half its start.
CONTAINED_RATIO = 0.5


def detect(ev: dict[str, Any]) -> list:
    steps = [s for s in ev.get("steps", []) if s.get("n_backward")]
    gn = [s.get("grad_norm") for s in steps]
    vals = [g for g in gn if g is not None]
    if not vals:
        return []
    any_nonfinite = any(g is None for g in gn)
    before = instability_before(ev, first_nonfinite_step(ev)) if any_nonfinite else None
    first = next((g for g in vals if g > 0), None)
    peak = max(vals)
    peak_i = next(i for i, g in enumerate(gn) if g == peak)
    growth = peak / first if first else None
    big = peak > ABS_NORM or (growth is not None and growth > GROWTH)
    # A NaN gradient is this detector's only when the gradient was large/growing into it; after calm steps it is
    # an operation's NaN (non-finite-loss), not an explosion (_common.instability_before).
    nonfinite = any_nonfinite and bool(before and before["unstable"])
    if not (nonfinite or big):
        return []

    rels = [s.get("rel_update") or 0.0 for s in steps]
    # the norm grew after updates that moved the weights by >= REL_UPDATE_PEAK: lr-too-high's finding first
    lr_driven = (growth is not None and growth >= LR_GROWTH and peak_i > 0
                 and max(rels[:peak_i], default=0.0) >= REL_UPDATE_PEAK)
    at_init = peak_i == 0  # the largest norm came before any update: init / architecture
    clip_steps = [s for s in steps if s.get("grad_norm") and s.get("grad_norm_at_step") is not None
                  and s["grad_norm_at_step"] < CLIP_SEEN * s["grad_norm"]]
    clipped = bool(clip_steps)
    peak_step = steps[peak_i]
    peak_clipped = (peak_step.get("grad_norm_at_step") is not None
                    and peak_step["grad_norm_at_step"] < CLIP_SEEN * peak)
    of = ev.get("overfit") or {}
    max_rel = max(rels, default=0.0)
    contained = (peak_clipped and not any_nonfinite and max_rel < REL_UPDATE_PEAK
                 and of.get("ratio") is not None and of["ratio"] <= CONTAINED_RATIO)
    applied = max((s.get("grad_norm_at_step") or 0.0) for s in steps)
    if contained:
        sev, conf = "warning", 0.4
    else:
        sev, conf = "error", 0.5 if lr_driven else (0.75 if (growth or 0) > GROWTH or nonfinite or at_init else 0.6)
    msg = (f"The gradient norm (before clipping) reaches {peak:.3g}"
           + (f", {growth:.2g}x its first value" if growth and growth > 1.5 else " at step 0, before any update"
              if at_init else "")
           + (" and turns non-finite" if nonfinite else ""))
    if contained:
        msg += (f"; clipping holds what the optimizer sees to {applied:.3g}, the applied steps stay small "
                f"(max relative update {max_rel:.2g}) and the loss falls, so the run trains. The cliffs are still "
                "there: keep the clip, and fix the init/normalisation (or the recurrent weights' scale).")
    else:
        msg += ": clip gradients (clip_grad_norm_), lower the LR, or fix the init/normalisation."
    return [finding("exploding-gradients", sev, conf, msg,
                    grad_norm_first=first, grad_norm_peak=peak, peak_step=peak_i, growth=growth, nonfinite=nonfinite,
                    clipping_seen=clipped, clipped_steps=len(clip_steps), applied_grad_norm_max=applied,
                    max_rel_update=round(max_rel, 6), loss_ratio=of.get("ratio"), contained_by_clipping=contained,
                    lr_driven=lr_driven, at_init=at_init, before_nonfinite=before,
                    thresholds={"abs_norm": ABS_NORM, "growth": GROWTH, "clip_seen": CLIP_SEEN})]

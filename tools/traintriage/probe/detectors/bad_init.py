"""bad-init: the loss at initialisation is far above chance, or activations explode/vanish with depth."""

from __future__ import annotations

from typing import Any

from traintriage.probe.detectors._common import finding, overfit_failed

# Karpathy's recipe: "verify loss @ init" — a classifier should start near -ln(1/C). Three times chance
# means confidently wrong logits at step 0 (huge final-layer weights or a bad bias).
INIT_OVER_CHANCE = 3.0
# Std of a linear/conv output growing or shrinking by 100x from the first such layer to the last at step 0
# (Glorot & Bengio 2010 / He et al. 2015: a good init keeps it roughly constant).
ACT_STD_RATIO = 1e2


def detect(ev: dict[str, Any]) -> list:
    out = []
    of = ev.get("overfit") or {}
    r = of.get("init_over_chance")
    from traintriage.probe.detectors.unnormalized_inputs import INPUT_SCALE, input_scale

    scaled_inputs = (input_scale(ev) or 0) >= INPUT_SCALE  # then the input scale explains the init loss
    if r is not None and r >= INIT_OVER_CHANCE and not scaled_inputs:
        out.append(finding("bad-init", "error" if overfit_failed(ev) or r >= 2 * INIT_OVER_CHANCE else "warning",
                           0.7, f"The loss at init is {of['initial']:.3g}, {r:.1f}x chance ({of['chance_expr']}="
                           f"{of['chance']:.3g}): the initial logits are large and confidently wrong. Scale the last "
                           "layer's init down (or zero it) so the model starts near uniform.",
                           initial_loss=of["initial"], chance=of["chance"], init_over_chance=r))
    acts = [a for a in ev.get("acts", []) if a.get("act") == "linear" and a.get("step") == 0 and a.get("std")]
    if len(acts) >= 3:
        ratio = acts[-1]["std"] / acts[0]["std"]
        if ratio > ACT_STD_RATIO or ratio < 1 / ACT_STD_RATIO:
            out.append(finding("bad-init", "error" if overfit_failed(ev) else "warning", 0.5,
                               f"Activation std goes from {acts[0]['std']:.3g} ({acts[0]['layer']}) to "
                               f"{acts[-1]['std']:.3g} ({acts[-1]['layer']}) across {len(acts)} layers at init: "
                               "the init does not preserve scale (use Kaiming/Xavier for the activation).",
                               first_layer=acts[0]["layer"], last_layer=acts[-1]["layer"], std_ratio=ratio,
                               stds={a["layer"]: a["std"] for a in acts[:12]}))
    return out[:1]

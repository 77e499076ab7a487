"""saturated-activations: tanh/sigmoid outputs pinned at their bounds, where the derivative is ~0."""

from __future__ import annotations

from typing import Any

from traintriage.probe.detectors._common import finding, overfit_failed

# SageMaker Debugger's saturated-activation rule: a layer is saturated when more than 50 % of its
# tanh/sigmoid outputs sit beyond 97.5 % of the range (activations.SATURATION_BOUND).
SATURATED_LAYER_FRACTION = 0.5


def detect(ev: dict[str, Any]) -> list:
    acts = [a for a in ev.get("acts", []) if a.get("act") in ("tanh", "sigmoid") and a.get("saturated_frac") is not None]
    if not acts:
        return []
    first = min(a["step"] for a in acts)
    layers = [a for a in acts if a["step"] == first and a["saturated_frac"] >= SATURATED_LAYER_FRACTION]
    if not layers:
        return []
    worst = max(layers, key=lambda a: a["saturated_frac"])
    sev = "error" if overfit_failed(ev) else "warning"
    return [finding("saturated-activations", sev, 0.75 if sev == "error" else 0.65,
                    f"{worst['saturated_frac']:.0%} of the {worst['act']} outputs of {worst['layer']} are within 2.5 % "
                    "of their bounds, where the slope is ~0: scale the inputs/init down or normalise before it.",
                    layers={a["layer"]: round(a["saturated_frac"], 4) for a in layers}, step=first)]

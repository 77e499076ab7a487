"""dead-relu: ReLU units that output zero for every sample of the batch."""

from __future__ import annotations

from typing import Any

from traintriage.probe.detectors._common import finding, overfit_failed

# SageMaker Debugger's DeadRelu rule flags a layer when more than 50 % of its ReLUs are inactive
# (threshold_layer=50.0).
DEAD_LAYER_FRACTION = 0.5
# Nearly the whole layer dead cuts the gradient path: an error on its own.
DEAD_LAYER_SEVERE = 0.9


def detect(ev: dict[str, Any]) -> list:
    acts = [a for a in ev.get("acts", []) if a.get("act") == "relu" and a.get("dead_frac") is not None]
    if not acts or (ev.get("overfit") or {}).get("nonfinite"):
        return []  # NaN activations compare as "not > 0": that is non-finite-loss's finding, not dead units
    last = max(a["step"] for a in acts)
    layers = [a for a in acts if a["step"] == last and a["dead_frac"] >= DEAD_LAYER_FRACTION and a.get("units", 0) >= 4]
    if not layers:
        return []
    worst = max(layers, key=lambda a: a["dead_frac"])
    sev = "error" if worst["dead_frac"] >= DEAD_LAYER_SEVERE or overfit_failed(ev) else "warning"
    return [finding("dead-relu", sev, 0.8 if sev == "error" else 0.5,
                    f"{worst['dead_frac']:.0%} of the units of {worst['layer']} output 0 for every sample (step "
                    f"{last}); dead units pass no gradient. Lower the LR, fix the init/bias, or use LeakyReLU/GELU.",
                    layers={a["layer"]: round(a["dead_frac"], 4) for a in layers}, step=last,
                    threshold=DEAD_LAYER_FRACTION)]

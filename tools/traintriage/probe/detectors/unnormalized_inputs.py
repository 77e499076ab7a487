"""unnormalized-inputs: the model's input features have a scale far from ~1 (e.g. raw 0-255 pixels)."""

from __future__ import annotations

from typing import Any

from traintriage.probe.detectors._common import finding, overfit_failed

# LeCun et al., "Efficient BackProp" (1998): inputs should have mean ~0 and comparable, ~unit variance.
# A mean or std above 10 (raw pixels: mean ~120, std ~70) is well outside that.
INPUT_SCALE = 10.0
# Loss at init this many times chance with such inputs: the scale already saturates the logits
# (bad_init.INIT_OVER_CHANCE, the same Karpathy "verify loss @ init" check).
INIT_HARM = 3.0


def input_scale(ev: dict[str, Any]) -> float | None:
    ins = [i for i in ev.get("inputs", []) if i.get("float") and i.get("std") is not None]
    if not ins:
        return None
    return max(abs(ins[0].get("mean") or 0), ins[0].get("std") or 0)


def detect(ev: dict[str, Any]) -> list:
    big = input_scale(ev)
    if big is None or big < INPUT_SCALE:
        return []
    i = next(i for i in ev.get("inputs", []) if i.get("float") and i.get("std") is not None)
    init_ratio = (ev.get("overfit") or {}).get("init_over_chance") or 0
    # measurable harm: the loss at init is far above chance (saturated logits) or the batch cannot be fit
    sev = "error" if overfit_failed(ev) or init_ratio >= INIT_HARM else "warning"
    return [finding("unnormalized-inputs", sev, 0.8 if sev == "error" else 0.5,
                    f"The model's input has mean {i['mean']:.3g}, std {i['std']:.3g}, max |x| {i['absmax']:.3g}: "
                    "standardise it (subtract the mean, divide by the std; /255 for pixels).",
                    mean=i["mean"], std=i["std"], absmax=i["absmax"], shape=i.get("shape"), threshold=INPUT_SCALE,
                    init_over_chance=init_ratio or None)]

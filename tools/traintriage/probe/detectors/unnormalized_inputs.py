"""unnormalized-inputs: the model's input features have a scale far from ~1 (e.g. raw 0-255 pixels)."""

from __future__ import annotations

from typing import Any

from traintriage.probe.detectors._common import finding, overfit_failed

# LeCun et al., "Efficient BackProp" (1998): inputs should have mean ~0 and comparable, ~unit variance.
# A mean or std above 10 (raw pixels: mean ~120, std ~70) is well outside that.
INPUT_SCALE = 10.0


def detect(ev: dict[str, Any]) -> list:
    ins = [i for i in ev.get("inputs", []) if i.get("float") and i.get("std") is not None]
    if not ins:
        return []
    i = ins[0]
    big = max(abs(i.get("mean") or 0), i.get("std") or 0)
    if big < INPUT_SCALE:
        return []
    sev = "error" if overfit_failed(ev) else "warning"
    return [finding("unnormalized-inputs", sev, 0.75 if sev == "error" else 0.5,
                    f"The model's input has mean {i['mean']:.3g}, std {i['std']:.3g}, max |x| {i['absmax']:.3g}: "
                    "standardise it (subtract the mean, divide by the std; /255 for pixels).",
                    mean=i["mean"], std=i["std"], absmax=i["absmax"], shape=i.get("shape"), threshold=INPUT_SCALE)]

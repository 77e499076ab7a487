"""sigmoid-bceloss: sigmoid outputs fed to BCEWithLogitsLoss (which applies its own sigmoid)."""

from __future__ import annotations

from typing import Any

from traintriage.probe.detectors._common import calls, finding


def detect(ev: dict[str, Any]) -> list:
    cs = calls(ev, "binary_cross_entropy_with_logits")
    hits = [c for c in cs if c.get("input_min") is not None and c["input_min"] >= 0 and (c.get("input_max") or 2) <= 1
            and c.get("input_max", 0) > c["input_min"]]
    if not hits or len(hits) < max(1, len(cs) * 2 // 3):
        return []
    c = hits[0]
    return [finding("sigmoid-bceloss", "error", 0.85,
                    f"binary_cross_entropy_with_logits got inputs all inside [0, 1] (min {c['input_min']:.3g}, max "
                    f"{c['input_max']:.3g}) in {len(hits)}/{len(cs)} calls: they are already probabilities, and a "
                    "second sigmoid squeezes them into [0.5, 0.73]. Pass logits (drop the sigmoid) or use BCELoss.",
                    calls=len(hits), input_min=c["input_min"], input_max=c["input_max"])]

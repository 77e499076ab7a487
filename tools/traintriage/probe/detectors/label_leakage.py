"""label-leakage: the target is one of the model's input columns (or a linear function of one)."""

from __future__ import annotations

from typing import Any

from traintriage.probe.detectors._common import finding


def detect(ev: dict[str, Any]) -> list:
    for c in ev.get("loss_calls", []):
        leak = c.get("leak")
        if leak:
            how = "equal to" if leak.get("equal") else f"correlated (r={leak['corr']:.4f}) with"
            return [finding("label-leakage", "error", 0.85,
                            f"The {c['fn']} target is {how} input column {leak['column']} of "
                            f"{leak['n_features']}: the model can read the answer. Drop the column from the features.",
                            column=leak["column"], corr=leak["corr"], equal=leak.get("equal"),
                            n_features=leak["n_features"])]
    return []

"""Curve detectors: one module per symptom (or symptom pair), listed in REGISTRY.

Adding one: a module with `ID`/`IDS`, `SEVERITY` and `detect(ctx) -> list[Detection]`; one line below;
one test with a synthetic curve that has the symptom and one that does not.
"""

from __future__ import annotations

import importlib
from types import ModuleType

_MODULES = [
    "nan_loss",
    "divergence",
    "flat_loss",
    "loss_at_chance",
    "plateau",
    "stalled",
    "spikes",
    "oscillation",
    "lr_warmup_spike",
    "lr_schedule_flat",
    "overfitting",
    "overtraining",
    "loss_still_falling",
    "train_val_gap_none",
    "metric_stuck",
    "grad_clip_saturated",
    "grad_norm_explosion",
    "gradscaler_collapse",
    "update_ratio",
    "param_norm_growth",
]


def registry() -> list[ModuleType]:
    return [importlib.import_module(f"traintriage.logs.detectors.{m}") for m in _MODULES]


def symptom_ids() -> list[str]:
    out: list[str] = []
    for m in registry():
        out += list(getattr(m, "IDS", None) or [m.ID])
    return out

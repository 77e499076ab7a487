"""Detectors: one module per cause id, each a pure `detect(evidence) -> list[Finding]`.

REGISTRY is the explicit list (Cockpit's import-list registry): adding a detector is one file, one line
here, one test, one eval case. `run_detectors` runs them all and turns a detector's own bug into a note,
never into a failed probe.
"""

from __future__ import annotations

import importlib
from typing import Any

from traintriage.report import Finding

REGISTRY = [
    "no_trainable_params",
    "params_not_in_optimizer",
    "loss_detached",
    "step_order",
    "missing_zero_grad",
    "wrong_train_eval_mode",
    "non_finite_loss",
    "lr_too_high",
    "lr_too_low",
    "adam_coupled_weight_decay",
    "decay_on_norm_and_bias",
    "scheduler_misuse",
    "grad_accum_not_scaled",
    "double_softmax",
    "sigmoid_bceloss",
    "nll_without_log_softmax",
    "ce_target_form",
    "wrong_loss_formula",
    "padding_in_loss",
    "frozen_param_in_optimizer",
    "frozen_bn_stats_drift",
    "dead_relu",
    "saturated_activations",
    "vanishing_gradients",
    "exploding_gradients",
    "module_gradient_outlier",
    "bad_init",
    "unnormalized_inputs",
    "unnormalized_targets",
    "label_leakage",
    "stale_batch",
    "class_imbalance_collapse",
]


def detector_ids() -> list[str]:
    """The catalogue id each registered detector emits (module name with '_' -> '-')."""
    return [m.replace("_", "-") for m in REGISTRY]


def run_detectors(ev: dict[str, Any]) -> tuple[list[Finding], list[str]]:
    findings: list[Finding] = []
    notes: list[str] = []
    for name in REGISTRY:
        try:
            mod = importlib.import_module(f"traintriage.probe.detectors.{name}")
            findings += mod.detect(ev)
        except Exception as e:  # noqa: BLE001 - a detector's bug must not sink the probe
            notes.append(f"detector {name} failed: {type(e).__name__}: {e}")
    return findings, notes

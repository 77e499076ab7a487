"""The probe's checks: one module per cause id, holding both halves of the check.

* judging, in the parent: a pure `detect(evidence) -> list[Finding]`;
* recording, in the child (optional): a `Recording` class (probe/check.py: `Check`) whose event methods say
  what it records during the run; a check that only reads the core's shared records (the step record, the
  loss calls, ...) has none.

REGISTRY is the explicit list (Cockpit's import-list registry): adding a check is one file, one line here,
one test, one eval case. SHARED lists the recordings several checks read, which no single check owns.
`run_detectors` runs the judging halves and turns a detector's own bug into a note, never into a failed probe.
A check can be turned off by id (`only` / `skip`, see `selected`): it then records nothing of its own and
judges nothing; the core's and the shared recordings still run.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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
    "spectral_norm_uninitialized",
    "attention_mask_inverted",
    "attention_softmax_wrong_axis",
    "positional_encoding_unused",
    "dropout_too_high",
    # distributed: compare the ranks of a torchrun probe (probe/ddp_record.py, probe/ranks.py)
    "replicas_out_of_sync",
    "grad_allreduce_not_averaged",
    "no_sync_never_synced",
    "sampler_epoch_not_set",
    "unused_branch_untrained",
]


# Recordings several checks read (module, class); they run whatever `only` / `skip` say.
SHARED = [
    ("traintriage.probe.activations", "Activations"),  # act records: dead-relu, saturated-activations, bad-init
    ("traintriage.probe.ddp_record", "Distributed"),  # ddp + sampler records: the distributed checks
]


class UnknownCheckError(ValueError):
    """only / skip named an id that is no registered check."""


def selected(only: Any = None, skip: Any = None) -> list[str]:
    """The REGISTRY modules left on by `only` (keep just these ids) and `skip` (drop these ids).

    Ids are catalogue ids ('stale-batch') or module names ('stale_batch'); an unknown id raises
    UnknownCheckError naming the known ones."""
    known = {m.replace("_", "-"): m for m in REGISTRY}

    def norm(ids: Any) -> set[str]:
        out = {str(i).strip().replace("_", "-") for i in (ids or []) if str(i).strip()}
        bad = sorted(out - set(known))
        if bad:
            raise UnknownCheckError(f"unknown check id(s) {', '.join(bad)}; known: {', '.join(sorted(known))}")
        return out

    keep, drop = norm(only), norm(skip)
    return [m for i, m in known.items() if (not keep or i in keep) and i not in drop]


def checks_config(only: Any = None, skip: Any = None) -> dict[str, Any]:
    """The child config's `checks` entry (probe.runner's `extra`) for only / skip; {} when all are on."""
    if not only and not skip:
        return {}
    on = selected(only, skip)
    return {"checks": {"on": on, "off": [m.replace("_", "-") for m in REGISTRY if m not in on]}}


def recordings(cfg: dict[str, Any]) -> list[Any]:
    """In the child: one instance of every recording to run, shared ones first, then the checks' own in
    registry order (cfg: the config's `checks` entry; empty = every check on)."""
    on = cfg.get("on") if cfg else None
    out = [getattr(importlib.import_module(m), cls)() for m, cls in SHARED]
    for name in REGISTRY if on is None else [m for m in REGISTRY if m in on]:
        rec = getattr(importlib.import_module(f"traintriage.probe.detectors.{name}"), "Recording", None)
        if rec is not None:
            out.append(rec())
    return out


def detector_ids() -> list[str]:
    """The catalogue id each registered detector emits (module name with '_' -> '-')."""
    return [m.replace("_", "-") for m in REGISTRY]


def run_detectors(ev: dict[str, Any]) -> tuple[list[Finding], list[str]]:
    findings: list[Finding] = []
    notes: list[str] = []
    off = set(ev.get("checks_off") or [])
    for name in REGISTRY:
        if name.replace("_", "-") in off:
            continue
        try:
            mod = importlib.import_module(f"traintriage.probe.detectors.{name}")
            findings += mod.detect(ev)
        except Exception as e:  # noqa: BLE001 - a detector's bug must not sink the probe
            notes.append(f"detector {name} failed: {type(e).__name__}: {e}")
    return findings, notes

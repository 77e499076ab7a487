"""frozen-bn-stats-drift: BatchNorm layers that no optimizer trains keep rewriting their running statistics.

The harness checks, at every optimizer step, each BatchNorm layer of a model the optimizer trains: are its
affine parameters out of training (requires_grad=False, or in no param group) while the layer is in training
mode? Such a layer normalises with the current batch's statistics and overwrites running_mean/running_var
on every forward, although its weights are frozen. Its statistics are snapshot the first step that is seen
and compared at the end (evidence.bn.layers: drift / var_drift relative change, updates = forwards counted).
A frozen layer kept in eval mode (the fix) never enters the count; a teacher / EMA copy no optimizer trains
is skipped by the harness.
"""

from __future__ import annotations

from typing import Any

from traintriage.probe.detectors._common import finding

# Relative change of running_mean or running_var since the first step the frozen layer was seen in training mode,
# above which the statistics are clearly being rewritten. With PyTorch's default momentum 0.1 each train-mode
# forward moves them 10 % of the way to the batch's statistics (torch.nn.BatchNorm1d docs), so a few steps on
# fine-tuning batches move them by far more than 1 %; a frozen layer in eval mode moves them by exactly 0.
DRIFT = 1e-2


def _moved(r: dict[str, Any]) -> float:
    return max(r.get("drift") or 0.0, r.get("var_drift") or 0.0)


def detect(ev: dict[str, Any]) -> list:
    bn = ev.get("bn") or {}
    layers = bn.get("layers", [])
    drifting = [r for r in layers if r.get("frozen_affine") and r.get("training") and _moved(r) > DRIFT]
    if not drifting:
        return []
    frozen = [r for r in layers if r.get("frozen_affine")]
    worst = max(drifting, key=_moved)
    train_steps = [r["steps_frozen_train"] for r in drifting if r.get("steps_frozen_train") is not None]
    return [finding("frozen-bn-stats-drift", "error", 0.8,
                    f"{len(drifting)} BatchNorm layer(s) have frozen weights (no optimizer trains them) but ran in "
                    f"train mode{f' on {max(train_steps)} optimizer steps' if train_steps else ''}, so every forward "
                    f"rewrote their running statistics (running_mean moved {worst.get('drift') or 0:.2g}, running_var "
                    f"{worst.get('var_drift') or 0:.2g} relative, in {worst['name']}): the frozen backbone is not "
                    "frozen. Put those layers in eval() after every model.train().",
                    layers=[r["name"] for r in drifting][:10], n_frozen_bn=len(frozen), n_drifting=len(drifting),
                    max_drift=worst.get("drift"), max_var_drift=worst.get("var_drift"),
                    steps_frozen_train=max(train_steps) if train_steps else None,
                    updates=worst.get("updates"), momentum=worst.get("momentum"), threshold=DRIFT)]

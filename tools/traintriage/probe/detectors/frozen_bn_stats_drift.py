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

import weakref
from typing import Any

from traintriage.probe.check import Check, _finite, _tolist
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


# ---------------------------------------------------------------- recording (in the probe's child)
class Recording(Check):
    """At each optimizer step: the BatchNorm layers of trained models whose affine parameters no optimizer
    trains, and whether they run in training mode; at the end, how far their running statistics moved (`bn`)."""

    id = "frozen-bn-stats-drift"

    def __init__(self) -> None:
        self.bn_state: list[dict[str, Any]] = []  # BatchNorm layers of the roots, frozen/train-mode per step
        self.bn_roots_seen = 0

    def step_pre(self, core: Any, opt: Any, held: set[int]) -> None:
        """At each optimizer step: the BatchNorm layers whose affine parameters no optimizer trains (they do not
        require grad, or no param group holds them) inside a model whose other parameters are trained, and
        whether they are in training mode, where every forward rewrites their running statistics. Their
        statistics are snapshot the first step that is seen; finish compares them at the end."""
        import torch.nn as nn

        if len(core.root_order) != self.bn_roots_seen:
            self.bn_roots_seen = len(core.root_order)
            known = {id(r["ref"]()): r for r in self.bn_state}
            for rid in core.root_order:
                m = core.roots[rid]()
                for sub in m.modules() if m is not None else []:
                    if not isinstance(sub, nn.modules.batchnorm._BatchNorm) or sub.running_mean is None \
                            or sub.running_var is None:
                        continue
                    if id(sub) not in known:
                        known[id(sub)] = {"ref": weakref.ref(sub), "roots": [], "steps_frozen": 0,
                                          "steps_frozen_train": 0, "snap": None}
                        self.bn_state.append(known[id(sub)])
                    if rid not in known[id(sub)]["roots"]:
                        known[id(sub)]["roots"].append(rid)  # a backbone called alone, then inside the full model
        if not self.bn_state:
            return
        trained_root: dict[int, bool] = {}
        for r in self.bn_state:
            m = r["ref"]()
            affine = [p for p in (getattr(m, "weight", None), getattr(m, "bias", None)) if p is not None] \
                if m is not None else []
            if not affine or any(p.requires_grad and id(p) in held for p in affine):
                continue
            for rid in r["roots"]:
                if rid not in trained_root:
                    root = core.roots[rid]()
                    trained_root[rid] = root is not None and any(p.requires_grad and id(p) in held
                                                                 for p in root.parameters())
            if not any(trained_root[rid] for rid in r["roots"]):
                continue  # a teacher / EMA copy nobody trains: its mode is its own business
            r["steps_frozen"] += 1
            if m.training:
                r["steps_frozen_train"] += 1
                if r["snap"] is None:
                    nbt = m.num_batches_tracked
                    r["snap"] = (m.running_mean.detach().clone(), m.running_var.detach().clone(),
                                 int(nbt) if nbt is not None else None)

    def finish(self, core: Any) -> None:
        import torch

        rows = []
        for r in self.bn_state:
            m = r["ref"]()
            if m is None:
                continue
            row: dict[str, Any] = {"name": core.mod_names.get(id(m), type(m).__name__),
                                   "frozen_affine": r["steps_frozen"] > 0,
                                   "training": (r["steps_frozen_train"] > 0) if r["steps_frozen"] else bool(m.training),
                                   "steps_frozen": r["steps_frozen"], "steps_frozen_train": r["steps_frozen_train"],
                                   "momentum": m.momentum, "drift": None}
            if r["snap"] is not None:
                mean0, var0, nbt0 = r["snap"]
                with torch.no_grad():
                    d = _tolist([(m.running_mean.float() - mean0.float()).norm() / (mean0.float().norm() + 1e-8),
                                 (m.running_var.float() - var0.float()).norm() / (var0.float().norm() + 1e-8)])
                row.update(drift=_finite(d[0]), var_drift=_finite(d[1]))
                if nbt0 is not None and m.num_batches_tracked is not None:
                    row["updates"] = int(m.num_batches_tracked) - nbt0
            rows.append(row)
        rows.sort(key=lambda x: (not x["frozen_affine"], -(x.get("drift") or 0.0)))
        if rows:
            core.emit("bn", layers=rows[:50], n=len(rows), n_frozen=sum(1 for x in rows if x["frozen_affine"]))

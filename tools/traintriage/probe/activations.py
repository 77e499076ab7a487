"""Activation statistics (a shared recording: dead-relu, saturated-activations and bad-init read its `act`
records): on sampled steps, each ReLU's dead units, each tanh/sigmoid's saturated share, each Linear/Conv
output's spread. One record per layer per sampled step; the statistics are reduced on a bounded sample.
"""

from __future__ import annotations

from typing import Any

from traintriage.probe.check import STAT_MAX_ELEMS, Check, _finite, _is_tensor, _tolist

# Values this close to a saturating activation's bound count as saturated: SageMaker Debugger's
# tanh/sigmoid saturation rule uses 97.5 % of the range as its default bound.
SATURATION_BOUND = 0.975


class Activations(Check):
    id = "activations"
    forward_scope = "sampled"

    def __init__(self) -> None:
        self.seen: set[str] = set()  # layer:step keys already recorded

    def forward(self, core: Any, module: Any, args: Any, out: Any) -> None:
        if core.sampling and _is_tensor(out):
            self._stats(core, module, out)

    def _stats(self, core: Any, module: Any, out: Any) -> None:
        import torch
        import torch.nn as nn

        kind = None
        if isinstance(module, (nn.ReLU, nn.ReLU6, nn.LeakyReLU)):
            kind = "relu"
        elif isinstance(module, (nn.Tanh, nn.Hardtanh)):
            kind = "tanh"
        elif isinstance(module, nn.Sigmoid):
            kind = "sigmoid"
        elif isinstance(module, (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)):
            kind = "linear"
        if kind is None or out.numel() == 0 or not out.is_floating_point():
            return
        name = core.mod_names.get(id(module)) or f"{type(module).__name__}@{id(module):x}"
        key = f"{name}:{core.n_steps}"
        if key in self.seen:
            return
        with torch.no_grad():
            o = out.detach()
            if kind == "relu":
                # a unit is dead on this batch when it is <= 0 for every sample (dim 0 = batch)
                units = o.reshape(o.shape[0], -1) if o.dim() > 1 else o.reshape(1, -1)
                if o.dim() >= 3:  # conv maps: a channel is dead when all positions in all samples are off
                    units = o.transpose(0, 1).reshape(o.shape[1], -1).t()
                dead = (units > 0).sum(0) == 0
                vals = _tolist([dead.float().mean(), (o > 0).float().mean()])
                stat = {"dead_frac": vals[0], "active_frac": vals[1], "units": int(units.shape[1])}
            elif kind in ("tanh", "sigmoid"):
                f = o.float()
                if kind == "tanh":
                    sat = (f.abs() > SATURATION_BOUND).float().mean()
                else:
                    sat = ((f > SATURATION_BOUND) | (f < 1 - SATURATION_BOUND)).float().mean()
                stat = {"saturated_frac": _tolist([sat])[0]}
            else:
                f = o.float().reshape(-1)[:STAT_MAX_ELEMS]
                vals = _tolist([f.std() if f.numel() > 1 else f.abs().mean(), f.abs().mean()])
                stat = {"std": _finite(vals[0]), "absmean": _finite(vals[1])}
        self.seen.add(key)
        core.emit("act", step=core.n_steps, layer=name, cls=type(module).__name__, act=kind, **stat)


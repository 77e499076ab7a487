"""What every probe check is built on: the `Check` base class (the events a check can subscribe to) and the
small tensor helpers the recording code shares.

A check records by overriding the event methods it cares about; the core (probe/core.py) calls only the
methods a check overrides, so an event nobody subscribes to costs nothing. Every method gets the core
(`core`: the shared per-step context: `n_steps`, `sampling`, `last_input`, `roots`, `opts`, `loaders`,
`mod_names`, `name(p)`, `emit(kind, **record)`) and must never raise into the user's script: measurement
errors go into the check's own record (or the core turns them into a `harness-error` record).
"""

from __future__ import annotations

import math
from typing import Any

# How many calls of each loss function get full input/target statistics (and the checks' loss-call measurements);
# later calls only on sampled steps.
LOSS_CALLS_SAMPLED = 3
# At most this many elements go into a statistics reduction for one tensor (a cheap, bounded sample).
STAT_MAX_ELEMS = 1 << 20


def _strong(obj: Any) -> Any:
    """A callable returning obj, used where a weakref would die with the script's locals."""
    return lambda: obj


def _loss_cls() -> type:
    import torch.nn as nn

    return nn.modules.loss._Loss


class StopProbe(BaseException):
    """Raised from the optimizer step post-hook after N steps; a BaseException so `except Exception`
    in the user's script cannot swallow it."""


def _is_tensor(x: Any) -> bool:
    import torch

    return isinstance(x, torch.Tensor)


def _first_tensor(obj: Any, depth: int = 0) -> Any:
    import torch

    if isinstance(obj, torch.Tensor):
        return obj
    if depth > 3:
        return None
    if isinstance(obj, (list, tuple)):
        for o in obj:
            t = _first_tensor(o, depth + 1)
            if t is not None:
                return t
    if isinstance(obj, dict):
        for o in obj.values():
            t = _first_tensor(o, depth + 1)
            if t is not None:
                return t
    return None


def _tolist(ts: list) -> list[float]:
    """One sync for a list of tensors (0-d values, or 1-d vectors of values such as stacked norms), flattened in
    order; per element when they sit on several devices."""
    import torch

    if not ts:
        return []
    try:
        return torch.cat([t.reshape(-1).float() for t in ts]).tolist()
    except RuntimeError:  # tensors on several devices: one sync each
        return [float(x) for t in ts for x in t.reshape(-1)]


def _stack_float(ts: list) -> Any:
    """A list of 0-d tensors (norms from torch._foreach_norm) as one float32 vector, without a Python call per
    element; per element where they sit on several devices (the caller then gets a list)."""
    import torch

    try:
        return torch.stack(ts).float()
    except RuntimeError:
        return torch.stack([t.float().cpu() for t in ts])


def _finite(x: float) -> float | None:
    return x if math.isfinite(x) else None



def _plain(v: Any) -> Any:
    """JSON-friendly view of an optimizer/scheduler setting; None for things we don't report."""
    if isinstance(v, bool) or v is None:
        return v
    if isinstance(v, (int, float, str)):
        return v if not isinstance(v, float) or math.isfinite(v) else str(v)
    if isinstance(v, (list, tuple)) and len(v) <= 16 and all(isinstance(x, (int, float, bool, str)) for x in v):
        return list(v)
    if _is_tensor(v) and v.numel() == 1:
        return float(v)
    return None


def _json_default(o: Any) -> Any:
    if _is_tensor(o) and o.numel() == 1:
        return float(o)
    return repr(o)



class Check:
    """One runtime check's recording half. Subclasses set `id` (the catalogue id of the detector in the same
    module, or a name for a shared recording) and override any of the events below."""

    id = ""
    # Which module forwards `forward` is called for: "all", "roots" (top-level ones only, core.depth == 0) or
    # "sampled" (any module, on sampled steps only). A check that ignores the others says so, and the core
    # skips calling it for every inner module of every step (a 600-module model's forwards cost that much).
    forward_scope = "all"

    def wants_inner(self, core: Any, top: Any) -> bool:
        """For a check with forward_scope "all": whether it needs the inner module forwards of the top-level
        forward of `top` that is starting (asked once per top-level forward, core.depth == 0). A check that
        watches only some modules (an nn.Embedding, a spectral-normalized layer) or only until it has seen
        enough says no where it would ignore them, and the core does not call it for that forward's modules
        (its own forward at depth 0 is still called)."""
        return True

    def child_install(self, core: Any) -> None:
        """Once in the probe's child, before the script runs: patch a torch function only this check watches.
        Not an event (never called elsewhere), so constructing a check in the parent patches nothing."""

    def root_forward(self, core: Any, module: Any) -> None:
        """A top-level forward (no model forward above it) of a module with parameters is about to run."""

    def forward(self, core: Any, module: Any, args: Any, out: Any) -> None:
        """Any module's forward returned `out` (core.depth is 0 for a top-level one)."""

    def model_input(self, core: Any, module: Any, x: Any, step: int) -> dict[str, Any]:
        """The model's first input tensor on a recorded step: fields to add to its `input` record."""
        return {}

    def loss(self, core: Any, fn: str, call: int, inp: Any, target: Any, rec: dict[str, Any]) -> None:
        """A loss function ran (`call`: its index per function); add fields to its `loss` record `rec`, which
        already holds the loss-input statistics (probe/loss_stats.py)."""

    def backward_pre(self, core: Any, loss: Any) -> None:
        """torch.autograd.backward is about to run on the scalar tensor `loss` (its graph is alive)."""

    def backward(self, core: Any) -> None:
        """A backward pass finished (gradients are in param.grad)."""

    def optimizer_added(self, core: Any, opt: Any) -> None:
        """An optimizer stepped for the first time (which parameters are trained may have changed)."""

    def step_pre(self, core: Any, opt: Any, held: set[int]) -> None:
        """An optimizer is about to step; `held`: ids of the parameters any optimizer holds."""

    def primary_step(self, core: Any) -> None:
        """The primary optimizer (the first to step) stepped; core.n_steps is the step that just ended."""

    def finish(self, core: Any) -> None:
        """The script ended (or was stopped): emit what was kept for the end."""

    # the events, in the order the core looks them up
    EVENTS = ("root_forward", "forward", "model_input", "loss", "backward_pre", "backward", "optimizer_added",
              "step_pre", "primary_step", "finish")

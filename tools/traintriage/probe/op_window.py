"""Watching the torch calls inside a few top-level forwards: the base of checks that judge how attention is
computed (which mask, which softmax axis), whatever writes it: `nn.MultiheadAttention` (through
`F.multi_head_attention_forward`), `F.scaled_dot_product_attention`, or hand-written `softmax(q @ k^T)`.

A `torch.overrides.TorchFunctionMode` sees every torch function and tensor method called while it is active,
with its arguments (PyTorch docs, "Extending torch.func with autograd.Function" / `__torch_function__`
overrides); it is pushed when a model's top-level forward starts and popped when that forward returns, on the
first optimizer steps only, so the rest of the run pays nothing. The mode is off while a call it sees runs, so
a library function (`F.multi_head_attention_forward`) is one call, its inner ops unseen. A subclass overrides `op(core, name, args,
kwargs, out)`; its errors are kept out of the user's forward.
"""

from __future__ import annotations

from typing import Any

from traintriage.probe.check import Check

# Optimizer steps whose top-level forwards are watched, and the watched forwards at most: the structure of a
# model's attention does not change between steps, and every op of a watched forward pays a Python call.
WINDOW_STEPS = 2
WINDOW_FORWARDS = 4


class OpWindow(Check):
    """Calls `self.op` for every torch call inside the first top-level forwards (see the module doc)."""

    forward_scope = "roots"  # `forward` only closes the window when the top-level forward returns

    def __init__(self) -> None:
        self.mode: Any = None
        self.watched = 0
        self.errors = 0

    def root_forward(self, core: Any, module: Any) -> None:
        if self.mode is not None:  # the last watched forward raised (the script caught it): stop watching it
            self._close(core)
        if self.watched >= WINDOW_FORWARDS or core.n_steps >= WINDOW_STEPS or type(module).__name__ == "OptimizedModule":
            return  # a torch.compile'd model is left alone: a mode would change what dynamo traces
        try:
            from torch.overrides import TorchFunctionMode

            owner = self

            class _Mode(TorchFunctionMode):
                def __torch_function__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
                    kwargs = kwargs or {}
                    out = func(*args, **kwargs)  # the mode is off inside: a library function is seen once
                    owner._see(core, func, args, kwargs, out)
                    return out

            self.mode = _Mode()
            self.mode.__enter__()
            self.watched += 1
        except Exception as e:  # noqa: BLE001 - never break the user's forward
            self.mode = None
            core.emit("harness-error", error=f"{self.id}: {e!r}")

    def forward(self, core: Any, module: Any, args: Any, out: Any) -> None:
        if self.mode is not None and core.depth == 0:  # the top-level forward returned
            self._close(core)

    def _close(self, core: Any) -> None:
        mode, self.mode = self.mode, None
        mode.__exit__(None, None, None)
        self.window_done(core)

    def _see(self, core: Any, func: Any, args: Any, kwargs: dict[str, Any], out: Any) -> None:
        name = getattr(func, "__name__", "")
        if name in ("__get__", "__set__", "size", "dim", "is_floating_point"):
            return
        try:
            self.op(core, name, args, kwargs, out)
        except Exception as e:  # noqa: BLE001 - a measurement error is evidence, not the user's failure
            self.errors += 1
            if self.errors <= 3:
                core.emit("harness-error", error=f"{self.id}: {name}: {e!r}"[:300])

    def op(self, core: Any, name: str, args: Any, kwargs: dict[str, Any], out: Any) -> None:
        """One torch call (`name`: the function's or method's name) returned `out`."""

    def window_done(self, core: Any) -> None:
        """A watched top-level forward returned."""

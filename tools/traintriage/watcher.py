"""In-loop recorder: the diagnostic metrics of a live run, written as JSONL that `traintriage logs` reads.

    with traintriage.watch(model, optimizer, path="traintriage_watch.jsonl", every=1) as w:
        for x, y in loader:
            loss = loss_fn(model(x), y)
            optimizer.zero_grad(); loss.backward(); optimizer.step()
            w.log(acc=acc)          # optional: any extra scalars; the loss is captured by itself

Each line is one optimizer step: ``{"step": 12, "loss": 0.41, "lr": 3e-4, "grad_norm": 1.9, "param_norm": 88.0,
"update_norm": 0.026, "update_ratio": 3e-4, "grad_norm/encoder": 1.2, ...}``. The quantities are the ones
refs/diagnostic_metrics.md asks for: loss, learning rate per parameter group, total and per-module gradient
norm, parameter norm, update norm and the relative update ||dW|| / ||W|| (Karpathy's "update:data ratio",
healthy around 1e-3; https://cs231n.github.io/neural-networks-3/#ratio).

How it sees the step without changes to the loop: `Optimizer.register_step_pre_hook` / `register_step_post_hook`
on *this* optimizer instance (torch >= 2.0). The parameters are copied in the pre-hook and compared in the
post-hook; gradient norms are read in the post-hook (what the step used, after any clipping; with a closure,
as LBFGS and Lightning use, the backward runs inside step(), after the pre-hook). The loss is captured by
wrapping `torch.Tensor.backward` while the context is open (a 0-dim tensor's value is the step's loss; with
gradient accumulation the values are averaged); `w.log(loss=...)` overrides it. Everything is restored on
exit. Cost: norms and one parameter copy on recorded steps (every N); on other steps only the loss is kept.

Steps are numbered 1, 2, ... = optimizer steps completed, the convention of HF Trainer's `global_step`.
A value passed to `w.log()` after step k (or before step k+1's optimizer.step) lands on step k.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

DEFAULT_PATH = "traintriage_watch.jsonl"

# Per-module gradient norms are reported for the model's direct children only; deeper splits belong in the
# probe. A model with more children than this gets none (a flat ModuleList of 1000 blocks would bloat every line).
MAX_MODULES = 64


class Watcher:
    """Records one JSON line per optimizer step. Use through `watch(...)`."""

    def __init__(
        self,
        model: Any,
        optimizer: Any,
        path: str | os.PathLike[str] = DEFAULT_PATH,
        *,
        every: int = 1,
        per_module: bool = True,
        capture_loss: bool = True,
        append: bool = False,
    ) -> None:
        if every < 1:
            raise ValueError("every must be >= 1")
        self.model = model
        self.optimizer = optimizer
        self.path = Path(path)
        self.every = every
        self.per_module = per_module
        self.capture_loss = capture_loss
        self.append = append
        self.step = 0  # optimizer steps completed
        self._lock = threading.Lock()
        self._pending: dict[int, dict[str, Any]] = {}
        self._explicit_loss = False
        self._losses: list[Any] = []  # detached 0-dim tensors seen by backward since the last step
        self._before: list[Any] | None = None
        self._handles: list[Any] = []
        self._orig_backward: Any = None
        self._file: Any = None
        self._groups = self._module_groups() if per_module else {}

    # -- public ----------------------------------------------------------------------------------------
    def log(self, step: int | None = None, **scalars: float) -> None:
        """Add scalars (loss, accuracy, ...) to the line of `step` (default: the last completed step)."""
        s = self.step if step is None else int(step)
        rec = self._record(s)
        for k, v in scalars.items():
            rec[k] = _scalar(v)
        if "loss" in scalars:
            rec["_explicit_loss"] = True
            self._explicit_loss = True  # from now on the user's loss is the loss; stop capturing
            self._losses = []

    def start(self) -> Watcher:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(self.path, "a" if self.append else "w", encoding="utf-8", buffering=1)  # noqa: SIM115
        self._handles = [
            self.optimizer.register_step_pre_hook(self._pre),
            self.optimizer.register_step_post_hook(self._post),
        ]
        if self.capture_loss:
            import torch

            orig = torch.Tensor.backward
            watcher = self

            def backward(tensor: Any, *args: Any, **kwargs: Any) -> Any:
                if tensor.dim() == 0 and not watcher._explicit_loss:
                    watcher._losses.append(tensor.detach())
                return orig(tensor, *args, **kwargs)

            self._orig_backward = orig
            torch.Tensor.backward = backward  # type: ignore[method-assign]
        return self

    def close(self) -> None:
        for h in self._handles:
            h.remove()
        self._handles = []
        if self._orig_backward is not None:
            import torch

            torch.Tensor.backward = self._orig_backward  # type: ignore[method-assign]
            self._orig_backward = None
        self._flush(upto=None)
        if self._file is not None:
            self._file.close()
            self._file = None

    def __enter__(self) -> Watcher:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- hooks -----------------------------------------------------------------------------------------
    def _recording(self, step: int) -> bool:
        return step % self.every == 0 or step == 1

    def _pre(self, optimizer: Any, args: Any, kwargs: Any) -> None:
        import torch

        step = self.step + 1
        if not self._recording(step):
            self._before = None
            return
        with torch.no_grad():
            self._before = [p.detach().clone() for p in self._params()]

    def _post(self, optimizer: Any, args: Any, kwargs: Any) -> None:
        import torch

        self.step += 1
        step = self.step
        rec = self._record(step)
        if self._losses:
            if not rec.get("_explicit_loss") and not self._explicit_loss:
                rec["loss"] = _scalar(torch.stack([t.float() for t in self._losses]).mean())
            self._losses = []
        groups = optimizer.param_groups
        for i, g in enumerate(groups):
            if "lr" in g:
                key = "lr" if i == 0 else f"lr/{i}"
                rec[key] = _scalar(g["lr"])
        if self._before is not None:
            params = self._params()
            with torch.no_grad():
                # Gradients are read after the step, not before: with a closure (LBFGS, Lightning) the
                # backward runs inside optimizer.step(), after the pre-hook. Optimizers leave .grad intact.
                grads = [p.grad for p in params if p.grad is not None]
                if grads:
                    rec["grad_norm"] = _norm(grads)
                for name, group in self._groups.items():
                    g = [p.grad for p in group if p.grad is not None]
                    if g:
                        rec[f"grad_norm/{name}"] = _norm(g)
                pnorm_before = _norm(self._before)
                upd = [p.detach() - b for p, b in zip(params, self._before, strict=True)]
                rec["param_norm"] = _norm([p.detach() for p in params])
                rec["update_norm"] = _norm(upd) if upd else 0.0
                rec["update_ratio"] = rec["update_norm"] / pnorm_before if pnorm_before > 0 else None
            self._before = None
        self._flush(upto=step - 1)

    # -- internals -------------------------------------------------------------------------------------
    def _params(self) -> list[Any]:
        return [p for g in self.optimizer.param_groups for p in g["params"]]

    def _module_groups(self) -> dict[str, list[Any]]:
        children = list(getattr(self.model, "named_children", lambda: [])())
        if not children or len(children) > MAX_MODULES:
            return {}
        return {name: list(mod.parameters()) for name, mod in children if any(True for _ in mod.parameters())}

    def _record(self, step: int) -> dict[str, Any]:
        with self._lock:
            return self._pending.setdefault(step, {"step": step})

    def _flush(self, upto: int | None) -> None:
        """Write the lines of steps <= upto (all when None), in step order."""
        with self._lock:
            ready = sorted(s for s in self._pending if upto is None or s <= upto)
            lines = [self._pending.pop(s) for s in ready]
        if self._file is None:
            return
        for rec in lines:
            rec.pop("_explicit_loss", None)
            if len(rec) > 1:
                self._file.write(json.dumps(rec) + "\n")


def _norm(tensors: list[Any]) -> float:
    import torch

    if not tensors:
        return 0.0
    norms = torch.stack([torch.linalg.vector_norm(t.detach().float()) for t in tensors])
    return float(torch.linalg.vector_norm(norms))


def _scalar(v: Any) -> float | None:
    """A float for JSON (NaN/inf kept: they are evidence); None for values that are not numbers."""
    if hasattr(v, "detach"):
        v = v.detach()
        v = v.float().mean() if v.numel() != 1 else v
        v = v.item()
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def watch(
    model: Any,
    optimizer: Any,
    path: str | os.PathLike[str] = DEFAULT_PATH,
    *,
    every: int = 1,
    per_module: bool = True,
    capture_loss: bool = True,
    append: bool = False,
) -> Watcher:
    """Record a live run's diagnostic metrics to JSONL; use as a context manager (see module docstring).

    every: compute norms and the update ratio on every N-th step (the loss and LR are kept every step).
    per_module: also record the gradient norm of each direct child of `model`.
    capture_loss: take the loss from `loss.backward()`; turn off if your loop calls backward on non-loss scalars.
    """
    return Watcher(
        model, optimizer, path, every=every, per_module=per_module, capture_loss=capture_loss, append=append
    )


def read_watch(path: str | os.PathLike[str]) -> Iterator[dict[str, Any]]:
    """The records of a watch file (for tests and quick looks; `traintriage logs` is the real reader)."""
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                yield json.loads(line)

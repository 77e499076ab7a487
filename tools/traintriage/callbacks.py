"""traintriage.watch as a Hugging Face Trainer callback and a Lightning callback.

    from traintriage.callbacks import TraintriageHFCallback
    trainer = Trainer(..., callbacks=[TraintriageHFCallback()])        # writes <output_dir>/traintriage_watch.jsonl

    from traintriage.callbacks import TraintriageLightningCallback
    trainer = L.Trainer(..., callbacks=[TraintriageLightningCallback()])  # writes <default_root_dir>/traintriage_watch.jsonl

Both start a `Watcher` on the real model and optimizer when training starts (rank 0 only) and close it at the
end, so the file holds the per-step loss, LR, gradient/parameter/update norms and update ratio; the
framework's own logged scalars (eval metrics, epoch) are added to the same lines. Then: `traintriage logs
<file>`.

The classes are built on first access so this module imports without transformers or lightning; using one
whose library is missing raises ImportError saying what to install. Hooks used: TrainerCallback
on_train_begin / on_log / on_train_end (https://huggingface.co/docs/transformers/main_classes/callback),
Lightning Callback on_train_start / on_validation_end / on_train_end
(https://lightning.ai/docs/pytorch/stable/extensions/callbacks.html).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from traintriage.watcher import DEFAULT_PATH, Watcher

# Keys the frameworks log that the watcher already measures per step (theirs are window averages).
_MEASURED = {"loss", "grad_norm", "train_loss"}

__all__ = ["TraintriageHFCallback", "TraintriageLightningCallback"]  # noqa: F822 - built lazily by __getattr__


def _numeric(d: dict[str, Any] | None) -> dict[str, float]:
    out = {}
    for k, v in (d or {}).items():
        if hasattr(v, "item") and getattr(v, "numel", lambda: 1)() == 1:
            v = v.item()
        if isinstance(v, int | float) and not isinstance(v, bool) and k not in _MEASURED:
            out[k] = float(v)
    return out


def _build_hf() -> type:
    try:
        from transformers import TrainerCallback
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError("TraintriageHFCallback needs transformers: pip install transformers") from e

    class TraintriageHFCallback(TrainerCallback):  # type: ignore[misc,valid-type]
        """Record traintriage's per-step metrics during `Trainer.train()`."""

        def __init__(
            self, path: str | os.PathLike[str] | None = None, every: int = 1, per_module: bool = True
        ):
            self.path = path
            self.every = every
            self.per_module = per_module
            self.watcher: Watcher | None = None

        def on_train_begin(self, args, state, control, model=None, optimizer=None, **kwargs):  # noqa: ANN001
            if not state.is_world_process_zero or model is None or optimizer is None:
                return
            path = self.path or Path(args.output_dir) / DEFAULT_PATH
            # HF wraps the torch optimizer (AcceleratedOptimizer); the hooks belong on the torch one.
            opt = getattr(optimizer, "optimizer", optimizer)
            self.watcher = Watcher(model, opt, path, every=self.every, per_module=self.per_module).start()

        def on_log(self, args, state, control, logs=None, **kwargs):  # noqa: ANN001
            if self.watcher is not None:
                extra = _numeric(logs)
                if extra:
                    self.watcher.log(step=state.global_step, **extra)

        def on_train_end(self, args, state, control, **kwargs):  # noqa: ANN001
            if self.watcher is not None:
                self.watcher.close()
                self.watcher = None

    return TraintriageHFCallback


def _build_lightning() -> type:
    try:
        from lightning.pytorch.callbacks import Callback
    except ImportError:
        try:
            from pytorch_lightning.callbacks import Callback
        except ImportError as e:  # pragma: no cover - depends on the environment
            raise ImportError("TraintriageLightningCallback needs lightning: pip install lightning") from e

    class TraintriageLightningCallback(Callback):  # type: ignore[misc,valid-type]
        """Record traintriage's per-step metrics during `Trainer.fit()`."""

        def __init__(
            self, path: str | os.PathLike[str] | None = None, every: int = 1, per_module: bool = True
        ):
            super().__init__()
            self.path = path
            self.every = every
            self.per_module = per_module
            self.watcher: Watcher | None = None

        def on_train_start(self, trainer, pl_module):  # noqa: ANN001
            if not trainer.is_global_zero or not trainer.optimizers:
                return
            path = self.path or Path(trainer.default_root_dir) / DEFAULT_PATH
            opt = trainer.optimizers[0]
            opt = getattr(opt, "_optimizer", opt)  # a LightningOptimizer wraps the torch one
            self.watcher = Watcher(pl_module, opt, path, every=self.every, per_module=self.per_module).start()

        def on_validation_end(self, trainer, pl_module):  # noqa: ANN001
            if self.watcher is not None and not trainer.sanity_checking:
                extra = _numeric(dict(trainer.callback_metrics))
                if extra:
                    self.watcher.log(**extra)

        def on_train_end(self, trainer, pl_module):  # noqa: ANN001
            if self.watcher is not None:
                self.watcher.close()
                self.watcher = None

        def on_exception(self, trainer, pl_module, exception):  # noqa: ANN001
            self.on_train_end(trainer, pl_module)

    return TraintriageLightningCallback


_BUILDERS = {"TraintriageHFCallback": _build_hf, "TraintriageLightningCallback": _build_lightning}
_BUILT: dict[str, type] = {}


def __getattr__(name: str) -> type:
    if name in _BUILDERS:
        if name not in _BUILT:
            _BUILT[name] = _BUILDERS[name]()
        return _BUILT[name]
    raise AttributeError(f"module 'traintriage.callbacks' has no attribute {name!r}")

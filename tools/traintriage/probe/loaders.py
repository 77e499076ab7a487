"""DataLoader iterators under the probe: count the batches each loader hands out, remember the last few (weakly)
and, in overfit mode, replay the first batch (a fresh clone each time) for one epoch's length.

The fingerprints of each fresh iterator's real first batch feed stale-batch; the remembered batch tensors let
checks trace the model's input (and a hand-written loss's target) back to the batch they came from.
"""

from __future__ import annotations

import weakref
from typing import Any

from traintriage.probe.check import STAT_MAX_ELEMS, _tolist

# stale-batch: the real first batch of this many fresh iterators per DataLoader is fingerprinted, so a loop that
# builds a new iterator every step over an unshuffled loader shows the same first batch each time (in overfit
# mode too: the fingerprint is taken from the real iterator, not from the replayed batch).
LOADER_FP_ITERS = 4
# stale-batch: the last this-many batches each DataLoader handed out are remembered (weak references) so the
# model's input can be traced to the batch it came from, and a batch fed again steps later is recognised.
LOADER_TRACK_BATCHES = 8


def _handed_out(info: dict[str, Any], n_from_iter: int, batch: Any, real: Any = None) -> Any:
    """Book-keeping for one batch a DataLoader iterator hands out (n_from_iter: its index in this iterator).

    `real` is the batch the real iterator produced (differs from `batch` when overfit mode replays)."""
    info["batches"] += 1
    info["per_iter_max"] = max(info.get("per_iter_max", 0), n_from_iter + 1)
    if n_from_iter == 0 and len(info["first_fps"]) < LOADER_FP_ITERS:
        info["first_fps"].append(_batch_fp(batch if real is None else real))
    for t in _tensors(batch):
        info["_recent"].append((weakref.ref(t), info["batches"]))
    return batch


def _tensors(obj: Any, depth: int = 0, out: list | None = None) -> list:
    """The tensors in a batch (tuple/list/dict/namedtuple nesting), at most 8."""
    import torch

    out = [] if out is None else out
    if len(out) >= 8 or depth > 3:
        return out
    if isinstance(obj, torch.Tensor):
        out.append(obj)
    elif isinstance(obj, (list, tuple)):
        for o in obj:
            _tensors(o, depth + 1, out)
    elif isinstance(obj, dict):
        for o in obj.values():
            _tensors(o, depth + 1, out)
    return out


def _batch_fp(batch: Any) -> list[Any] | None:
    """Content fingerprint of a batch: shape, sum and a position-weighted sum of each of its first 4 tensors."""
    import torch

    ts = _tensors(batch)[:4]
    if not ts:
        return None
    try:
        with torch.no_grad():
            parts = []
            for t in ts:
                f = t.detach().reshape(-1)[:STAT_MAX_ELEMS].float()
                w = (torch.arange(f.numel(), device=f.device) % 7).float()
                parts += [f.sum(), (f * w).sum()]
            vals = _tolist(parts)
    except Exception:  # noqa: BLE001 - sparse/nested/meta tensors: no fingerprint
        return None
    return [[list(t.shape) for t in ts], [float(f"{v:.7g}") for v in vals]]



class _CountingIter:
    def __init__(self, it: Any, info: dict[str, Any]) -> None:
        self.it, self.info, self.n = it, info, 0

    def __iter__(self) -> Any:
        return self

    def __next__(self) -> Any:
        b = next(self.it)
        _handed_out(self.info, self.n, b)
        self.n += 1
        return b

    def __len__(self) -> int:
        return len(self.it)


class _ReplayIter:
    """Overfit mode: yield the loader's first batch (a fresh clone each time) for one epoch's length."""

    def __init__(self, it: Any, info: dict[str, Any]) -> None:
        self.it, self.info, self.i = it, info, 0

    def __iter__(self) -> Any:
        return self

    def __len__(self) -> int:
        return self.info["len"] if self.info["len"] is not None else len(self.it)

    def __next__(self) -> Any:
        info = self.info
        real = None
        if info["len"] is not None:
            if self.i >= info["len"]:
                raise StopIteration
            if info["first"] is None:
                info["first"] = real = next(self.it)
                self.it = None  # shuts the workers of the real iterator down
            elif self.i == 0 and self.it is not None and len(info["first_fps"]) < LOADER_FP_ITERS:
                # what this fresh iterator would really have handed out (stale-batch: the same first batch
                # from every new iterator of an unshuffled loader), then shut its workers down
                try:
                    real = next(self.it)
                except Exception:  # noqa: BLE001 - a failing real fetch only costs the fingerprint
                    real = None
                self.it = None
        else:  # no len(): keep the epoch as long as the real iterator's, but hand out the first batch
            b = real = next(self.it)
            if info["first"] is None:
                info["first"] = b
        out = _clone(info["first"])
        _handed_out(info, self.i, out, real if real is not None else info["first"])
        self.i += 1
        return out


def _clone(obj: Any) -> Any:
    import torch

    if isinstance(obj, torch.Tensor):
        return obj.clone()
    if isinstance(obj, tuple) and hasattr(obj, "_fields"):
        return type(obj)(*(_clone(o) for o in obj))
    if isinstance(obj, (list, tuple)):
        return type(obj)(_clone(o) for o in obj)
    if isinstance(obj, dict):
        return type(obj)((k, _clone(v)) for k, v in obj.items())
    return obj


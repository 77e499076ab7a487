"""Many small tensors as one flat buffer, so that a per-step statistic over a model's parameters is a few
whole-buffer ops instead of one op per tensor (the optimizer-step record, probe/steps.py: the parameters
before and after the step, their update and parameter norms per param group).

On CPU, ``torch._foreach_*`` ops loop over their tensors one kernel at a time: each tensor pays a dispatch
(about 1-2 us for a copy, 3 us for a norm, measured with torch 2.x on one core, OMP_NUM_THREADS=1), so a
600-tensor model pays 1-2 ms per foreach op whatever its size. A `Flat` mirror holds views of one
preallocated buffer shaped like the tensors: one ``_foreach_copy_`` fills it, and then the norms per param
group and of the difference of two mirrors are single ops over the whole buffer. Where the tensors are large
the dispatch is lost in the bytes, and `fits` keeps those on the per-tensor path (no mirror, no extra memory).
Gradients are not mirrored (they are new tensors after each backward): where no per-tensor norm is wanted, their
total norm is `total_norm`, one copy into a fresh buffer by a loop in C++ (``flatten_dense_tensors``: no
per-tensor dispatch from Python) and one norm; 600 small gradients cost about half of a foreach norm so.
"""

from __future__ import annotations

from typing import Any

from traintriage.probe.check import _stack_float

# Mean elements per tensor at or below which a flat mirror pays: one copy pass over the elements (a few GB/s on
# one core) costs less than the per-tensor dispatch it replaces (~2-3 us ~ 2-8 K float32 elements per op
# saved; a mirror saves 2-3 ops per tensor). 600 Linear(64, 64) tensors (mean 2,080) run ~2.5x cheaper flat;
# a 23M transformer (mean ~360 K) keeps the per-tensor path. Measured with benchmarks/bench_probe_overhead.py.
FLAT_MAX_MEAN_NUMEL = 1 << 14


def fits(ts: list) -> bool:
    """Whether `ts` (dense tensors of one dtype on one device) are many and small enough for a flat mirror."""
    import torch

    if len(ts) < 2:
        return False
    t0 = ts[0]
    dtype, device = t0.dtype, t0.device
    if not (dtype.is_floating_point or dtype.is_complex):
        return False
    total = 0
    for t in ts:
        if t.layout != torch.strided or t.dtype != dtype or t.device != device:
            return False
        total += t.numel()
    return total <= FLAT_MAX_MEAN_NUMEL * len(ts)


class Flat:
    """One buffer holding a copy of `ts` (views `views[i]` shaped like `ts[i]`); `bounds[i]` is where tensor i
    starts in `flat` (`bounds[-1]`: the total)."""

    def __init__(self, ts: list) -> None:
        import torch

        self.shapes = [t.shape for t in ts]
        self.bounds = [0]
        for t in ts:
            self.bounds.append(self.bounds[-1] + t.numel())
        self.flat = torch.empty(self.bounds[-1], dtype=ts[0].dtype, device=ts[0].device)
        with torch.no_grad():  # views made and written under no_grad alike (autograd forbids mixing the two)
            self.views = [self.flat[a:b].view(s) for a, b, s in zip(self.bounds, self.bounds[1:], self.shapes, strict=False)]

    def matches(self, ts: list) -> bool:
        # (the shapes compared as two lists of torch.Size, in C: a generator of 600 comparisons cost ~0.2 ms a step)
        return len(ts) == len(self.shapes) and [t.shape for t in ts] == self.shapes \
            and ts[0].dtype == self.flat.dtype and ts[0].device == self.flat.device

    def load(self, ts: list) -> Flat:
        import torch

        with torch.no_grad():
            torch._foreach_copy_(self.views, ts)
        return self

    def group_norms(self, sizes: list[int], minus: Any = None) -> list:
        """The 2-norm of each run of `sizes` consecutive tensors (the optimizer's param groups), as 0-d tensors;
        with `minus` (a buffer laid out like `flat`), the norm of the difference flat - minus, read from both
        buffers in one pass (torch.dist) without writing it."""
        import torch

        out, i = [], 0
        for n in sizes:
            a, b = self.bounds[i], self.bounds[i + n]
            out.append(self.flat[a:b].norm() if minus is None else torch.dist(self.flat[a:b], minus[a:b]))
            i += n
        return out


def mirror(old: Flat | None, ts: list) -> Flat | None:
    """`old` reused when it still matches `ts`, a new mirror when `ts` fit one, else None (per-tensor path)."""
    if old is not None and old.matches(ts):
        return old
    return Flat(ts) if fits(ts) else None


def foreach_norms(ts: list) -> Any:
    """torch._foreach_norm(ts), sparse gradients included (nn.Embedding(sparse=True) makes them): torch has no
    norm kernel for a sparse tensor, whose 2-norm is its coalesced values'. The dense call is tried first, so a
    step without sparse gradients pays nothing for them (a probe that crashed on them broke a script that runs)."""
    import torch

    try:
        return torch._foreach_norm(ts)
    except (NotImplementedError, RuntimeError):
        if not any(t.is_sparse for t in ts):
            raise
        return torch._foreach_norm([t.coalesce().values() if t.is_sparse else t for t in ts])


def total_norm(ts: list, flat: bool) -> Any:
    """The 2-norm of all of `ts` together, a float32 0-d tensor. `flat`: they are many and small (`fits`, asked
    once for the parameters they are the gradients of): one copy into a fresh buffer and one norm; else, or where
    the copy refuses them, one foreach norm per tensor."""
    import torch

    if flat:
        try:
            x = torch._C._nn.flatten_dense_tensors(ts)
        except RuntimeError:
            pass
        else:  # half precision accumulated in float32, as the per-tensor norms are stacked (check._stack_float)
            low = x.is_floating_point() and x.element_size() < 4
            return torch.linalg.vector_norm(x, dtype=torch.float32) if low else x.norm().float()
    return _stack_float(foreach_norms(ts)).norm()

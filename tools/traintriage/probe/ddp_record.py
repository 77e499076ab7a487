"""In each rank: what the distributed checks compare across ranks (the parent compares; no collective is added).

Per primary optimizer step, right before the update (``ddp`` record): a checksum of the parameters (the
weights every replica must share), one of the gradients the step will use, how many backward passes of the
step ran with DDP's gradient synchronisation on (``no_sync()`` turns it off), and, for gradients the script
all-reduces itself (``dist.all_reduce(p.grad)``), a checksum of the local gradients before the call and of the
same gradients at the step. Per ``DistributedSampler`` epoch (``sampler`` record): its epoch and a fingerprint
of the indices it hands out. The checks in probe/detectors/ (replicas_out_of_sync, grad_allreduce_not_averaged,
no_sync_never_synced, sampler_epoch_not_set) judge them across the ranks' evidence files.

A checksum is linear in the tensors, sum_k w_k * sum(t_k) in float64 with a fixed weight per parameter
(so a parameter whose entries sum to ~0, such as the bias of a softmax layer's gradient, still counts): the sum
over ranks of the local checksums equals the checksum of the summed gradients, which is what makes "summed,
not averaged" an identity to test rather than a threshold.
"""

from __future__ import annotations

from typing import Any

from traintriage.probe.check import Check

# Weight of parameter k in a checksum: 1 + k mod CHECKSUM_PERIOD (a small fixed pattern; any non-constant
# weights keep cancelling sums from hiding a parameter, and small integers keep float64 exact enough).
CHECKSUM_PERIOD = 7
# Sampler epochs recorded per sampler (two are enough to see an order that never changes).
SAMPLER_ITERS = 6
# Leading indices kept per sampler epoch (for the message; the fingerprint covers them all).
SAMPLER_HEAD = 8
# Per-parameter sums listed on sampled steps, at most (to name the parameters that differ across ranks).
MAX_LISTED_PARAMS = 64
# Modulus of the index fingerprint (a Mersenne prime: sum((i+1)*index) mod it is exact in Python ints).
FP_MOD = 2**61 - 1


def _weights(n: int) -> Any:
    import torch

    return (torch.arange(n, dtype=torch.float64) % CHECKSUM_PERIOD) + 1


def index_fingerprint(indices: list[int]) -> int:
    return sum((i + 1) * int(v) for i, v in enumerate(indices)) % FP_MOD


class Distributed(Check):
    id = "distributed"

    def __init__(self) -> None:
        self.rank: int | None = None
        self.world = 1
        self.sync_on: bool | None = None  # DDP's require_backward_grad_sync at the last top-level forward
        self.has_ddp = False
        self.find_unused: bool | None = None  # the DDP wrapper's find_unused_parameters
        self.bwd = 0
        self.bwd_synced = 0
        self.grad_ptrs: dict[int, int] | None = None  # grad storage -> position in core.tracked
        self.reduced: dict[int, float] = {}  # position -> local checksum term before the script's all_reduce
        self.samplers: dict[int, int] = {}
        self.sampler_iters: dict[int, int] = {}

    def active(self) -> bool:
        import torch.distributed as dist

        if not (dist.is_available() and dist.is_initialized()):
            return False
        if self.rank is None:
            self.rank, self.world = dist.get_rank(), dist.get_world_size()
        return True

    # ------------------------------------------------------------ events
    def root_forward(self, core: Any, module: Any) -> None:
        from torch.nn.parallel import DistributedDataParallel

        if isinstance(module, DistributedDataParallel):
            import torch

            self.has_ddp = True
            self.find_unused = bool(getattr(module, "find_unused_parameters", False))
            self.sync_on = bool(module.require_backward_grad_sync) and torch.is_grad_enabled()

    def backward(self, core: Any) -> None:
        self.bwd += 1
        self.bwd_synced += bool(self.sync_on)
        self.grad_ptrs = None

    def step_pre(self, core: Any, opt: Any, held: set[int]) -> None:
        if id(opt) != core.primary or not self.active():
            return
        import torch

        ps = [p for p in core.tracked if p.requires_grad]
        with torch.no_grad():
            w = _weights(len(core.tracked))
            pos = {id(p): k for k, p in enumerate(core.tracked)}
            psum = torch.stack([p.detach().double().sum() for p in ps]) if ps else torch.zeros(0, dtype=torch.float64)
            pw = w[[pos[id(p)] for p in ps]] if ps else w[:0]
            gs = [p for p in ps if p.grad is not None]
            gsum = torch.stack([p.grad.double().sum() for p in gs]) if gs else torch.zeros(0, dtype=torch.float64)
            gw = w[[pos[id(p)] for p in gs]] if gs else w[:0]
            red = sorted(self.reduced)
            post = sum(float(core.tracked[k].grad.double().sum()) * float(w[k]) for k in red
                       if core.tracked[k].grad is not None)
            vals = torch.stack([(psum * pw).sum(), (gsum * gw).sum()]).tolist()  # float64 kept
        rec: dict[str, Any] = {"step": core.n_steps, "rank": self.rank, "world": self.world, "ddp": self.has_ddp,
                               "find_unused": self.find_unused,
                               "params": vals[0], "grads": vals[1], "n_params": len(ps), "n_grads": len(gs),
                               "backward": self.bwd, "backward_synced": self.bwd_synced}
        if red:
            rec.update(reduced=len(red), reduced_pre=sum(self.reduced.values()), reduced_post=post)
        if core.sampling:
            listed = ps[:MAX_LISTED_PARAMS]
            rec["param_sums"] = [[core.name(p), s] for p, s in zip(listed, psum[:len(listed)].tolist(), strict=True)]
        core.emit("ddp", **rec)
        self.bwd = self.bwd_synced = 0
        self.reduced = {}

    # ------------------------------------------------------------ patched calls
    def on_all_reduce(self, core: Any, tensor: Any) -> None:
        """The script all-reduces `tensor`: if it is a parameter's gradient, keep its local checksum term."""
        import torch

        if not isinstance(tensor, torch.Tensor) or not self.active():
            return
        if self.grad_ptrs is None:
            self.grad_ptrs = {p.grad.data_ptr(): k for k, p in enumerate(core.tracked)
                              if p.grad is not None and p.grad.numel()}
        k = self.grad_ptrs.get(tensor.data_ptr())
        if k is None or tensor.numel() != core.tracked[k].grad.numel():
            return
        with torch.no_grad():
            self.reduced[k] = float(tensor.double().sum()) * (1 + k % CHECKSUM_PERIOD)

    def on_sampler(self, core: Any, sampler: Any, indices: list[int]) -> None:
        i = self.samplers.setdefault(id(sampler), len(self.samplers))
        n = self.sampler_iters.get(id(sampler), 0)
        self.sampler_iters[id(sampler)] = n + 1
        if n >= SAMPLER_ITERS:
            return
        core.emit("sampler", index=i, iter=n, epoch=int(getattr(sampler, "epoch", 0)),
                  shuffle=bool(getattr(sampler, "shuffle", False)), rank=getattr(sampler, "rank", None),
                  replicas=getattr(sampler, "num_replicas", None), n=len(indices),
                  dataset_len=_len(getattr(sampler, "dataset", None)),
                  head=[int(v) for v in indices[:SAMPLER_HEAD]], fp=index_fingerprint(indices))


def _len(x: Any) -> int | None:
    try:
        return len(x)
    except TypeError:
        return None


def install(core: Any) -> None:
    """Patch torch.distributed.all_reduce and DistributedSampler.__iter__ to report to this rank's recording."""
    import torch.distributed as dist
    from torch.utils.data.distributed import DistributedSampler

    rec = next((c for c in core.checks if isinstance(c, Distributed)), None)
    if rec is None:
        return
    if dist.is_available():
        orig_reduce = dist.all_reduce

        def all_reduce(tensor: Any, *a: Any, **k: Any) -> Any:
            try:
                rec.on_all_reduce(core, tensor)
            except Exception as e:  # noqa: BLE001 - evidence must never break the user's collective
                core.emit("harness-error", error=f"distributed: {e!r}")
            return orig_reduce(tensor, *a, **k)

        all_reduce.__wrapped__ = orig_reduce  # type: ignore[attr-defined]
        dist.all_reduce = all_reduce
    orig_iter = DistributedSampler.__iter__

    def sampler_iter(self: Any) -> Any:
        indices = list(orig_iter(self))
        try:
            rec.on_sampler(core, self, indices)
        except Exception as e:  # noqa: BLE001
            core.emit("harness-error", error=f"distributed: {e!r}")
        return iter(indices)

    DistributedSampler.__iter__ = sampler_iter

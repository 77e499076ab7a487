"""A metric accumulated over a loader whose sampler is a DistributedSampler, in a file that never combines
the ranks' results. The sampler gives each rank 1/world_size of the dataset (padded with repeats to an even
split: PyTorch docs, torch.utils.data.distributed.DistributedSampler), so a count or sum accumulated in that
loop is one shard's: printed on rank 0 it is rank 0's shard, not the dataset's.

Read from the source, because the probe stops after its steps, before a script's evaluation runs. The rule
needs all three: the sampler on the loader, a loop over that loader that accumulates (`x += ...`) with no
backward() in it (an evaluation loop, not training), and no collective anywhere in the file (`all_reduce`,
`all_gather`, `reduce`, `gather`, accelerate's `gather_for_metrics`, ...): we do not try to prove that a
collective reaches this metric. A warning: a per-shard number is sometimes what a script means to print."""

from __future__ import annotations

import ast
import sys

from traintriage.lint.context import Ctx
from traintriage.lint.syntax import method_name, short
from traintriage.report import Finding

RULE = "distributed-metric-one-shard"
CAUSE = "metric-on-one-shard"
SEVERITY = "warning"
CONFIDENCE = 0.55

# Calls that combine values across ranks: torch.distributed's collectives (torch.distributed docs), and the
# gather helpers of accelerate / Lightning / torchmetrics that wrap them.
COLLECTIVES = frozenset({
    "all_reduce", "all_gather", "all_gather_object", "all_gather_into_tensor", "reduce", "gather",
    "gather_object", "reduce_scatter", "reduce_scatter_tensor", "gather_for_metrics", "all_gather_tensors",
    "compute",  # a torchmetrics Metric syncs its states across ranks in compute()
})


def _names(target: ast.expr) -> list[str]:
    if isinstance(target, ast.Name):
        return [target.id]
    if isinstance(target, ast.Attribute):  # self.val_loader = DataLoader(...)
        return [target.attr]
    return []


def _ref(node: ast.expr) -> str | None:
    """The name a loader/sampler expression refers to (`loader`, `self.loader`), else None."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def _iterated(it: ast.expr) -> str | None:
    """The loader a for loop iterates: `loader`, `enumerate(loader)`, `tqdm(loader, ...)`, `zip(loader, ...)`."""
    if isinstance(it, ast.Call) and it.args:
        return _ref(it.args[0])
    return _ref(it)


def check(ctx: Ctx) -> list[Finding]:
    calls = [n for n in ast.walk(ctx.tree) if isinstance(n, ast.Call)]
    if any((method_name(c) or short(ctx.call_canon(c) or "")) in COLLECTIVES for c in calls):
        return []
    if any(k.arg == "sync_dist" for c in calls for k in c.keywords):  # Lightning's self.log(..., sync_dist=True)
        return []

    def is_dist_sampler(node: ast.expr | None) -> bool:
        return isinstance(node, ast.Call) and short(ctx.call_canon(node) or "") == "DistributedSampler"

    samplers = {n for a in ast.walk(ctx.tree) if isinstance(a, ast.Assign) and is_dist_sampler(a.value)
                for t in a.targets for n in _names(t)}
    loaders: set[str] = set()
    for a in ast.walk(ctx.tree):
        if not (isinstance(a, ast.Assign) and isinstance(a.value, ast.Call)):
            continue
        if short(ctx.call_canon(a.value) or "") != "DataLoader":
            continue
        kw = next((k.value for k in a.value.keywords if k.arg == "sampler"), None)
        if is_dist_sampler(kw) or (kw is not None and _ref(kw) in samplers):
            loaders.update(n for t in a.targets for n in _names(t))
    if not loaders:
        return []
    out = []
    for loop in ast.walk(ctx.tree):
        if not (isinstance(loop, ast.For) and _iterated(loop.iter) in loaders):
            continue
        body = [n for s in loop.body for n in ast.walk(s)]
        if any(isinstance(n, ast.Call) and method_name(n) == "backward" for n in body):
            continue  # a training loop: its per-rank sums are the loss's business, DDP averages the gradients
        acc = next((n for n in body if isinstance(n, ast.AugAssign)), None)
        if acc is None:
            continue
        out.append(ctx.finding(
            sys.modules[__name__], loop,
            f"This loop over '{_iterated(loop.iter)}' accumulates a metric ('{ast.unparse(acc.target)}' at line "
            f"{acc.lineno}) from a DistributedSampler, which hands each rank 1/world_size of the dataset, and "
            "nothing in this file all-reduces or gathers it: the number printed is one rank's shard. All-reduce "
            "the sums and counts (dist.all_reduce) before dividing, or evaluate the full set on one rank.",
            loop_line=loop.lineno, accumulator=ast.unparse(acc.target)))
    return out

"""A shuffling DistributedSampler whose set_epoch() is never called. The sampler seeds its permutation with
seed + epoch, and the epoch only changes through `sampler.set_epoch(epoch)` (PyTorch docs,
torch.utils.data.distributed.DistributedSampler): without the call every epoch repeats epoch 0's order on
every rank. Silent when the file calls set_epoch anywhere (we do not try to prove it reaches this sampler)
or the sampler is built with shuffle=False; a warning, since a single-epoch run is not harmed."""

from __future__ import annotations

import ast
import sys

from traintriage.lint.context import Ctx
from traintriage.lint.syntax import arg, method_name, short
from traintriage.report import Finding

RULE = "distributed-sampler-no-set-epoch"
CAUSE = "sampler-epoch-not-set"
SEVERITY = "warning"
CONFIDENCE = 0.6


def check(ctx: Ctx) -> list[Finding]:
    calls = [n for n in ast.walk(ctx.tree) if isinstance(n, ast.Call)]
    if any(method_name(c) == "set_epoch" for c in calls):
        return []
    out = []
    for c in calls:
        if short(ctx.call_canon(c) or "") != "DistributedSampler":
            continue
        shuffle = arg(c, 3, "shuffle")
        if isinstance(shuffle, ast.Constant) and shuffle.value is False:
            continue
        out.append(ctx.finding(
            sys.modules[__name__], c,
            "DistributedSampler shuffles with seed + epoch, and nothing in this file calls sampler.set_epoch(epoch): "
            "every epoch repeats the first epoch's order on every rank. Call set_epoch(epoch) at the start of "
            "each epoch.", sampler_line=c.lineno))
    return out

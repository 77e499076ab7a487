"""A model with BatchNorm wrapped in DistributedDataParallel without SyncBatchNorm. Each rank's BatchNorm
normalises with its own micro-batch's statistics; DDP averages gradients, not statistics (PyTorch docs,
nn.SyncBatchNorm), so with small per-rank batches the statistics are noisy. A warning: with large per-rank
batches per-rank statistics are fine, and SyncBatchNorm needs a GPU (CPU runs cannot measure the harm).
Silent when the file mentions SyncBatchNorm or convert_sync_batchnorm anywhere."""

from __future__ import annotations

import ast
import sys

from traintriage.lint.context import Ctx
from traintriage.lint.syntax import dotted, short
from traintriage.report import Finding

RULE = "ddp-batchnorm-not-synced"
CAUSE = "bn-not-synced"
SEVERITY = "warning"
CONFIDENCE = 0.5
BATCHNORMS = {"BatchNorm1d", "BatchNorm2d", "BatchNorm3d"}


def check(ctx: Ctx) -> list[Finding]:
    nodes = list(ast.walk(ctx.tree))
    if any("SyncBatchNorm" in (dotted(n) or "") or getattr(n, "attr", "") == "convert_sync_batchnorm"
           for n in nodes if isinstance(n, ast.Attribute | ast.Name)):
        return []
    calls = [n for n in nodes if isinstance(n, ast.Call)]
    bns = [c for c in calls if short(ctx.call_canon(c) or "") in BATCHNORMS]
    ddps = [c for c in calls if short(ctx.call_canon(c) or "") == "DistributedDataParallel"]
    if not bns or not ddps:
        return []
    return [ctx.finding(
        sys.modules[__name__], ddps[0],
        f"The model has BatchNorm ({short(ctx.call_canon(bns[0]))} at line {bns[0].lineno}) and is wrapped in "
        "DistributedDataParallel without SyncBatchNorm: each rank normalises with its own micro-batch's "
        "statistics. With small per-rank batches, convert it: "
        "model = nn.SyncBatchNorm.convert_sync_batchnorm(model) before wrapping (GPU only).",
        batchnorm_line=bns[0].lineno)]

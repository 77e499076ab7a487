"""Sigmoid output fed to BCEWithLogitsLoss / F.binary_cross_entropy_with_logits, which applies sigmoid
itself (sigmoid followed by BCELoss is correct, if less stable, and is not flagged)."""

from __future__ import annotations

import sys

from traintriage.lint.context import Ctx
from traintriage.lint.rules._losses import loss_inputs
from traintriage.lint.syntax import dotted
from traintriage.report import Finding

RULE = "sigmoid-into-bce-with-logits"
CAUSE = "sigmoid-bceloss"
SEVERITY = "error"
CONFIDENCE = 0.9


def check(ctx: Ctx) -> list[Finding]:
    out = []
    for call, _t, inp, _tgt, kind in loss_inputs(ctx, {"bce_logits"}):
        if kind == "sigmoid":
            name = dotted(inp) or "its input"
            out.append(
                ctx.finding(
                    sys.modules[__name__],
                    call,
                    f"BCEWithLogits is given sigmoid outputs ({name}); it applies sigmoid itself, so the model's "
                    "outputs are squashed twice. Pass the raw logits.",
                    input=name,
                )
            )
    return out

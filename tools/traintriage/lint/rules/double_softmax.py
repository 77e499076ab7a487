"""Softmax output (function, method, nn.Softmax layer, last layer of a Sequential, a model whose forward
returns softmax) fed to CrossEntropyLoss / F.cross_entropy, which applies log-softmax itself."""

from __future__ import annotations

import sys

from traintriage.lint.context import Ctx
from traintriage.lint.rules._losses import loss_inputs
from traintriage.lint.syntax import dotted
from traintriage.report import Finding

RULE = "softmax-into-cross-entropy"
CAUSE = "double-softmax"
SEVERITY = "error"
CONFIDENCE = 0.9


def check(ctx: Ctx) -> list[Finding]:
    out = []
    for call, _t, inp, _tgt, kind in loss_inputs(ctx, {"ce"}):
        if kind == "softmax":
            name = dotted(inp) or "its input"
            out.append(
                ctx.finding(
                    sys.modules[__name__],
                    call,
                    f"cross-entropy is given softmax probabilities ({name}); it applies log-softmax itself, so pass "
                    "the raw logits and keep softmax for reporting only.",
                    input=name,
                )
            )
    return out

"""NLLLoss / F.nll_loss expects log-probabilities. Flag it when its input is known to be something else:
softmax probabilities, sigmoid outputs, or raw logits straight from a Linear layer or a model that returns
them. log_softmax, nn.LogSoftmax and torch.log(...) are fine; an input the lint cannot trace is not flagged."""

from __future__ import annotations

import sys

from traintriage.lint.context import Ctx
from traintriage.lint.rules._losses import loss_inputs
from traintriage.lint.syntax import dotted
from traintriage.report import Finding

RULE = "nll-input-not-log-probs"
CAUSE = "nll-without-log-softmax"
SEVERITY = "error"
CONFIDENCE = 0.85

WHAT = {"softmax": "softmax probabilities", "sigmoid": "sigmoid outputs", "logits": "raw logits"}


def check(ctx: Ctx) -> list[Finding]:
    out = []
    for call, _t, inp, _tgt, kind in loss_inputs(ctx, {"nll"}):
        if kind in WHAT:
            name = dotted(inp) or "its input"
            out.append(
                ctx.finding(
                    sys.modules[__name__],
                    call,
                    f"NLLLoss is given {WHAT[kind]} ({name}), not log-probabilities; apply log_softmax first or "
                    "use CrossEntropyLoss on the logits.",
                    confidence=CONFIDENCE if kind != "logits" else 0.75,
                    input=name,
                    input_kind=kind,
                )
            )
    return out

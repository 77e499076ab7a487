"""Apply sigmoid before BCEWithLogitsLoss, which applies it again: outputs squeezed into (0.5, 0.73)."""

import ast

from traintriage.mutate.astops import loss_calls, wrap_first_arg

NAME = "sigmoid-into-bce-logits"
PRODUCES = ["sigmoid-bceloss"]


def apply(tree: ast.Module) -> bool:
    calls = loss_calls(tree, {"binary_cross_entropy_with_logits"}, {"BCEWithLogitsLoss"})
    for c in calls:
        wrap_first_arg(c, "torch.sigmoid({})")
    return bool(calls)

"""Feed softmax probabilities to cross-entropy, which applies log-softmax itself."""

import ast

from traintriage.mutate.astops import loss_calls, wrap_first_arg

NAME = "softmax-into-ce"
PRODUCES = ["double-softmax"]


def apply(tree: ast.Module) -> bool:
    calls = loss_calls(tree, {"cross_entropy"}, {"CrossEntropyLoss"})
    for c in calls:
        wrap_first_arg(c, "torch.softmax({}, dim=-1)")
    return bool(calls)

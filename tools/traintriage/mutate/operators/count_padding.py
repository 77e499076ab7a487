"""Drop `ignore_index`: padding tokens count in the loss and the model learns to predict padding."""

import ast

from traintriage.mutate.astops import call_name

NAME = "count-padding"
PRODUCES = ["padding-in-loss"]


def apply(tree: ast.Module) -> bool:
    hit = False
    for n in ast.walk(tree):
        if isinstance(n, ast.Call) and call_name(n) in ("cross_entropy", "CrossEntropyLoss", "nll_loss", "NLLLoss"):
            kept = [k for k in n.keywords if k.arg != "ignore_index"]
            if len(kept) != len(n.keywords):
                n.keywords = kept
                hit = True
    return hit

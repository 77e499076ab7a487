"""NLLLoss on raw logits (cross-entropy swapped for NLL without the log-softmax it needs)."""

import ast

from traintriage.mutate.astops import call_name, expr

NAME = "ce-to-nll"
PRODUCES = ["nll-without-log-softmax"]
SWAP = {"cross_entropy": "torch.nn.functional.nll_loss", "CrossEntropyLoss": "torch.nn.NLLLoss"}


def apply(tree: ast.Module) -> bool:
    hit = False
    for n in ast.walk(tree):
        if isinstance(n, ast.Call) and call_name(n) in SWAP:
            n.func = expr(SWAP[call_name(n)])
            n.keywords = [k for k in n.keywords if k.arg != "label_smoothing"]  # NLLLoss has no smoothing
            hit = True
    return hit

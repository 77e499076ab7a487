"""AdamW's decoupled weight decay given to Adam, where it becomes an L2 gradient term Adam rescales."""

import ast

from traintriage.mutate.astops import call_name, expr

NAME = "adamw-to-adam"
PRODUCES = ["adam-coupled-weight-decay"]


def apply(tree: ast.Module) -> bool:
    hit = False
    for n in ast.walk(tree):
        if isinstance(n, ast.Call) and call_name(n) == "AdamW" \
                and any(k.arg == "weight_decay" for k in n.keywords):
            n.func = expr("torch.optim.Adam")
            hit = True
    return hit

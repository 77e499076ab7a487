"""Re-wrap the loss as a new leaf tensor from `loss.item()` before backward: no gradient reaches the model."""

import ast

from traintriage.mutate.astops import dotted, is_method_stmt, stmt_call, stmt_lists

NAME = "rewrap-loss-item"
PRODUCES = ["loss-detached"]


def apply(tree: ast.Module) -> bool:
    for body in stmt_lists(tree):
        for i, s in enumerate(body):
            if is_method_stmt(s, "backward"):
                name = dotted(stmt_call(s).func.value)
                if name is None:
                    continue
                body.insert(i, ast.parse(f"{name} = torch.tensor({name}.item(), requires_grad=True)").body[0])
                return True
    return False

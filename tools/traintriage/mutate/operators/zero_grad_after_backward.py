"""Move `optimizer.zero_grad()` between `loss.backward()` and `optimizer.step()`: the step sees zero gradients."""

import ast

from traintriage.mutate.astops import find_stmt, is_method_stmt, optimizer_names, pop_stmt, stmt_lists

NAME = "zero-grad-after-backward"
PRODUCES = ["step-order"]


def apply(tree: ast.Module) -> bool:
    opts = optimizer_names(tree)
    for body in stmt_lists(tree):
        bw = next((i for i, s in enumerate(body) if is_method_stmt(s, "backward")), None)
        if bw is None or find_stmt(body, lambda s: is_method_stmt(s, "step", opts), bw + 1) is None:
            continue
        zg = find_stmt(body, lambda s: is_method_stmt(s, "zero_grad"))
        if zg is None:
            continue
        z = pop_stmt(zg)
        bw = next(i for i, s in enumerate(body) if is_method_stmt(s, "backward"))
        body.insert(bw + 1, z)
        return True
    return False

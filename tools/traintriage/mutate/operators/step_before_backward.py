"""Call `optimizer.step()` before `loss.backward()`: every step applies the previous batch's gradient (or none)."""

import ast

from traintriage.mutate.astops import find_stmt, is_method_stmt, optimizer_names, pop_stmt, stmt_lists

NAME = "step-before-backward"
PRODUCES = ["step-order"]


def apply(tree: ast.Module) -> bool:
    opts = optimizer_names(tree)
    for body in stmt_lists(tree):
        bw = next((i for i, s in enumerate(body) if is_method_stmt(s, "backward")), None)
        st = None if bw is None else find_stmt(body, lambda s: is_method_stmt(s, "step", opts), bw + 1)
        if st is None:
            continue
        step = pop_stmt(st)
        bw = next(i for i, s in enumerate(body) if is_method_stmt(s, "backward"))
        body.insert(bw, step)
        return True
    return False

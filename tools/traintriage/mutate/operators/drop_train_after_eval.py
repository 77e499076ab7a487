"""Validate with `model.eval()` and never switch back: training continues in eval mode after the first epoch."""

import ast

from traintriage.mutate.astops import is_method_stmt, receiver, stmt_call, stmt_lists

NAME = "drop-train-after-eval"
PRODUCES = ["wrong-train-eval-mode"]


def apply(tree: ast.Module) -> bool:
    evals = {receiver(stmt_call(s)) for b in stmt_lists(tree) for s in b if is_method_stmt(s, "eval")}
    hit = False
    for body in stmt_lists(tree):
        keep = [s for s in body if not (is_method_stmt(s, "train") and receiver(stmt_call(s)) in evals
                                        and not stmt_call(s).args)]
        if len(keep) != len(body):
            body[:] = keep or [ast.Pass()]
            hit = True
    return hit and bool(evals)

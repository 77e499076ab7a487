"""Forget `optimizer.zero_grad()`: gradients accumulate across every batch."""

import ast

from traintriage.mutate.astops import is_method_stmt, stmt_lists

NAME = "drop-zero-grad"
PRODUCES = ["missing-zero-grad"]


def apply(tree: ast.Module) -> bool:
    hit = False
    for body in stmt_lists(tree):
        keep = [s for s in body if not is_method_stmt(s, "zero_grad")]
        if len(keep) != len(body):
            hit = True
            body[:] = keep or [ast.Pass()]
    return hit

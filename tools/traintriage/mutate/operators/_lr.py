"""Shared by the learning-rate operators: scale the explicit lr of every optimizer constructor."""

import ast

from traintriage.mutate.astops import expr, optimizer_calls


def scale_lr(tree: ast.Module, factor: str) -> bool:
    hit = False
    for c in optimizer_calls(tree):
        for kw in c.keywords:
            if kw.arg == "lr":
                kw.value = expr(f"({ast.unparse(kw.value)}) * {factor}")
                hit = True
                break
        else:
            if len(c.args) >= 2:  # SGD(params, 0.1): lr is the second positional argument
                c.args[1] = expr(f"({ast.unparse(c.args[1])}) * {factor}")
                hit = True
    return hit

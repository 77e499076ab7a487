"""Build the optimizer over all but the last layer's parameters: the output layer keeps its random init."""

import ast

from traintriage.mutate.astops import expr, optimizer_calls

NAME = "optimizer-misses-last-layer"
PRODUCES = ["params-not-in-optimizer"]


def apply(tree: ast.Module) -> bool:
    hit = False
    for c in optimizer_calls(tree):
        if c.args and isinstance(c.args[0], ast.Call) and ast.unparse(c.args[0]).endswith(".parameters()"):
            c.args[0] = expr(f"list({ast.unparse(c.args[0])})[:-2]")  # the last weight and bias
            hit = True
    return hit

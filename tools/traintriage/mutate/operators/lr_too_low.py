"""A learning rate 10,000x too small (a units slip, e.g. 1e-7 for 1e-3)."""

import ast

from traintriage.mutate.operators._lr import scale_lr

NAME = "lr-x1e-4"
PRODUCES = ["lr-too-low"]


def apply(tree: ast.Module) -> bool:
    return scale_lr(tree, "1e-4")

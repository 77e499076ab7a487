"""A learning rate 100x too large (an SGD recipe's lr given to Adam, a slipped exponent)."""

import ast

from traintriage.mutate.operators._lr import scale_lr

NAME = "lr-x100"
PRODUCES = ["lr-too-high", "exploding-gradients", "non-finite-loss"]


def apply(tree: ast.Module) -> bool:
    return scale_lr(tree, "100")

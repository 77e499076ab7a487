"""Skip input standardisation (`(x - mean) / std`): raw features on wildly different scales."""

import ast

from traintriage.mutate.operators._unnormalize import unnormalize

NAME = "raw-inputs"
PRODUCES = ["unnormalized-inputs"]


def apply(tree: ast.Module) -> bool:
    return unnormalize(tree, ("x", "input", "feat", "img", "image", "data", "pixel"))

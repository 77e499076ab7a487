"""Skip target standardisation (`(y - mean) / std`) in a regression: targets in the thousands."""

import ast

from traintriage.mutate.operators._unnormalize import unnormalize

NAME = "raw-targets"
PRODUCES = ["unnormalized-targets"]


def apply(tree: ast.Module) -> bool:
    return unnormalize(tree, ("y", "target", "label", "price"))

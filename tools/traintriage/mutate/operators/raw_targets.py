"""Skip target standardisation (`(y - mean) / std`) in a regression: targets in the thousands."""

import ast

from traintriage.mutate.operators._unnormalize import unnormalize

NAME = "raw-targets"
PRODUCES = ["unnormalized-targets"]
TARGET_PREFIXES = ("y", "target", "label", "price")


def apply(tree: ast.Module) -> bool:
    """Only where the standardised targets get a name of their own (`targets = (price - m) / s`). Standardised in
    place (`y = (y - y.mean()) / y.std()`), every later use of `y` changes units too, the final metric included:
    the mutant's MSE is then in raw units and the plain-run check reads "worse" from a unit change alone (seen on
    dead-relu-output-layer/fixed.py: raw y has std 1.25, its MSE 0.0069 = 1.57 x the host's 0.0043 in standard
    units, the same fit). The matrix could not verify such a mutant, so it is not planted."""
    return unnormalize(tree, TARGET_PREFIXES, skip_in_place=True)

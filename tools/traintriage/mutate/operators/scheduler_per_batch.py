"""Step a per-epoch LR scheduler (StepLR, cosine over epochs...) once per batch: the schedule ends in the first epoch."""

import ast

from traintriage.mutate.astops import (
    EPOCH_SCHEDULERS,
    assigned_from,
    find_stmt,
    is_method_stmt,
    optimizer_names,
)

NAME = "scheduler-per-batch"
PRODUCES = ["scheduler-misuse", "lr-too-low"]


def apply(tree: ast.Module) -> bool:
    scheds = set(assigned_from(tree, EPOCH_SCHEDULERS))
    opts = optimizer_names(tree)
    if not scheds:
        return False
    for outer in ast.walk(tree):
        if not isinstance(outer, ast.For | ast.While):
            continue
        i = next((k for k, s in enumerate(outer.body) if is_method_stmt(s, "step", scheds)), None)
        inner = next((s for s in outer.body if isinstance(s, ast.For | ast.While)), None)
        if i is None or inner is None:
            continue
        if find_stmt(inner.body, lambda s: is_method_stmt(s, "step", opts)) is None:
            continue
        inner.body.append(outer.body.pop(i))  # once per batch, after the optimizer's step
        if not outer.body:
            outer.body.append(ast.Pass())
        return True
    return False

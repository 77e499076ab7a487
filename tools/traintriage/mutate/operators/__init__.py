"""The mutation operators: one file each; OPERATORS below is the registry (an explicit, readable list).

An operator module defines NAME (kebab-case, unique; an operator name, not a catalogue id), PRODUCES (the catalogue ids a correct diagnosis of its bug
names, primary first), a docstring saying the bug in one line, and `apply(tree) -> bool`, which plants the bug
in the host's AST in place and returns False when the host has nothing it applies to (then it is skipped).
"""

from __future__ import annotations

import ast
from types import ModuleType
from typing import Protocol

from traintriage.mutate.operators import (
    adam_coupled_decay,
    bad_init_std1,
    ce_to_nll,
    count_padding,
    drop_accum_scaling,
    drop_positional_add,
    drop_train_after_eval,
    drop_zero_grad,
    heads_no_transpose,
    high_dropout,
    invert_padding_mask,
    lr_too_high,
    lr_too_low,
    optimizer_misses_last_layer,
    raw_inputs,
    raw_targets,
    rewrap_loss_item,
    scheduler_per_batch,
    sigmoid_into_bce_logits,
    softmax_into_ce,
    softmax_over_queries,
    stale_batch,
    step_before_backward,
    train_to_eval,
    unmask_prompt,
    unshift_targets,
    zero_grad_after_backward,
)


class Operator(Protocol):
    NAME: str
    PRODUCES: list[str]

    def apply(self, tree: ast.Module) -> bool: ...


OPERATORS: list[ModuleType] = [
    drop_zero_grad,
    zero_grad_after_backward,
    step_before_backward,
    softmax_into_ce,
    lr_too_low,
    lr_too_high,
    rewrap_loss_item,
    train_to_eval,
    drop_train_after_eval,
    sigmoid_into_bce_logits,
    ce_to_nll,
    drop_accum_scaling,
    count_padding,
    optimizer_misses_last_layer,
    raw_inputs,
    raw_targets,
    scheduler_per_batch,
    stale_batch,
    bad_init_std1,
    adam_coupled_decay,
    unshift_targets,
    invert_padding_mask,
    softmax_over_queries,
    drop_positional_add,
    heads_no_transpose,
    high_dropout,
    unmask_prompt,
]


def by_id(op_id: str) -> ModuleType:
    for op in OPERATORS:
        if op.NAME == op_id:
            return op
    raise KeyError(f"no mutation operator '{op_id}'; operators: {', '.join(o.NAME for o in OPERATORS)}")

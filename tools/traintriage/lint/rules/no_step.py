"""A training loop calls backward() but nothing ever applies the gradients: no optimizer.step() (nor
scaler.step(opt), nor a manual `p -= lr * p.grad` update) anywhere in the file, while an optimizer is built.

Mapped to `step-order` (the update is missing from the backward -> step sequence); the parameters are in
an optimizer, it is just never stepped, so `params-not-in-optimizer` would send the reader the wrong way."""

from __future__ import annotations

import ast
import sys

from traintriage.lint.context import Ctx
from traintriage.lint.rules._loops import loop_events
from traintriage.report import Finding

RULE = "backward-without-step"
CAUSE = "step-order"
SEVERITY = "error"
CONFIDENCE = 0.8

IN_PLACE_UPDATES = {"add_", "sub_", "addcdiv_", "addcmul_", "copy_", "mul_", "lerp_"}


def _reads_grad(node: ast.AST) -> bool:
    return any(isinstance(n, ast.Attribute) and n.attr == "grad" for n in ast.walk(node))


def manual_update(ctx: Ctx) -> bool:
    for n in ast.walk(ctx.tree):
        if isinstance(n, ast.AugAssign) and _reads_grad(n.value):
            return True
        if (
            isinstance(n, ast.Assign)
            and _reads_grad(n.value)
            and any(isinstance(t, ast.Attribute | ast.Subscript) for t in n.targets)
        ):
            return True
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr in IN_PLACE_UPDATES:
            if any(_reads_grad(a) for a in list(n.args) + [k.value for k in n.keywords]):
                return True
    return False


def any_step(ctx: Ctx) -> bool:
    for n in ast.walk(ctx.tree):
        if (
            isinstance(n, ast.Call)
            and isinstance(n.func, ast.Attribute)
            and n.func.attr in ("step", "optimizer_step")
        ):
            from traintriage.lint.syntax import dotted

            rn = dotted(n.func.value)
            if not ctx.is_scheduler_name(rn):
                return True
        if isinstance(n, ast.Attribute) and n.attr == "step" and isinstance(n.ctx, ast.Load):
            parent = ctx.parent.get(n)
            if not isinstance(parent, ast.Call) or parent.func is not n:
                if not ctx.is_scheduler_name(getattr(n.value, "id", None)):
                    return True  # optimizer.step passed as a callback
    return False


def check(ctx: Ctx) -> list[Finding]:
    if not ctx.optimizer_ctors() or any_step(ctx) or manual_update(ctx):
        return []
    for _loop, events in loop_events(ctx):
        backs = [e for e in events if e.kind == "backward"]
        if backs:
            return [
                ctx.finding(
                    sys.modules[__name__],
                    backs[0].node,
                    "the loop calls backward() but no optimizer.step() runs anywhere: gradients are computed and "
                    "never applied, so the weights never change. Call optimizer.step() after backward().",
                    backward_line=backs[0].line,
                )
            ]
    return []

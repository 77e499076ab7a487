"""A training loop calls backward() and step() but nothing in the file ever clears gradients: they
accumulate across iterations, so each step applies the sum of all gradients so far.

Anything that clears gradients counts: optimizer.zero_grad() / model.zero_grad() (any arguments),
`p.grad = None`, `p.grad.zero_()`, a reference to `.zero_grad` passed as a callback. A DeepSpeed-style
engine whose own step() clears gradients (backward and step on the same receiver) is not flagged."""

from __future__ import annotations

import ast
import sys

from traintriage.lint.astutil import Ctx
from traintriage.lint.rules._loops import loop_events
from traintriage.report import Finding

RULE = "no-zero-grad"
CAUSE = "missing-zero-grad"
SEVERITY = "error"
CONFIDENCE = 0.85


def clears_grads_somewhere(ctx: Ctx) -> bool:
    for n in ast.walk(ctx.tree):
        if isinstance(n, ast.Attribute) and n.attr in ("zero_grad", "zero_grad_"):
            return True
        if isinstance(n, ast.Attribute) and n.attr == "grad" and isinstance(n.ctx, ast.Store):
            return True  # p.grad = None
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr in ("zero_", "detach_", "fill_"):
            inner = n.func.value
            while isinstance(inner, ast.Attribute) and inner.attr == "data":
                inner = inner.value
            if isinstance(inner, ast.Attribute) and inner.attr == "grad":
                return True
        if isinstance(n, ast.keyword) and n.arg == "set_to_none":
            return True
    return False


def check(ctx: Ctx) -> list[Finding]:
    if clears_grads_somewhere(ctx):
        return []
    for _loop, events in loop_events(ctx):
        backs = [e for e in events if e.kind == "backward"]
        steps = [e for e in events if e.kind == "step"]
        if not backs or not steps:
            continue
        if all(s.recv is not None and s.recv == b.recv for s in steps for b in backs):
            continue  # engine.backward(loss); engine.step(): the engine zeroes its own gradients
        b = backs[0]
        return [ctx.finding(
            sys.modules[__name__], b.node,
            "backward() and step() run every iteration but gradients are never cleared (no zero_grad() "
            "anywhere): they accumulate, so each step applies the running sum. Call optimizer.zero_grad() "
            "once per step.",
            backward_line=b.line, step_line=steps[0].line,
        )]
    return []

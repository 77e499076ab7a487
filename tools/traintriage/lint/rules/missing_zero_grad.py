"""Gradients are never cleared inside the loop that steps: they accumulate across iterations, so each step
applies the running sum of every gradient so far. Covers "no zero_grad() at all" and "zero_grad() once,
before the loop".

The loop that must clear is the innermost one holding both backward() and step() (so accumulation over an
inner micro-batch loop with zero_grad in the outer loop is fine). Anything that clears counts: optimizer
or model zero_grad() (any arguments), `p.grad = None`, `p.grad.zero_()`, in the loop or in a local function
it calls. A DeepSpeed-style engine whose own step() clears gradients (backward and step on the same
receiver) is not flagged; nor is a closure-based optimizer.step(closure)."""

from __future__ import annotations

import sys

from traintriage.lint.context import Ctx, grad_clearing, local_callees
from traintriage.report import Finding

RULE = "no-zero-grad-in-loop"
CAUSE = "missing-zero-grad"
SEVERITY = "error"
CONFIDENCE = 0.85


def _clears(ctx: Ctx, loop) -> bool:
    if grad_clearing(ctx, loop):
        return True
    fns = local_callees(ctx, loop)
    return any(grad_clearing(ctx, f) for f in fns) or any(
        grad_clearing(ctx, g) for f in fns for g in local_callees(ctx, f)
    )


def check(ctx: Ctx) -> list[Finding]:
    for loop in ctx.training_loops():  # innermost first
        events = ctx.events(loop)
        backs = [e for e in events if e.kind == "backward"]
        steps = [e for e in events if e.kind == "step"]
        if not backs or not steps:
            continue
        if all(s.recv is not None and s.recv == b.recv for s in steps for b in backs):
            continue  # engine.backward(loss); engine.step(): the engine zeroes its own gradients
        if _clears(ctx, loop):
            continue
        b = backs[0]
        outside = grad_clearing(ctx, ctx.tree)
        return [
            ctx.finding(
                sys.modules[__name__],
                b.node,
                "backward() and step() run every iteration but gradients are not cleared inside this loop"
                + (" (zero_grad() runs only outside it)" if outside else " (no zero_grad() anywhere)")
                + ": they accumulate, so each step applies the running sum. Call optimizer.zero_grad() once per step.",
                backward_line=b.line,
                step_line=steps[0].line,
                zero_grad_outside_loop=outside,
            )
        ]
    return []

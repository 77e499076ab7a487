"""Gradient accumulation without scaling: backward() runs every micro-batch, step() only when
`(i + 1) % accum == 0`, and the loss is never divided by the accumulation count. The accumulated gradient
is `accum` times a mean-reduced batch gradient, which multiplies SGD's learning rate by `accum` and moves
clipping thresholds (Adam is mostly scale-invariant, hence a warning).

Scaling anywhere counts: `loss / accum`, `loss /= accum`, `loss * (1 / accum)`, `loss.div(accum)`,
`scaler.scale(loss / accum)`, or a loop under `accelerator.accumulate(...)` (Accelerate scales itself)."""

from __future__ import annotations

import ast
import sys

from traintriage.lint.context import Ctx
from traintriage.lint.rules._loops import loop_events
from traintriage.lint.syntax import dotted, method_name
from traintriage.report import Finding

RULE = "accumulation-without-loss-scaling"
CAUSE = "grad-accum-not-scaled"
SEVERITY = "warning"
CONFIDENCE = 0.7

# Modulo tests whose divisor looks like logging/evaluation cadence rather than accumulation.
CADENCE_WORDS = ("log", "print", "eval", "val", "save", "ckpt", "checkpoint", "report", "display")


def _modulo(test: ast.AST) -> ast.BinOp | None:
    for n in ast.walk(test):
        if isinstance(n, ast.BinOp) and isinstance(n.op, ast.Mod):
            return n
    return None


def _scales(node: ast.AST) -> bool:
    if isinstance(node, ast.AugAssign):
        return isinstance(node.op, ast.Div | ast.Mult | ast.FloorDiv)
    for n in ast.walk(node):
        if isinstance(n, ast.BinOp) and isinstance(n.op, ast.Div | ast.Mult):
            return True
        if isinstance(n, ast.Call) and method_name(n) in ("div", "div_", "mul", "mul_", "true_divide"):
            return True
    return False


def check(ctx: Ctx) -> list[Finding]:
    out = []
    for loop, events in loop_events(ctx):
        if any(
            "accumulate" in (ctx.call_canon(i.context_expr) or "")
            for n in ast.walk(loop)
            if isinstance(n, ast.With)
            for i in n.items
            if isinstance(i.context_expr, ast.Call)
        ):
            continue
        steps = [
            (e, _modulo(c)) for e in events if e.kind == "step" for c in e.conds if _modulo(c) is not None
        ]
        if not steps:
            continue
        step, mod = steps[0]
        divisor = dotted(mod.right) or ""
        if any(w in divisor.lower() for w in CADENCE_WORDS) or (
            isinstance(mod.right, ast.Constant) and mod.right.value in (0, 1)
        ):
            continue
        backs = [e for e in events if e.kind == "backward" and not any(_modulo(c) for c in e.conds)]
        if not backs:
            continue
        b = backs[0]
        if b.loss is None or _scales(b.loss):
            continue
        scope = ctx.scope_of(b.node)
        name = dotted(b.loss)
        if name is None:
            continue
        lo = min(getattr(loop, "lineno", 0), b.line)
        hits = [v for ln, v, _ in ctx.assignments(scope).get(name, []) if ln <= b.line]
        in_loop = [v for ln, v, _ in ctx.assignments(scope).get(name, []) if lo <= ln <= b.line]
        if any(_scales(v) for v in (in_loop or hits[-1:])):
            continue
        # the loss may come from a helper that divides inside; trace one call deep
        if hits and isinstance(hits[-1], ast.Call) and _scales_in_callee(ctx, hits[-1]):
            continue
        out.append(
            ctx.finding(
                sys.modules[__name__],
                b.node,
                f"gradients accumulate over micro-batches (step at line {step.line} runs when "
                f"`{ast.unparse(mod)} == 0`) but {name} is not divided by the accumulation count: the update is "
                f"{divisor or 'N'} times a batch's. Use ({name} / {divisor or 'accum_steps'}).backward().",
                step_line=step.line,
                accumulation=divisor,
            )
        )
    return out


def _scales_in_callee(ctx: Ctx, call: ast.Call) -> bool:
    name = dotted(call.func) or ""
    fns = ctx.functions.get(name.rsplit(".", 1)[-1], [])
    return len(fns) == 1 and any(
        isinstance(r, ast.Return) and r.value is not None and _scales(r.value) for r in ast.walk(fns[0])
    )

"""One-hot targets from F.one_hot(...) passed to CrossEntropyLoss without a float cast. CrossEntropyLoss
takes class indices (long, shape [N]) or class probabilities (float, shape [N, C], since PyTorch 1.10);
F.one_hot returns int64 [N, C], which is neither. `F.one_hot(y, C).float()` is accepted and not flagged."""

from __future__ import annotations

import ast
import sys

from traintriage.lint.astutil import MAX_DEPTH, Ctx, dotted, method_name, receiver
from traintriage.lint.rules._losses import loss_inputs
from traintriage.report import Finding

RULE = "one-hot-long-target-into-cross-entropy"
CAUSE = "ce-target-form"
SEVERITY = "error"
CONFIDENCE = 0.85

FLOAT_CASTS = {"float", "double", "half", "bfloat16"}
KEEP = {"long", "int", "view", "reshape", "squeeze", "unsqueeze", "cuda", "cpu", "contiguous", "clone"}


def target_form(ctx: Ctx, expr: ast.AST | None, scope, line: int, depth: int = 0) -> str | None:
    if expr is None or depth > MAX_DEPTH:
        return None
    if isinstance(expr, ast.Name | ast.Attribute) and dotted(expr):
        forms = {
            target_form(ctx, v, sc, ln, depth + 1)
            for v, sc, ln in ctx.resolve(expr, scope, line)
            if v is not expr
        }
        return forms.pop() if len(forms) == 1 else None
    if not isinstance(expr, ast.Call):
        return None
    if ctx.call_canon(expr) in ("torch.nn.functional.one_hot", "torch.one_hot"):
        return "one_hot_long"
    m = method_name(expr)
    if m in FLOAT_CASTS or (m in ("to", "type") and any("float" in ast.unparse(a) for a in expr.args)):
        return "float"
    if m in KEEP and receiver(expr) is not None:
        return target_form(ctx, receiver(expr), scope, line, depth + 1)
    return None


def check(ctx: Ctx) -> list[Finding]:
    out = []
    for call, _t, _inp, tgt, _kind in loss_inputs(ctx, {"ce"}):
        if target_form(ctx, tgt, ctx.scope_of(call), call.lineno) == "one_hot_long":
            out.append(
                ctx.finding(
                    sys.modules[__name__],
                    call,
                    f"cross-entropy's target ({dotted(tgt) or 'F.one_hot(...)'}) is an int64 one-hot matrix: pass "
                    "class indices (the labels before one_hot) or float probabilities (.float()).",
                    target=dotted(tgt),
                )
            )
    return out

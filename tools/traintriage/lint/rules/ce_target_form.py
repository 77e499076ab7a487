"""A CrossEntropyLoss target that is neither class indices nor probabilities.

CrossEntropyLoss takes class indices (long, shape [N]) or class probabilities (float, shape [N, C], since
PyTorch 1.10). Flagged:
- F.one_hot(...) targets without a float cast (int64 [N, C] is neither form);
- soft targets that are logits, not probabilities (distillation with `teacher_logits / T` as the target:
  rows do not sum to 1 and have negative entries, so the loss is unbounded below). Recognized when the
  target traces to a Linear layer / logits-returning model, or is named `*logit*` without a softmax.
`F.one_hot(y, C).float()` and `F.softmax(teacher_logits / T, -1)` are fine and not flagged."""

from __future__ import annotations

import ast
import sys

from traintriage.lint.context import Ctx
from traintriage.lint.rules._losses import loss_inputs
from traintriage.lint.syntax import MAX_DEPTH, dotted, method_name, receiver
from traintriage.report import Finding

RULE = "cross-entropy-target-form"
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


def logit_target(ctx: Ctx, tgt: ast.AST | None, scope, line: int) -> bool:
    if tgt is None:
        return False
    kind = ctx.kind(tgt, scope, line)
    if kind == "logits":
        return True
    if kind is not None:  # softmax / log_softmax / sigmoid: some other form, not this rule's business
        return False
    node = tgt.left if isinstance(tgt, ast.BinOp) and isinstance(tgt.op, ast.Div | ast.Mult) else tgt
    name = dotted(node) or ""
    return "logit" in name.rsplit(".", 1)[-1].lower()


def check(ctx: Ctx) -> list[Finding]:
    out = []
    for call, _t, _inp, tgt, _kind in loss_inputs(ctx, {"ce"}):
        if logit_target(ctx, tgt, ctx.scope_of(call), call.lineno):
            out.append(
                ctx.finding(
                    sys.modules[__name__],
                    call,
                    f"cross-entropy's soft target ({ast.unparse(tgt)}) is logits, not probabilities: its rows do not sum "
                    "to 1 and can be negative, so the loss has no floor. Pass softmax(target_logits / T, dim=-1).",
                    target=ast.unparse(tgt),
                    target_form="logits",
                )
            )
            continue
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

"""The loss that backward() is called on was computed under torch.no_grad() / torch.inference_mode() /
set_grad_enabled(False) (a `with` block, or a decorator on the training function). It has no graph: the
step either crashes or, when something else in the sum still requires grad, silently trains only that.

Near misses that are fine: a teacher's forward under no_grad in distillation (its output is a target, and
the student loss is computed outside), evaluation under no_grad, `set_grad_enabled(phase == "train")`."""

from __future__ import annotations

import ast
import sys

from traintriage.lint.context import Ctx, trained_models
from traintriage.lint.syntax import dotted
from traintriage.lint.vocab import NO_GRAD_CONTEXTS
from traintriage.report import Finding

RULE = "training-step-under-no-grad"
CAUSE = "loss-detached"
SEVERITY = "error"
CONFIDENCE = 0.85


def _no_grad_block(ctx: Ctx, node: ast.AST) -> ast.AST | None:
    w = ctx.in_with(node, NO_GRAD_CONTEXTS)
    if w is not None:
        return w
    p = ctx.parent.get(node)
    while p is not None and not isinstance(p, ast.FunctionDef | ast.AsyncFunctionDef):
        if isinstance(p, ast.With):
            for item in p.items:
                ce = item.context_expr
                if isinstance(ce, ast.Call) and ctx.call_canon(ce) == "torch.set_grad_enabled" and ce.args:
                    if isinstance(ce.args[0], ast.Constant) and ce.args[0].value is False:
                        return p
        p = ctx.parent.get(p)
    return None


def _decorated(ctx: Ctx, fn: ast.AST) -> bool:
    if not isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef):
        return False
    for d in fn.decorator_list:
        target = d.func if isinstance(d, ast.Call) else d
        if ctx.canon(target) in NO_GRAD_CONTEXTS:
            return True
    return False


def check(ctx: Ctx) -> list[Finding]:
    out = []
    for call in ast.walk(ctx.tree):
        if not isinstance(call, ast.Call) or not ctx.is_backward(call):
            continue
        scope = ctx.scope_of(call)
        if _decorated(ctx, scope):
            out.append(
                ctx.finding(
                    sys.modules[__name__],
                    call,
                    f"backward() runs inside {scope.name}(), which is decorated with no_grad/inference_mode: the "
                    "forward pass builds no graph. Remove the decorator from the training function.",
                    function=scope.name,
                )
            )
            continue
        loss = ctx.backward_loss(call)
        name = dotted(loss) if isinstance(loss, ast.AST) else None
        if not name:
            continue
        hits = [(ln, v, st) for ln, v, st in ctx.assignments(scope).get(name, []) if ln <= call.lineno]
        # walk back over `loss += ...` to the statement that created the loss
        while hits and isinstance(hits[-1][1], ast.AugAssign):
            hits.pop()
        if not hits:
            continue
        _ln, _v, stmt = hits[-1]
        block = _no_grad_block(ctx, stmt)
        if block is None:
            fwd = _forward_under_no_grad(ctx, scope, stmt, trained_models(ctx))
            if fwd is not None:
                fstmt, fblock, model = fwd
                out.append(
                    ctx.finding(
                        sys.modules[__name__],
                        fstmt,
                        f"the trained model's forward ({model}) runs inside a no-grad block (line {fblock.lineno}) "
                        f"and its output feeds {name}, which is back-propagated at line {call.lineno}: no gradient "
                        "reaches the model. Run the training forward outside torch.no_grad().",
                        no_grad_line=fblock.lineno,
                        backward_line=call.lineno,
                        model=model,
                    )
                )
            continue
        if block is not None:
            out.append(
                ctx.finding(
                    sys.modules[__name__],
                    stmt,
                    f"{name} is computed inside a no-grad block (line {block.lineno}) and then backward() is called "
                    f"on it (line {call.lineno}): it has no graph to the parameters. Compute the training loss "
                    "outside torch.no_grad().",
                    no_grad_line=block.lineno,
                    backward_line=call.lineno,
                )
            )
    return out


def _forward_under_no_grad(ctx: Ctx, scope, loss_stmt: ast.AST, trained: set[str]):
    """(statement, no-grad block, model) when a name used in the loss statement was assigned, under no_grad,
    from a call of a model the optimizer trains (a teacher or a frozen backbone is not in `trained`)."""
    value = getattr(loss_stmt, "value", None)
    if value is None:
        return None
    names = {dotted(n) for n in ast.walk(value) if isinstance(n, ast.Name)}
    for name in names:
        hits = [(ln, v, st) for ln, v, st in ctx.assignments(scope).get(name, []) if ln <= loss_stmt.lineno]
        if not hits:
            continue
        _ln, v, st = hits[-1]
        block = _no_grad_block(ctx, st)
        if block is None:
            continue
        for n in ast.walk(v):
            if isinstance(n, ast.Call):
                callee = dotted(n.func) or ""
                if callee.endswith(".forward"):
                    callee = callee[: -len(".forward")]
                if callee in trained:
                    return st, block, callee
    return None

"""A hand-written loss that reduces before its non-linearity (the handbook's "an operation out of order"):

* `(pred - y).mean() ** 2`, `torch.abs((pred - y).sum())`, `torch.square(torch.mean(pred - y))`: the square
  (or absolute value) of the batch-mean error. Errors of opposite sign cancel and any prediction with the right
  mean scores zero (error).
* `torch.sqrt(((pred - y) ** 2).sum(dim=1) + eps)`, `(((a - b) ** 2).sum()) ** 0.5`: a square root after summing
  squared differences, i.e. the Euclidean norm of the error, not a sum of absolute errors (warning: a distance
  loss such as end-point error is written this way on purpose; `sqrt(mean(...))`, an RMSE, is not flagged).

Only differences (`a - b`) count, and code under `torch.no_grad()` / `inference_mode()` (metrics) is skipped.
"""

from __future__ import annotations

import ast
import sys

from traintriage.lint.context import Ctx
from traintriage.lint.syntax import arg, const_number, method_name, receiver
from traintriage.report import Finding

RULE = "loss-reduced-before-nonlinearity"
CAUSE = "wrong-loss-formula"
SEVERITY = "error"
CONFIDENCE = 0.8
# The sqrt-after-sum form is often a deliberate distance (end-point error, Euclidean distance loss): a warning
# at lower confidence.
SQRT_SEVERITY = "warning"
SQRT_CONFIDENCE = 0.6

NO_GRAD = {"torch.no_grad", "torch.inference_mode", "torch.set_grad_enabled"}


def _is_diff(node: ast.AST) -> bool:
    return isinstance(node, ast.BinOp) and isinstance(node.op, ast.Sub) and not (
        const_number(node.left) is not None or const_number(node.right) is not None
    )


def _reduced(ctx: Ctx, node: ast.AST, names: set[str], full: bool) -> ast.AST | None:
    """The reduced operand when node is X.<name>() / torch.<name>(X) (with full=True: over every element)."""
    if not isinstance(node, ast.Call):
        return None
    m = method_name(node)
    c = ctx.call_canon(node)
    if c and c.startswith("torch.") and c.rsplit(".", 1)[-1] in names and c.count(".") == 1:
        if full and (len(node.args) > 1 or any(k.arg in ("dim", "axis") for k in node.keywords)):
            return None
        return arg(node, 0, "input")
    if m in names and not (c and c.startswith("torch.")):
        if full and (node.args or any(k.arg in ("dim", "axis") for k in node.keywords)):
            return None
        return receiver(node)
    return None


def _power_of(ctx: Ctx, node: ast.AST, exponents: set[float]) -> ast.AST | None:
    """The base when node is B ** k, B.pow(k), torch.pow(B, k) (k in exponents), or square/abs/sqrt forms."""
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Pow) and const_number(node.right) in exponents:
        return node.left
    if not isinstance(node, ast.Call):
        return None
    m = method_name(node)
    c = ctx.call_canon(node)
    named = {2.0: {"square"}, 1.0: {"abs"}, 0.5: {"sqrt"}}
    names = set().union(*(named.get(k, set()) for k in exponents))
    if c in {f"torch.{n}" for n in names} or (isinstance(node.func, ast.Name) and node.func.id in names & {"abs"}):
        return arg(node, 0, "input")
    if c == "torch.pow" and const_number(arg(node, 1, "exponent")) in exponents:
        return arg(node, 0, "input")
    if m in names and not (c and c.startswith("torch.")):
        return receiver(node)
    if m == "pow" and not (c and c.startswith("torch.")) and const_number(arg(node, 0, "exponent")) in exponents:
        return receiver(node)
    return None


def _strip_eps(node: ast.AST) -> ast.AST:
    """S + eps / eps + S -> S (a constant added for a safe sqrt)."""
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        if const_number(node.right) is not None or isinstance(node.right, ast.Name | ast.Attribute):
            return node.left
        if const_number(node.left) is not None:
            return node.right
    return node


def _squared_diff(ctx: Ctx, node: ast.AST) -> bool:
    base = _power_of(ctx, node, {2.0})
    if base is not None:
        return _is_diff(base)
    return (
        isinstance(node, ast.BinOp)
        and isinstance(node.op, ast.Mult)
        and _is_diff(node.left)
        and ast.dump(node.left) == ast.dump(node.right)
    )


def check(ctx: Ctx) -> list[Finding]:
    if not any(ctx.is_backward(n) for n in ast.walk(ctx.tree)):
        return []  # no training in this file: a formula here is not a training loss
    mod = sys.modules[__name__]
    out: list[Finding] = []
    for node in ast.walk(ctx.tree):
        if ctx.in_with(node, NO_GRAD):
            continue
        base = _power_of(ctx, node, {2.0, 1.0})
        if base is not None:
            inner = _reduced(ctx, base, {"mean", "sum"}, full=True)
            if inner is not None and _is_diff(inner):
                src = ast.get_source_segment(ctx.src, node) or ""
                out.append(
                    ctx.finding(
                        mod,
                        node,
                        f"`{src}` squares (or takes |.| of) the batch-reduced error: errors of opposite sign cancel "
                        "and any prediction with the right mean scores zero. Apply the square/abs to each error, then "
                        "reduce: ((pred - y) ** 2).mean() or F.mse_loss(pred, y).",
                        expression=src[:200],
                        form="nonlinearity-of-mean",
                    )
                )
                continue
        base = _power_of(ctx, node, {0.5})
        if base is not None:
            inner = _reduced(ctx, _strip_eps(base), {"sum"}, full=False)
            if inner is not None and _squared_diff(ctx, inner):
                src = ast.get_source_segment(ctx.src, node) or ""
                out.append(
                    ctx.finding(
                        mod,
                        node,
                        f"`{src}` takes the square root after summing squared differences: that is the Euclidean "
                        "norm of the error (each element's gradient e/||e||, about 1/sqrt(n) of |e|'s), not a sum of "
                        "absolute errors. If an elementwise loss was meant, take the root per element or use "
                        "F.l1_loss / F.mse_loss; torch.linalg.norm states a distance on purpose.",
                        confidence=SQRT_CONFIDENCE,
                        severity=SQRT_SEVERITY,
                        expression=src[:200],
                        form="sqrt-after-sum",
                    )
                )
    return out

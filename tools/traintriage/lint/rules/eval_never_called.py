"""Validation runs in training mode: the model has Dropout or BatchNorm, it is called under no_grad (an
evaluation pass), and nothing in the script ever switches it to eval mode (`.eval()`, `.train(False)`).
Dropout stays on for the metric and BatchNorm normalizes each validation batch by its own statistics
while updating the running statistics with validation data.

A warning: training itself is unaffected, the reported metric and the BatchNorm buffers are not."""

from __future__ import annotations

import ast
import sys

from traintriage.lint.context import Ctx, trained_models
from traintriage.lint.syntax import dotted, method_name
from traintriage.lint.vocab import NO_GRAD_CONTEXTS
from traintriage.report import Finding

RULE = "validation-without-eval-mode"
CAUSE = "wrong-train-eval-mode"
SEVERITY = "warning"
CONFIDENCE = 0.6

MODE_LAYERS = {
    "Dropout",
    "Dropout1d",
    "Dropout2d",
    "Dropout3d",
    "AlphaDropout",
    "BatchNorm1d",
    "BatchNorm2d",
    "BatchNorm3d",
    "SyncBatchNorm",
    "LazyBatchNorm1d",
    "LazyBatchNorm2d",
}


def _switches_mode(ctx: Ctx) -> bool:
    for n in ast.walk(ctx.tree):
        m = method_name(n)
        if m == "eval" or (
            m == "train" and n.args and not (isinstance(n.args[0], ast.Constant) and n.args[0].value)
        ):
            return True
    return False


def _no_grad_scope(ctx: Ctx, node: ast.AST) -> bool:
    if ctx.in_with(node, NO_GRAD_CONTEXTS) is not None:
        return True
    fn = ctx.scope_of(node)
    if isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef):
        for d in fn.decorator_list:
            if ctx.canon(d.func if isinstance(d, ast.Call) else d) in NO_GRAD_CONTEXTS:
                return True
    return False


def check(ctx: Ctx) -> list[Finding]:
    if _switches_mode(ctx):
        return []
    trained = trained_models(ctx)
    modal = {}
    for t in trained:
        for opt in ctx.optimizer_ctors():
            layers = ctx.model_layers(ast.parse(t, mode="eval").body, ctx.scope_of(opt), opt.lineno) or set()
            if layers & MODE_LAYERS:
                modal[t] = sorted(layers & MODE_LAYERS)
    if not modal:
        return []
    for node in ast.walk(ctx.tree):
        if not isinstance(node, ast.Call) or not _no_grad_scope(ctx, node):
            continue
        callee = dotted(node.func)
        if callee is None:
            continue
        scope = ctx.scope_of(node)
        is_model = callee in modal or (
            callee in ctx.params(scope)
            and any(
                dotted(ctx.param_arg(scope, site, callee)) in modal
                for site in ctx.call_sites(scope)
                if ctx.param_arg(scope, site, callee) is not None
            )
        )
        if is_model:
            layers = next(iter(modal.values()))
            return [
                ctx.finding(
                    sys.modules[__name__],
                    node,
                    f"the model ({', '.join(layers)}) is evaluated under no_grad but never put in eval mode: dropout "
                    "stays on and BatchNorm uses and updates batch statistics on validation data. Call model.eval() "
                    "before evaluating and model.train() after.",
                    mode_layers=layers,
                )
            ]
    return []

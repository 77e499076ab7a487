"""Gradual unfreezing gone wrong: the optimizer was built from only the parameters with requires_grad
(`filter(lambda p: p.requires_grad, ...)`), and parameters are unfrozen afterwards. The unfrozen
parameters get gradients but are not in any param group, so they never change."""

from __future__ import annotations

import ast
import sys

from traintriage.lint.context import Ctx, backward_lines, filters_requires_grad
from traintriage.lint.syntax import method_name
from traintriage.report import Finding

RULE = "unfreeze-after-filtered-optimizer"
CAUSE = "params-not-in-optimizer"
SEVERITY = "error"
CONFIDENCE = 0.75


def unfreezes(node: ast.AST) -> bool:
    if isinstance(node, ast.Assign):
        return any(isinstance(t, ast.Attribute) and t.attr == "requires_grad" for t in node.targets) and (
            isinstance(node.value, ast.Constant) and node.value.value is True
        )
    if isinstance(node, ast.Call) and method_name(node) == "requires_grad_":
        return not node.args or (isinstance(node.args[0], ast.Constant) and node.args[0].value is True)
    return False


def check(ctx: Ctx) -> list[Finding]:
    out = []
    ctors = ctx.optimizer_ctors()
    for opt in ctors:
        if not filters_requires_grad(ctx, opt):
            continue
        scope = ctx.scope_of(opt)
        trains = backward_lines(ctx, scope)
        for node in ast.walk(scope):
            line = getattr(node, "lineno", 0)
            if line <= opt.lineno or not unfreezes(node):
                continue
            if not any(t > line for t in trains) and not ctx.enclosing_loops(node):
                continue
            later = [o for o in ctors if o.lineno > line] + [
                n
                for n in ast.walk(ctx.tree)
                if isinstance(n, ast.Call) and method_name(n) == "add_param_group"
            ]
            if later:
                continue
            out.append(
                ctx.finding(
                    sys.modules[__name__],
                    node,
                    f"parameters are unfrozen here, but the optimizer (line {opt.lineno}) was built only from "
                    "parameters that required grad at the time: the unfrozen ones are in no param group and never "
                    "update. Add them with optimizer.add_param_group(...) or rebuild the optimizer.",
                    optimizer_line=opt.lineno,
                )
            )
            break
    return out

"""An optimizer and a different, freshly built model are handed to the same trainer/function:
`Trainer(build_model(cfg), optimizer, ...)` while `optimizer` holds `model.parameters()`. The trainer
steps an optimizer that owns none of the parameters it back-propagates into.

Only flagged when the model the optimizer holds is not passed to that call at all (so a distillation
trainer given `model, optimizer, teacher` is fine)."""

from __future__ import annotations

import ast
import sys

from traintriage.lint.context import Ctx, parameters_roots
from traintriage.lint.rules.params_replaced import new_module
from traintriage.lint.syntax import dotted, walk_scope
from traintriage.report import Finding

RULE = "optimizer-and-other-model-passed-together"
CAUSE = "params-not-in-optimizer"
SEVERITY = "error"
CONFIDENCE = 0.75


def _builds_module(ctx: Ctx, expr: ast.AST, scope, line: int) -> bool:
    if isinstance(expr, ast.Name):
        got = ctx.value_of(expr.id, scope, line)
        return got is not None and _builds_module(ctx, got[0], got[1], line)
    if not isinstance(expr, ast.Call):
        return False
    if new_module(ctx, expr, ""):
        return True
    name = (dotted(expr.func) or "").rsplit(".", 1)[
        -1
    ]  # a local factory: def build_model(): return nn.X(...)
    fns = ctx.functions.get(name, [])
    if len(fns) == 1:
        rets = [r.value for r in walk_scope(fns[0]) if isinstance(r, ast.Return) and r.value is not None]
        return bool(rets) and all(isinstance(r, ast.Call) and new_module(ctx, r, "") for r in rets)
    return False


def check(ctx: Ctx) -> list[Finding]:
    out = []
    for name, ctors in ctx.optimizers().items():
        for opt in ctors:
            roots = parameters_roots(ctx, opt)
            if not roots:
                continue
            scope = ctx.scope_of(opt)
            for call in walk_scope(scope):
                if not isinstance(call, ast.Call) or call.lineno <= opt.lineno:
                    continue
                args = list(call.args) + [k.value for k in call.keywords]
                if not any(dotted(a) == name for a in args):
                    continue
                used = {dotted(n) for a in args for n in ast.walk(a) if dotted(n)}
                if any(r in used or r.split(".")[0] in used for r in roots):
                    continue
                fresh = [a for a in args if dotted(a) != name and _builds_module(ctx, a, scope, call.lineno)]
                if fresh:
                    out.append(
                        ctx.finding(
                            sys.modules[__name__],
                            call,
                            f"{name} holds {roots[0]}.parameters() (line {opt.lineno}), but this call gets {name} "
                            f"together with a different model ({ast.unparse(fresh[0])}) and not {roots[0]}: the "
                            "model it trains has no parameters in the optimizer. Pass the same model object.",
                            optimizer_line=opt.lineno,
                            model_passed=ast.unparse(fresh[0]),
                        )
                    )
    return out

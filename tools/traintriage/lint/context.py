"""`Ctx`: one parsed training script with every lookup the lint rules need (dataflow.py's names and assignments,
tensor_kinds.py's readings, training_loop.py's loops and events), and the small analyses several rules
reuse (a number behind an expression, an optimizer's parameter roots, the backward lines of a scope...)."""

from __future__ import annotations

import ast

from traintriage.lint.dataflow import Dataflow
from traintriage.lint.syntax import (
    MAX_DEPTH,
    Scope,
    arg,
    const_number,
    dotted,
    kwarg,
    method_name,
    receiver,
    walk_scope,
)
from traintriage.lint.tensor_kinds import TensorKinds
from traintriage.lint.training_loop import Event, TrainingLoop
from traintriage.report import Finding


class Ctx(TensorKinds, TrainingLoop, Dataflow):
    """A parsed script with the lookups every rule needs."""


    def finding(
        self, rule, node: ast.AST, message: str, confidence: float | None = None, **evidence
    ) -> Finding:
        return Finding(
            id=rule.CAUSE,
            severity=evidence.pop("severity", rule.SEVERITY),
            confidence=rule.CONFIDENCE if confidence is None else confidence,
            message=message,
            evidence={"rule": rule.RULE, **evidence},
            where=f"{self.filename}:{getattr(node, 'lineno', 0)}",
            source="lint",
        )


# --- shared small analyses the rules reuse -----------------------------------------------------------------


def number(ctx: Ctx, expr: ast.AST | None, scope: Scope, line: int, depth: int = 0) -> float | None:
    """A numeric value for a literal, a name bound to one, or `args.x` with an argparse default."""
    if expr is None or depth > MAX_DEPTH:
        return None
    v = const_number(expr)
    if v is not None:
        return v
    if isinstance(expr, ast.BinOp):
        a, b = number(ctx, expr.left, scope, line, depth + 1), number(ctx, expr.right, scope, line, depth + 1)
        if a is None or b is None:
            return None
        ops = {
            ast.Mult: lambda: a * b,
            ast.Div: lambda: a / b if b else None,
            ast.Add: lambda: a + b,
            ast.Sub: lambda: a - b,
            ast.Pow: lambda: a**b,
        }
        f = ops.get(type(expr.op))
        return f() if f else None
    name = dotted(expr)
    if not name:
        return None
    for v, sc, ln in ctx.resolve(expr, scope, line, depth):
        if v is not expr:
            return number(ctx, v, sc, ln, depth + 1)
    # args.weight_decay -> parser.add_argument("--weight-decay", default=...)
    if "." in name:
        attr = name.rsplit(".", 1)[1]
        for node in ast.walk(ctx.tree):
            if isinstance(node, ast.Call) and method_name(node) == "add_argument":
                flags = [
                    a.value for a in node.args if isinstance(a, ast.Constant) and isinstance(a.value, str)
                ]
                dest = kwarg(node, "dest")
                names = {f.lstrip("-").replace("-", "_") for f in flags}
                if isinstance(dest, ast.Constant):
                    names.add(dest.value)
                if attr in names:
                    return const_number(kwarg(node, "default"))
    return None


def parameters_roots(ctx: Ctx, opt_ctor: ast.Call) -> list[str]:
    """Dotted receivers of `.parameters()` / `.named_parameters()` calls in an optimizer's params argument."""
    params = arg(opt_ctor, 0, "params")
    if params is None:
        return []
    scope = ctx.scope_of(opt_ctor)
    out: list[str] = []
    stack = [params]
    seen = 0
    while stack and seen < 50:
        seen += 1
        node = stack.pop()
        if isinstance(node, ast.Name) and dotted(node):
            for v, _sc, _ln in ctx.resolve(node, scope, opt_ctor.lineno):
                if v is not node:
                    stack.append(v)
            continue
        for n in ast.walk(node):
            if isinstance(n, ast.Call) and method_name(n) in ("parameters", "named_parameters"):
                r = dotted(receiver(n))
                if r and r not in out:
                    out.append(r)
    return out


def filters_requires_grad(ctx: Ctx, opt_ctor: ast.Call) -> bool:
    """True when the params argument keeps only parameters with requires_grad (filter / comprehension)."""
    params = arg(opt_ctor, 0, "params")
    if params is None:
        return False
    nodes = [params]
    if isinstance(params, ast.Name):
        nodes += [v for v, _, _ in ctx.resolve(params, ctx.scope_of(opt_ctor), opt_ctor.lineno)]
    return any(
        isinstance(n, ast.Attribute) and n.attr == "requires_grad" for node in nodes for n in ast.walk(node)
    )


def backward_lines(ctx: Ctx, scope: Scope) -> list[int]:
    """Lines in `scope` where training happens: backward calls, or calls of local functions that do it."""
    out = []
    for e in ctx.events(scope if not isinstance(scope, ast.Module) else _ModuleAsFn(scope)):
        if e.kind == "backward":
            out.append(_top_line(ctx, e, scope))
    return sorted(out)


def _top_line(ctx: Ctx, e: Event, scope: Scope) -> int:
    """The line in `scope` where an event happens (the call site when it came from a local function)."""
    if e.via is None:
        return e.line
    # find the call of e.via inside scope
    for n in walk_scope(scope):
        if isinstance(n, ast.Call) and (dotted(n.func) or "").rsplit(".", 1)[-1] == e.via:
            return n.lineno
    return e.line


class _ModuleAsFn:
    """Lets Ctx.events walk a module body like a function body."""

    def __init__(self, mod: ast.Module):
        self.body = mod.body


def scope_events(ctx: Ctx, scope: Scope) -> list[Event]:
    return ctx.events(_ModuleAsFn(scope) if isinstance(scope, ast.Module) else scope)


def trained_models(ctx: Ctx) -> set[str]:
    """Dotted names of the models an optimizer holds (`model`, and `self.model` when a method stores it)."""
    out: set[str] = set()
    for c in ctx.optimizer_ctors():
        roots = parameters_roots(ctx, c)
        out.update(roots)
        cls = ctx.class_of(c)
        if cls is None:
            continue
        for item in cls.body:
            if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef):
                for name, hits in ctx.assignments(item).items():
                    if name.startswith("self.") and any(dotted(v) in roots for _l, v, _s in hits):
                        out.add(name)
    return out


def grad_clearing(ctx: Ctx, node: ast.AST) -> bool:
    """Does anything under `node` clear gradients (zero_grad, p.grad = None, p.grad.zero_())?"""
    for n in ast.walk(node):
        if isinstance(n, ast.Attribute) and n.attr in ("zero_grad", "zero_grad_"):
            return True
        if isinstance(n, ast.Attribute) and n.attr == "grad" and isinstance(n.ctx, ast.Store):
            return True
        if (
            isinstance(n, ast.Call)
            and isinstance(n.func, ast.Attribute)
            and n.func.attr in ("zero_", "detach_", "fill_")
        ):
            inner = n.func.value
            while isinstance(inner, ast.Attribute) and inner.attr == "data":
                inner = inner.value
            if isinstance(inner, ast.Attribute) and inner.attr == "grad":
                return True
    return False


def local_callees(ctx: Ctx, node: ast.AST) -> list[ast.FunctionDef | ast.AsyncFunctionDef]:
    """Functions defined in the file that are called (by name or self.name) under `node`."""
    out = []
    for n in ast.walk(node):
        if isinstance(n, ast.Call):
            name = (dotted(n.func) or "").rsplit(".", 1)[-1]
            fns = ctx.functions.get(name, [])
            if len(fns) == 1 and fns[0] not in out:
                out.append(fns[0])
    return out

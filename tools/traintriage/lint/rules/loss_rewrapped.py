"""A loss rebuilt from a number: `torch.tensor(loss.item(), requires_grad=True)`, `float(loss)`,
`loss.detach().requires_grad_()`, `Variable(loss.data, requires_grad=True)`. The new tensor is a leaf with
no graph behind it: backward() runs without error and no model parameter receives a gradient."""

from __future__ import annotations

import ast
import sys

from traintriage.lint.context import Ctx, scope_events
from traintriage.lint.syntax import dotted, kwarg, method_name, receiver, walk_scope
from traintriage.report import Finding

RULE = "loss-rewrapped-as-leaf"
CAUSE = "loss-detached"
SEVERITY = "error"
CONFIDENCE = 0.9

TENSOR_CTORS = {
    "torch.tensor",
    "torch.as_tensor",
    "torch.Tensor",
    "torch.FloatTensor",
    "torch.autograd.Variable",
    "torch.autograd.variable.Variable",
    "Variable",
}
CUTS = {"item", "detach", "numpy", "tolist", "cpu"}  # with .data and float()/int(): graph-cutting reads


def _cuts_graph(node: ast.AST) -> str | None:
    for n in ast.walk(node):
        if isinstance(n, ast.Call) and method_name(n) in ("item", "detach", "numpy", "tolist"):
            return f".{method_name(n)}()"
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id in ("float", "int"):
            return f"{n.func.id}()"
        if isinstance(n, ast.Attribute) and n.attr == "data":
            return ".data"
    return None


def rewrap(ctx: Ctx, node: ast.AST, any_data: bool = False) -> str | None:
    """How `node` builds a graph-less tensor that claims requires_grad, else None.

    With any_data, `torch.tensor(<anything>, requires_grad=True)` counts: torch.tensor always copies into a
    new leaf, so when it *is* the loss that backward() sees, nothing upstream gets a gradient."""
    if not isinstance(node, ast.Call):
        return None
    c = ctx.call_canon(node)
    if c in TENSOR_CTORS and node.args:
        rg = kwarg(node, "requires_grad")
        if isinstance(rg, ast.Constant) and rg.value is True:
            return _cuts_graph(node.args[0]) or (f"{c}(...)" if any_data else None)
    if method_name(node) == "requires_grad_":
        if node.args and not (isinstance(node.args[0], ast.Constant) and node.args[0].value is True):
            return None
        r = receiver(node)
        if isinstance(r, ast.Call) and method_name(r) == "clone":
            r = receiver(r)
        cut = _cuts_graph(r) if r is not None else None
        if cut:
            return cut
        if isinstance(r, ast.Call) and ctx.call_canon(r) in TENSOR_CTORS and r.args:
            return _cuts_graph(r.args[0]) or ("a new tensor" if any_data else None)
    return None


def _returned_rewrap(ctx: Ctx, call: ast.AST) -> str | None:
    """A local function whose every return value is a rewrapped tensor (rmse_loss returning torch.tensor)."""
    if not isinstance(call, ast.Call):
        return None
    name = (dotted(call.func) or "").rsplit(".", 1)[-1]
    fns = ctx.functions.get(name, [])
    if len(fns) != 1:
        return None
    rets = [r.value for r in walk_scope(fns[0]) if isinstance(r, ast.Return) and r.value is not None]
    hows = [rewrap(ctx, r, any_data=True) for r in rets]
    if rets and all(hows):
        return f"{hows[0]} inside {name}()"
    return None


def _silenced(ctx: Ctx, scope, name: str, lo: int, hi: int) -> ast.AST | None:
    """`loss.requires_grad_(True)` / `loss.requires_grad = True` between lo and hi: only needed when the loss
    has no graph (it silences 'element 0 of tensors does not require grad')."""
    for n in walk_scope(scope):
        line = getattr(n, "lineno", 0)
        if not lo <= line <= hi:
            continue
        if isinstance(n, ast.Call) and method_name(n) == "requires_grad_" and dotted(receiver(n)) == name:
            if not n.args or (isinstance(n.args[0], ast.Constant) and n.args[0].value is True):
                return n
        if isinstance(n, ast.Assign) and isinstance(n.value, ast.Constant) and n.value.value is True:
            if any(
                isinstance(t, ast.Attribute) and t.attr == "requires_grad" and dotted(t.value) == name
                for t in n.targets
            ):
                return n
    return None


def check(ctx: Ctx) -> list[Finding]:
    out = []
    mod = sys.modules[__name__]
    for scope in ctx.scopes():
        for e in scope_events(ctx, scope):
            if e.kind != "backward" or e.loss is None or e.via is not None:
                continue
            name = dotted(e.loss)
            if name is None:
                how = rewrap(ctx, e.loss, any_data=True)
                if how:
                    out.append(
                        ctx.finding(
                            mod,
                            e.node,
                            f"backward() on a tensor rebuilt from {how}: no graph, "
                            "no gradients reach the model.",
                            cut=how,
                        )
                    )
                continue
            hits = [(ln, v, st) for ln, v, st in ctx.assignments(scope).get(name, []) if ln <= e.line]
            if not hits:
                continue
            ln, value, stmt = hits[-1]
            how = rewrap(ctx, value, any_data=True) or _returned_rewrap(ctx, value)
            if how:
                out.append(
                    ctx.finding(
                        mod,
                        stmt,
                        f"{name} is rebuilt from {how} with requires_grad=True: it is a new leaf with no graph to "
                        "the model, so backward() gives the parameters no gradient. Keep the loss in torch ops and "
                        "call backward() on it.",
                        variable=name,
                        cut=how,
                        backward_line=e.line,
                    )
                )
                continue
            sil = _silenced(ctx, scope, name, ln, e.line)
            if sil is not None:
                out.append(
                    ctx.finding(
                        mod,
                        sil,
                        f"{name}.requires_grad is forced on before backward(): that is only needed when {name} has no "
                        "graph (computed under no_grad, or from detached values), and it hides the error instead of "
                        "fixing it: the parameters get no gradient.",
                        variable=name,
                        backward_line=e.line,
                    )
                )
                continue
        # a loss-named variable rebuilt from a graph-cutting read, even when it is combined later
        for name, hits in ctx.assignments(scope).items():
            if "loss" not in name.lower():
                continue
            for _line, value, stmt in hits:
                how = rewrap(ctx, value)
                if how:
                    out.append(
                        ctx.finding(
                            mod,
                            stmt,
                            f"{name} is rebuilt from {how} with requires_grad=True: a new leaf with no graph to the "
                            "model. Keep the loss tensor itself.",
                            variable=name,
                            cut=how,
                        )
                    )
    return out

"""A loss rebuilt from a number: `torch.tensor(loss.item(), requires_grad=True)`, `float(loss)`,
`loss.detach().requires_grad_()`, `Variable(loss.data, requires_grad=True)`. The new tensor is a leaf with
no graph behind it: backward() runs without error and no model parameter receives a gradient."""

from __future__ import annotations

import ast
import sys

from traintriage.lint.astutil import Ctx, dotted, kwarg, method_name, receiver, scope_events
from traintriage.report import Finding

RULE = "loss-rewrapped-as-leaf"
CAUSE = "loss-detached"
SEVERITY = "error"
CONFIDENCE = 0.9

TENSOR_CTORS = {"torch.tensor", "torch.as_tensor", "torch.Tensor", "torch.FloatTensor", "torch.autograd.Variable",
                "torch.autograd.variable.Variable", "Variable"}
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


def rewrap(ctx: Ctx, node: ast.AST) -> str | None:
    """How `node` builds a graph-less tensor that claims requires_grad, else None."""
    if not isinstance(node, ast.Call):
        return None
    c = ctx.call_canon(node)
    if c in TENSOR_CTORS and node.args:
        rg = kwarg(node, "requires_grad")
        if isinstance(rg, ast.Constant) and rg.value is True:
            return _cuts_graph(node.args[0])
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
            return _cuts_graph(r.args[0])
    return None


def check(ctx: Ctx) -> list[Finding]:
    out = []
    for scope in ctx.scopes():
        backed = set()
        direct = []
        for e in scope_events(ctx, scope):
            if e.kind == "backward" and e.loss is not None and e.via is None:
                if dotted(e.loss):
                    backed.add(dotted(e.loss))
                direct.append(e.loss)
        for name, hits in ctx.assignments(scope).items():
            for line, value, stmt in hits:
                how = rewrap(ctx, value)
                if how and (name in backed or "loss" in name.lower()):
                    out.append(ctx.finding(
                        sys.modules[__name__], stmt,
                        f"{name} is rebuilt from {how} with requires_grad=True: it is a new leaf with no graph "
                        "to the model, so backward() gives the parameters no gradient. Call backward() on the "
                        "loss tensor itself.",
                        variable=name, cut=how,
                    ))
        for expr in direct:
            how = rewrap(ctx, expr)
            if how:
                out.append(ctx.finding(sys.modules[__name__], expr,
                                       f"backward() on a tensor rebuilt from {how}: no graph, no gradients.", cut=how))
    return out

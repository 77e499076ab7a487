"""Small readings of single AST nodes the lint rules share: dotted names, call arguments, literal numbers,
walking one scope without entering nested definitions. No dataflow here (that is dataflow.py)."""

from __future__ import annotations

import ast
from collections.abc import Iterator

Scope = ast.Module | ast.FunctionDef | ast.AsyncFunctionDef
_DEFS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)
# How far name-following may recurse (assignment chains, call sites, class forwards).
MAX_DEPTH = 10


def short(canon: str | None) -> str:
    return canon.rsplit(".", 1)[-1] if canon else ""


def is_torch_nn(canon: str | None, names: set[str] | dict) -> bool:
    """True for torch.nn.<Name> (any import style) when <Name> is in names."""
    if not canon:
        return False
    last = short(canon)
    return last in names and (canon.startswith("torch.") or canon == last)


def dotted(node: ast.AST) -> str | None:
    """'a.b.c' for Name/Attribute chains, else None (no alias resolution)."""
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return None


def walk_scope(node: ast.AST) -> Iterator[ast.AST]:
    """Every node under `node` in source order, not entering nested defs, classes or lambdas."""
    for child in ast.iter_child_nodes(node):
        yield child
        if not isinstance(child, _DEFS):
            yield from walk_scope(child)


def const_number(node: ast.AST | None) -> float | None:
    if (
        isinstance(node, ast.Constant)
        and isinstance(node.value, int | float)
        and not isinstance(node.value, bool)
    ):
        return float(node.value)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        v = const_number(node.operand)
        return -v if v is not None else None
    return None


def kwarg(call: ast.Call, name: str) -> ast.AST | None:
    for k in call.keywords:
        if k.arg == name:
            return k.value
    return None


def arg(call: ast.Call, pos: int, name: str | None = None) -> ast.AST | None:
    if name is not None:
        v = kwarg(call, name)
        if v is not None:
            return v
    if len(call.args) > pos and not any(isinstance(a, ast.Starred) for a in call.args[: pos + 1]):
        return call.args[pos]
    return None


def method_name(call: ast.AST) -> str | None:
    if isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute):
        return call.func.attr
    return None


def receiver(call: ast.Call) -> ast.AST | None:
    return call.func.value if isinstance(call.func, ast.Attribute) else None


def freezes(node: ast.AST) -> bool:
    """`x.requires_grad = False` or `x.requires_grad_(False)`."""
    if isinstance(node, ast.Assign):
        return any(isinstance(t, ast.Attribute) and t.attr == "requires_grad" for t in node.targets) and (
            isinstance(node.value, ast.Constant) and node.value.value is False
        )
    if isinstance(node, ast.Call) and method_name(node) == "requires_grad_":
        return bool(node.args) and isinstance(node.args[0], ast.Constant) and node.args[0].value is False
    return False

"""Compute the positional encoding but keep using the embeddings without it (`h = self.pos(h)` -> `_tt_pe = ...`)."""

import ast
import copy

from traintriage.mutate.astops import stmt_lists

NAME = "drop-positional-add"
PRODUCES = ["positional-encoding-unused"]


def _is_pos(attr: str) -> bool:
    a = attr.lower()
    return a.startswith("pos") or "positional" in a


def _has_pos(e: ast.AST) -> bool:
    return any(isinstance(n, ast.Attribute) and _is_pos(n.attr) for n in ast.walk(e))


def _positional(value: ast.AST, target: str) -> bool:
    """`h = self.pos(h)` / `h = h + self.pos_emb(...)`: the target re-assigned from itself by a positional
    module, or plus a positional term."""
    if isinstance(value, ast.Call) and isinstance(value.func, ast.Attribute) and _is_pos(value.func.attr):
        return any(isinstance(a, ast.Name) and a.id == target for a in value.args)
    if isinstance(value, ast.BinOp) and isinstance(value.op, ast.Add):
        sides = (value.left, value.right)
        return any(isinstance(a, ast.Name) and a.id == target for a in sides) and any(map(_has_pos, sides))
    return False


def _nested_pos_call(stmt: ast.stmt) -> tuple[ast.AST, str, ast.Call] | None:
    """(parent, field, call) of a `self.pos(x)` call passed straight into another call."""
    for parent in ast.walk(stmt):
        if not isinstance(parent, ast.Call):
            continue
        for i, a in enumerate(parent.args):
            if isinstance(a, ast.Call) and isinstance(a.func, ast.Attribute) and _is_pos(a.func.attr) \
                    and len(a.args) == 1:
                return parent, str(i), a
    return None


def apply(tree: ast.Module) -> bool:
    for n in ast.walk(tree):
        if isinstance(n, ast.Assign) and len(n.targets) == 1 and isinstance(n.targets[0], ast.Name) \
                and _positional(n.value, n.targets[0].id):
            n.targets = [ast.Name(id="_tt_pe", ctx=ast.Store())]
            return True
    for body in stmt_lists(tree):  # h = self.encoder(self.pos(h)): compute it aside, pass h as it was
        for i, stmt in enumerate(body):
            if not isinstance(stmt, (ast.Assign, ast.AugAssign, ast.Return, ast.Expr)):
                continue  # a compound statement's own body is one of the lists visited
            hit = _nested_pos_call(stmt)
            if hit is None:
                continue
            parent, idx, call = hit
            parent.args[int(idx)] = copy.deepcopy(call.args[0])
            body.insert(i, ast.Assign(targets=[ast.Name(id="_tt_pe", ctx=ast.Store())], value=call))
            return True
    return False

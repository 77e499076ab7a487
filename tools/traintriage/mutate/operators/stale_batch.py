"""Fetch one batch before the loop and train on it every step (`x, y = next(iter(loader))` hoisted out)."""

import ast

from traintriage.mutate.astops import is_method_stmt

NAME = "stale-batch"
PRODUCES = ["stale-batch"]


def _batch_loop(loop: ast.stmt) -> tuple[ast.expr, ast.expr, ast.expr] | None:
    """(loader, batch target, the loop target to keep) for `for x, y in loader` / `for i, (x, y) in enumerate(loader)`."""
    if not isinstance(loop, ast.For):
        return None
    it, tgt = loop.iter, loop.target
    if isinstance(it, ast.Name | ast.Attribute) and isinstance(tgt, ast.Tuple | ast.Name):
        return it, tgt, ast.Name("_tt_unused", ast.Store())
    if (isinstance(it, ast.Call) and isinstance(it.func, ast.Name) and it.func.id == "enumerate" and it.args
            and isinstance(it.args[0], ast.Name | ast.Attribute) and isinstance(tgt, ast.Tuple) and len(tgt.elts) == 2):
        return it.args[0], tgt.elts[1], ast.Tuple([tgt.elts[0], ast.Name("_tt_unused", ast.Store())], ast.Store())
    return None


def apply(tree: ast.Module) -> bool:
    for parent in ast.walk(tree):
        body = getattr(parent, "body", None)
        if not isinstance(body, list):
            continue
        for i, loop in enumerate(body):
            found = _batch_loop(loop)
            if found is None or not any(is_method_stmt(s, "backward") for s in ast.walk(loop)
                                        if isinstance(s, ast.stmt)):
                continue
            loader, batch, keep = found
            body.insert(i, ast.parse(f"_tt_fixed_batch = next(iter({ast.unparse(loader)}))").body[0])
            loop.target = keep
            loop.body.insert(0, ast.Assign(targets=[batch], value=ast.Name("_tt_fixed_batch", ast.Load()), lineno=0))
            return True
    return False

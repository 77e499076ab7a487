"""Shared walk for the loss-input rules: every CE / NLL / BCE call with the kind of its input."""

from __future__ import annotations

import ast
from collections.abc import Iterator

from traintriage.lint.context import Ctx


def loss_inputs(
    ctx: Ctx, types: set[str]
) -> Iterator[tuple[ast.Call, str, ast.AST, ast.AST | None, str | None]]:
    """(call, loss type, input expr, target expr, input kind) for each loss call of the given types."""
    for node in ast.walk(ctx.tree):
        if not isinstance(node, ast.Call):
            continue
        scope = ctx.scope_of(node)
        lc = ctx.loss_call(node, scope)
        if lc is None or lc[0] not in types or lc[1] is None:
            continue
        yield node, lc[0], lc[1], lc[2], ctx.kind(lc[1], scope, node.lineno)

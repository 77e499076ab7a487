"""Gradient accumulation without dividing the loss by the number of micro-batches: an N-times larger step."""

import ast

from traintriage.mutate.astops import dotted, stmt_lists

NAME = "drop-accum-scaling"
PRODUCES = ["grad-accum-not-scaled"]


def _is_accum(node: ast.AST) -> bool:
    """A divisor that names the accumulation count (`accum_steps`, `self.grad_accum`, `gradient_accumulation`)."""
    return any("accum" in (dotted(n) or "").lower() for n in ast.walk(node))


class _Undivide(ast.NodeTransformer):
    hit = False

    def visit_BinOp(self, node: ast.BinOp) -> ast.AST:
        self.generic_visit(node)
        if isinstance(node.op, ast.Div) and _is_accum(node.right):
            self.hit = True
            return node.left
        return node


def apply(tree: ast.Module) -> bool:
    hit = False
    for body in stmt_lists(tree):  # `loss /= accum_steps`
        keep = [s for s in body if not (isinstance(s, ast.AugAssign) and isinstance(s.op, ast.Div)
                                        and _is_accum(s.value))]
        if len(keep) != len(body):
            body[:] = keep or [ast.Pass()]
            hit = True
    t = _Undivide()
    t.visit(tree)
    return hit or t.hit

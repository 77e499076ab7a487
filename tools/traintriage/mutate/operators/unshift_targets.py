"""Next-token targets not shifted: the LM is trained to copy its input token instead of predicting the next one."""

import ast

from traintriage.mutate.astops import dotted

NAME = "unshift-targets"
PRODUCES = ["labels-misaligned", "label-leakage"]
TARGET_NAMES = ("y", "target", "targets", "label", "labels", "tgt", "yb", "y_batch")


class _Unshift(ast.NodeTransformer):
    """Inside slices: `i + 1` -> `i`, and a `1:` start -> `:-1` (the input's own slice)."""

    hit = False

    def _drop_plus_one(self, b: ast.expr) -> ast.expr:
        """`i + 1` -> `i`, also inside a sum (`i + 1 + T` -> `i + T`)."""
        if isinstance(b, ast.BinOp) and isinstance(b.op, ast.Add):
            if isinstance(b.right, ast.Constant) and b.right.value == 1:
                self.hit = True
                return b.left
            b.left = self._drop_plus_one(b.left)
        return b

    def visit_Slice(self, node: ast.Slice) -> ast.AST:
        self.generic_visit(node)
        if isinstance(node.lower, ast.Constant) and node.lower.value == 1 and node.upper is None:
            self.hit = True
            return ast.Slice(lower=None, upper=ast.Constant(-1), step=node.step)
        for field in ("lower", "upper"):
            b = getattr(node, field)
            if b is not None:
                setattr(node, field, self._drop_plus_one(b))
        return node


def apply(tree: ast.Module) -> bool:
    hit = False
    for n in ast.walk(tree):
        if isinstance(n, ast.Assign) and any((dotted(t) or "").split(".")[-1].lower() in TARGET_NAMES
                                            for t in n.targets):
            t = _Unshift()
            t.visit(n.value)
            hit = hit or t.hit
    return hit

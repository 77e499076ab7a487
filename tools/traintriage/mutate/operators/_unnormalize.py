"""Shared by the normalization operators: `(v - mean) / std` -> `v` for names that look like inputs or targets."""

import ast

from traintriage.mutate.astops import dotted


def _base(node: ast.AST) -> str:
    name = (dotted(node) or "").split(".")[-1].lower()
    return name


class Unnormalize(ast.NodeTransformer):
    def __init__(self, prefixes: tuple[str, ...]) -> None:
        self.prefixes = prefixes
        self.hit = False

    def visit_BinOp(self, node: ast.BinOp) -> ast.AST:
        self.generic_visit(node)
        if (isinstance(node.op, ast.Div) and isinstance(node.left, ast.BinOp) and isinstance(node.left.op, ast.Sub)
                and _base(node.left.left).startswith(self.prefixes)):
            self.hit = True
            return node.left.left
        return node


def unnormalize(tree: ast.Module, prefixes: tuple[str, ...]) -> bool:
    t = Unnormalize(prefixes)
    t.visit(tree)
    return t.hit

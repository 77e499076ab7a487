"""Shared by the normalization operators: `(v - mean) / std` -> `v` for names that look like inputs or targets."""

import ast

from traintriage.mutate.astops import dotted


def _base(node: ast.AST) -> str:
    name = (dotted(node) or "").split(".")[-1].lower()
    return name


class Unnormalize(ast.NodeTransformer):
    def __init__(self, prefixes: tuple[str, ...], skip_in_place: bool = False) -> None:
        self.prefixes = prefixes
        self.skip_in_place = skip_in_place
        self.hit = False

    def visit_Assign(self, node: ast.Assign) -> ast.AST:
        v = node.value
        if (self.skip_in_place and isinstance(v, ast.BinOp) and isinstance(v.op, ast.Div)
                and isinstance(v.left, ast.BinOp) and isinstance(v.left.op, ast.Sub)
                and any(dotted(t) is not None and dotted(t) == dotted(v.left.left) for t in node.targets)):
            return node  # `y = (y - m) / s`: standardised in place (see raw_targets.apply)
        self.generic_visit(node)
        return node

    def visit_BinOp(self, node: ast.BinOp) -> ast.AST:
        self.generic_visit(node)
        if (isinstance(node.op, ast.Div) and isinstance(node.left, ast.BinOp) and isinstance(node.left.op, ast.Sub)
                and _base(node.left.left).startswith(self.prefixes)):
            self.hit = True
            return node.left.left
        return node


def unnormalize(tree: ast.Module, prefixes: tuple[str, ...], *, skip_in_place: bool = False) -> bool:
    t = Unnormalize(prefixes, skip_in_place)
    t.visit(tree)
    return t.hit

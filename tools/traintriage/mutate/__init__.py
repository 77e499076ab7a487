"""Bugs injected by mutation operators (issue 12): one small file per operator under `operators/`, each an AST
transform that plants one realistic training bug in a healthy host script and declares the catalogue ids a
correct diagnosis names. `matrix.py` applies every operator to every host, keeps the mutants that learn
measurably worse than their host (beyond seed noise), triages them and scores the tools.
"""

from __future__ import annotations

from traintriage.mutate.operators import OPERATORS, Operator, by_id

__all__ = ["OPERATORS", "Operator", "by_id", "mutate_source"]


def mutate_source(src: str, op: Operator) -> str | None:
    """The host's source with `op`'s bug planted, or None when the operator does not apply to this host."""
    import ast

    try:
        tree = ast.parse(src)
    except SyntaxError:
        return None
    if not op.apply(tree):
        return None
    ast.fix_missing_locations(tree)
    out = ast.unparse(tree)
    return out if out.strip() != ast.unparse(ast.parse(src)).strip() else None

"""Take the attention softmax over the queries (dim=-2) instead of the keys (dim=-1) in hand-written attention."""

import ast

from traintriage.mutate.astops import call_name

NAME = "softmax-over-queries"
PRODUCES = ["attention-softmax-wrong-axis", "non-finite-loss"]


def _scores_fn(fn: ast.AST) -> bool:
    """The function computes attention scores: an `@` with a transpose of the last two axes."""
    return any(isinstance(n, ast.BinOp) and isinstance(n.op, ast.MatMult) and "transpose(-2, -1)" in ast.unparse(n)
               for n in ast.walk(fn))


def apply(tree: ast.Module) -> bool:
    done = False
    for fn in ast.walk(tree):
        if not isinstance(fn, ast.FunctionDef) or not _scores_fn(fn):
            continue
        for c in ast.walk(fn):
            if isinstance(c, ast.Call) and call_name(c) == "softmax":
                for kw in c.keywords:
                    if kw.arg == "dim" and ast.unparse(kw.value) == "-1":
                        kw.value = ast.parse("-2", mode="eval").body
                        done = True
    return done

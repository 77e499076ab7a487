"""Split attention heads by reshaping (B, T, C) straight to (B, H, T, d), without view(B, T, H, d).transpose(1, 2)."""

import ast

from traintriage.mutate.astops import call_name

NAME = "heads-no-transpose"
PRODUCES = ["heads-split-without-transpose"]


def apply(tree: ast.Module) -> bool:
    done = False
    for n in ast.walk(tree):
        for field, value in ast.iter_fields(n):
            if not (isinstance(value, ast.Call) and call_name(value) == "transpose"
                    and [ast.unparse(a) for a in value.args] == ["1", "2"]):
                continue
            inner = value.func.value if isinstance(value.func, ast.Attribute) else None
            if isinstance(inner, ast.Call) and call_name(inner) in ("view", "reshape") and len(inner.args) == 4:
                b, t, h, d = inner.args
                inner.func.attr = "reshape"
                inner.args = [b, h, t, d]
                setattr(n, field, inner)
                done = True
    return done

"""load_state_dict(..., strict=False) with its result thrown away. strict=False silently skips every key
that does not match (a "module." prefix, a renamed head): the model can load nothing and train from
scratch, or keep a random head, with no message. (Tensors with the same key but a different shape still
raise.) Keeping the returned missing/unexpected keys and checking them is the fix; that is not flagged."""

from __future__ import annotations

import ast
import sys

from traintriage.lint.context import Ctx
from traintriage.lint.syntax import dotted, kwarg, method_name, receiver
from traintriage.report import Finding

RULE = "load-state-dict-strict-false-unchecked"
CAUSE = "state-dict-shape-mismatch"
SEVERITY = "warning"
CONFIDENCE = 0.55


def check(ctx: Ctx) -> list[Finding]:
    out = []
    for node in ast.walk(ctx.tree):
        if not (isinstance(node, ast.Call) and method_name(node) == "load_state_dict"):
            continue
        strict = kwarg(node, "strict")
        if strict is None and len(node.args) >= 2:
            strict = node.args[1]
        if not (isinstance(strict, ast.Constant) and strict.value is False):
            continue
        if not isinstance(ctx.parent.get(node), ast.Expr):
            continue  # the result (missing/unexpected keys) is kept
        model = dotted(receiver(node)) or "model"
        scope = ctx.scope_of(node)
        heads = [
            name
            for name, hits in ctx.assignments(scope).items()
            if name.startswith(model + ".") and any(isinstance(v, ast.Call) for _l, v, _s in hits)
        ]
        out.append(
            ctx.finding(
                sys.modules[__name__],
                node,
                f"{model}.load_state_dict(..., strict=False) discards the list of missing and unexpected keys: "
                "mismatched names load nothing, silently. Keep the result and assert it only lists what you expect"
                + (f" (the script replaces {', '.join(heads)})." if heads else "."),
                confidence=0.7 if heads else CONFIDENCE,
                replaced_modules=heads,
            )
        )
    return out

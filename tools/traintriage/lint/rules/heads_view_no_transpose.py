"""A tensor split into attention heads with a 4-d `view`/`reshape` and used in attention without a transpose.

The head split of a (B, T, C) projection is `x.view(B, T, H, C // H).transpose(1, 2)`, giving (B, H, T, d). Without
the transpose, `q @ k.transpose(-2, -1)` on (B, T, H, d) computes (B, T, H, H) scores: each position attends
over its own heads, never over the other positions; `x.view(B, H, T, d)` straight from (B, T, C) reinterprets
memory, so each "head" holds slices of several positions (PyTorch docs, Tensor.view: no data movement). Both
run, with every shape valid.

Flagged: inside one function, a name assigned from a 4-argument `.view(...)` / `.reshape(...)` of a tensor not
itself transposed or permuted, then used, before any reassignment, as an operand of `@`, `torch.matmul`,
`torch.bmm` or `F.scaled_dot_product_attention` (directly or through a transpose of its last two axes). A
transpose or permute of the split name, `einsum` (which names its axes) and `einops.rearrange` are never flagged.
"""

from __future__ import annotations

import ast
import sys

from traintriage.lint.context import Ctx
from traintriage.lint.syntax import dotted, method_name, receiver
from traintriage.report import Finding

RULE = "heads-split-view-without-transpose"
CAUSE = "heads-split-without-transpose"
SEVERITY = "warning"
CONFIDENCE = 0.7

SPLITS = ("view", "reshape")
REORDERS = ("transpose", "permute", "swapaxes", "movedim", "rearrange", "t")
ATTENTION_CALLS = ("matmul", "bmm", "scaled_dot_product_attention")
LAST_TWO = ({-2, -1}, {2, 3})


def _split_call(value: ast.AST) -> bool:
    """`x.view(a, b, c, d)` / `x.reshape(a, b, c, d)` of an x that was not reordered first."""
    if not (isinstance(value, ast.Call) and method_name(value) in SPLITS and len(value.args) == 4):
        return False
    rec = receiver(value)
    return rec is not None and not any(isinstance(n, ast.Call) and method_name(n) in REORDERS for n in ast.walk(rec))


def _split_targets(node: ast.Assign) -> list[str]:
    if len(node.targets) != 1:
        return []
    tgt, value = node.targets[0], node.value
    if isinstance(tgt, ast.Name) and _split_call(value):
        return [tgt.id]
    # q, k, v = (t.view(B, T, H, d) for t in (q, k, v))
    if isinstance(tgt, ast.Tuple) and isinstance(value, (ast.GeneratorExp, ast.ListComp)) and _split_call(value.elt):
        return [e.id for e in tgt.elts if isinstance(e, ast.Name)]
    return []


def _last_two(call: ast.Call) -> bool:
    vals = []
    for a in call.args:
        if isinstance(a, ast.UnaryOp) and isinstance(a.op, ast.USub) and isinstance(a.operand, ast.Constant):
            vals.append(-a.operand.value)
        elif isinstance(a, ast.Constant):
            vals.append(a.value)
    return len(vals) == 2 and set(vals) in LAST_TWO


def _operand_name(e: ast.AST) -> str | None:
    """The split name an attention operand is: the name itself, or its transpose over the last two axes."""
    if isinstance(e, ast.Name):
        return e.id
    if isinstance(e, ast.Call) and method_name(e) == "transpose" and _last_two(e):
        rec = receiver(e)
        return rec.id if isinstance(rec, ast.Name) else None
    if isinstance(e, ast.Attribute) and e.attr == "mT" and isinstance(e.value, ast.Name):
        return e.value.id
    return None


def _uses(node: ast.AST) -> list[ast.AST]:
    """The operands of an attention product: `a @ b`, torch.matmul / torch.bmm / F.scaled_dot_product_attention."""
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.MatMult):
        return [node.left, node.right]
    if isinstance(node, ast.Call):
        parts = (dotted(node.func) or "").split(".")
        if len(parts) >= 2 and parts[-1] in ATTENTION_CALLS and parts[0] in ("torch", "F", "nn", "functional"):
            return list(node.args[:3])
    return []


def check(ctx: Ctx) -> list[Finding]:
    out = []
    for fn in ast.walk(ctx.tree):
        if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        events: list[tuple[int, int, ast.AST]] = []  # (line, 0 use / 1 assignment, node): uses of a line first
        for node in ast.walk(fn):
            if isinstance(node, ast.Assign):
                events.append((node.lineno, 1, node))
            elif _uses(node):
                events.append((node.lineno, 0, node))
        split: dict[str, int] = {}
        flagged: set[str] = set()
        for _line, kind, node in sorted(events, key=lambda e: (e[0], e[1])):
            if kind == 1:
                names = _split_targets(node)
                for t in node.targets:
                    for n in ast.walk(t):
                        if isinstance(n, ast.Name):
                            split.pop(n.id, None)
                split.update(dict.fromkeys(names, node.lineno))
                continue
            hits = [n for n in map(_operand_name, _uses(node)) if n in split]
            for name in hits[:1] if not flagged else []:  # one finding per function
                flagged.add(name)
                out.append(ctx.finding(
                    sys.modules[__name__], node,
                    f"`{name}` is split into heads with a 4-d view/reshape (line {split[name]}) and goes into "
                    "attention without transpose(1, 2): the scores then run over the heads at each position (or "
                    "mix positions across heads), not over positions. Split with "
                    "`x.view(B, T, H, C // H).transpose(1, 2)` and merge back with "
                    "`out.transpose(1, 2).contiguous().view(B, T, C)`.",
                    name=name, split_line=split[name]))
    return out

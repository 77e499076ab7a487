"""Find the additive terms of the loss from the autograd graph above it (no marker needed).

The loss passed to backward() is a graph: `main + 50 * aux` is AddBackward0(<main's node>, MulBackward0(<aux's
node>)). Walking down from `loss.grad_fn` through the nodes that only add, subtract, scale by a constant or
sum a stack of tensors, every node where the walk stops is one term: its gradient contributions add up to the
whole loss's (the chain rule is linear in them), so the decomposition of probe/grads_record.py has no residual.
Outer transforms met on the way (`log1p`, `log`, `sqrt`, `tanh`, `sigmoid`, `clamp`) are recorded with the
terms under them, so their slope d(outer)/d(inner) can be measured.

Pure over one graph; the nodes are named through the tracer's map (probe/term_trace.py: grad_fn -> tensor and
source position) and the terms the recorder already captured (standard loss calls, `traintriage.term`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# Nodes whose output is a sum of their inputs' (up to sign): the walk goes through them.
ADDITIVE = frozenset({"AddBackward0", "SubBackward0", "AddBackward1", "SubBackward1"})
# Nodes that scale one differentiable input by a constant (the other operand is not in the graph).
SCALING = frozenset({"MulBackward0", "DivBackward0", "NegBackward0", "MulBackward1", "DivBackward1"})
# A sum / mean of a stack of terms (`torch.stack(losses).sum()`): the walk goes into the stack.
REDUCING = frozenset({"SumBackward0", "MeanBackward0", "SumBackward1", "MeanBackward1"})
STACKING = frozenset({"StackBackward0", "CatBackward0"})
# Outer transforms whose slope d(outer)/d(inner) can vanish on a large or saturated input.
TRANSFORMS = {"Log1PBackward0": "log1p", "LogBackward0": "log", "SqrtBackward0": "sqrt", "TanhBackward0": "tanh",
              "SigmoidBackward0": "sigmoid", "ClampBackward1": "clamp", "ClampBackward0": "clamp",
              "ClampMinBackward0": "clamp", "ClampMaxBackward0": "clamp"}
# A loss built from more pieces than this is not a sum of hand-written terms (a per-element Python loop).
MAX_TERMS = 32


@dataclass
class Part:
    """One additive term: `core` is the node under any constant weights, `top` the node that names it."""

    core: Any
    edge: tuple[Any, int]  # (core node, output number): the GradientEdge of the term
    top: Any  # outermost node of the term below the split (the weighted expression, e.g. `50 * aux`)
    transforms: list[int] = field(default_factory=list)  # indexes into Split.transforms above this term


@dataclass
class Transform:
    op: str
    node: Any
    inner: tuple[Any, int]  # edge of its input
    top: Any  # the node that names it (itself, or a constant weight around it)


@dataclass
class Split:
    parts: list[Part]
    transforms: list[Transform]
    complete: bool  # False when the walk gave up (too many terms): the parts are not the whole loss
    adds: list[Any] = field(default_factory=list)  # the additive nodes walked (their constant operands: term_names)


def split_loss(loss: Any, same_expr: Any = None) -> Split:
    """The additive terms of `loss` (a scalar tensor with a grad_fn), from its autograd graph."""
    out = Split(parts=[], transforms=[], complete=True)
    root = loss.grad_fn
    if root is None:
        return out
    _walk(root, 0, None, [], out, set(), same_expr or (lambda a, b: True))
    return out


def _children(node: Any) -> list[tuple[Any, int]]:
    return [(c, i) for c, i in node.next_functions if c is not None]


def _walk(node: Any, nr: int, top: Any, under: list[int], out: Split, seen: set[int], same: Any) -> None:
    """`same(a, b)`: nodes a and b come from one source expression (a weight is followed down to the term it
    scales only within the expression that names the term: `20 * entropy` stops at `entropy`'s own node)."""
    if len(out.parts) >= MAX_TERMS:
        out.complete = False
        return
    kind = type(node).__name__
    kids = _children(node)
    if kind in ADDITIVE and kids and id(node) not in seen:
        seen.add(id(node))  # a node reached twice (x + x) is one term counted twice: stop there
        out.adds.append(node)
        for c, i in kids:
            _walk(c, i, None, under, out, seen, same)
        return
    if kind in SCALING and len(kids) == 1 and (top is None or same(top, node)):
        c, i = kids[0]
        _walk(c, i, top if top is not None else node, under, out, seen, same)
        return
    if kind in REDUCING and len(kids) == 1 and type(kids[0][0]).__name__ in STACKING:
        for c, i in _children(kids[0][0]):
            _walk(c, i, None, under, out, seen, same)
        return
    if kind in TRANSFORMS and len(kids) == 1:
        out.transforms.append(Transform(op=TRANSFORMS[kind], node=node, inner=kids[0],
                                        top=top if top is not None else node))
        _walk(kids[0][0], kids[0][1], None, [*under, len(out.transforms) - 1], out, seen, same)
        return
    out.parts.append(Part(core=node, edge=(node, nr), top=top if top is not None else node, transforms=list(under)))

"""torch.optim.Adam (or NAdam / RAdam / Adamax) with weight_decay > 0 adds an L2 term to the gradient,
which the adaptive denominator then rescales: large-gradient weights are barely decayed. AdamW decouples
it (Loshchilov & Hutter, "Decoupled Weight Decay Regularization", ICLR 2019). AdamW with weight_decay is
the fix and is not flagged; NAdam/RAdam with decoupled_weight_decay=True are not flagged."""

from __future__ import annotations

import ast
import sys

from traintriage.lint.context import Ctx, number
from traintriage.lint.syntax import arg, kwarg, short
from traintriage.report import Finding

RULE = "adam-with-weight-decay"
CAUSE = "adam-coupled-weight-decay"
SEVERITY = "warning"
CONFIDENCE = 0.7

COUPLED = {"Adam", "NAdam", "RAdam", "Adamax"}


def group_decays(ctx: Ctx, call: ast.Call) -> list[float]:
    """weight_decay values set in param-group dicts passed as the first argument."""
    params = arg(call, 0, "params")
    out = []
    if isinstance(params, ast.List | ast.Tuple):
        for el in params.elts:
            if isinstance(el, ast.Dict):
                for k, v in zip(el.keys, el.values, strict=True):
                    if isinstance(k, ast.Constant) and k.value == "weight_decay":
                        n = number(ctx, v, ctx.scope_of(call), call.lineno)
                        if n is not None:
                            out.append(n)
    return out


def check(ctx: Ctx) -> list[Finding]:
    out = []
    for call in ctx.optimizer_ctors():
        c = ctx.call_canon(call) or ""
        if short(c) not in COUPLED or not c.startswith("torch."):
            continue
        dec = kwarg(call, "decoupled_weight_decay")
        if isinstance(dec, ast.Constant) and dec.value is True:
            continue
        wd_node = kwarg(call, "weight_decay")
        if wd_node is None and len(call.args) >= 5 and short(c) == "Adam":
            wd_node = call.args[4]  # Adam(params, lr, betas, eps, weight_decay)
        wds = group_decays(ctx, call)
        wd = number(ctx, wd_node, ctx.scope_of(call), call.lineno) if wd_node is not None else None
        if wd is not None:
            wds.append(wd)
        if wds and max(wds) > 0:
            out.append(
                ctx.finding(
                    sys.modules[__name__],
                    call,
                    f"{short(c)} with weight_decay={max(wds):g} applies L2 through the adaptive update, so decay is "
                    "weakest on the weights with the largest gradients; use torch.optim.AdamW for decoupled decay.",
                    optimizer=short(c),
                    weight_decay=max(wds),
                )
            )
    return out

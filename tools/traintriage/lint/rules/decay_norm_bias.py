"""Weight decay on `model.parameters()` as one group decays norm gains/biases and linear biases too,
pulling LayerNorm/BatchNorm scales toward zero. The usual recipe puts 1-D parameters in a group with
weight_decay=0 (minGPT/nanoGPT `configure_optimizers`; Goyal et al. 2017 "no bias decay").

Severity: warning when the decay is transformer-sized (>= DECAY_WARN) and the model has norm layers;
info otherwise (the classic ResNet recipe, SGD with 1e-4..5e-4 on everything, trains fine)."""

from __future__ import annotations

import ast
import sys

from traintriage.lint.context import Ctx, number
from traintriage.lint.syntax import arg, kwarg, method_name, short
from traintriage.lint.vocab import BIAS_LAYERS, NORM_CONTAINING, NORM_LAYERS
from traintriage.report import Finding

RULE = "decay-on-all-parameters"
CAUSE = "decay-on-norm-and-bias"
SEVERITY = "warning"
CONFIDENCE = 0.5
# minGPT/nanoGPT use 0.1 with norms excluded; below 1e-2 the pull on a gain of 1.0 is negligible over a run.
DECAY_WARN = 1e-2
# AdamW's default weight_decay (torch docs) when the argument is left out.
ADAMW_DEFAULT = 1e-2


def _plain_parameters(node: ast.AST | None) -> ast.AST | None:
    """The receiver when params is `X.parameters()` (optionally in list()/filter()), not param groups."""
    if node is None:
        return None
    if isinstance(node, ast.Call) and method_name(node) == "parameters":
        return node.func.value
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("list", "filter"):
        for a in node.args:
            r = _plain_parameters(a)
            if r is not None:
                return r
    return None


def check(ctx: Ctx) -> list[Finding]:
    out = []
    for call in ctx.optimizer_ctors():
        c = ctx.call_canon(call) or ""
        root = _plain_parameters(arg(call, 0, "params"))
        if root is None:
            continue
        wd_node = kwarg(call, "weight_decay")
        if wd_node is None:
            continue  # only an explicit decay (AdamW's silent default is a smaller issue)
        wd = number(ctx, wd_node, ctx.scope_of(call), call.lineno)
        if not wd or wd <= 0:
            continue
        layers = ctx.model_layers(root, ctx.scope_of(call), call.lineno)
        if not layers:
            continue
        norms = sorted(layers & (NORM_LAYERS | NORM_CONTAINING))
        biases = sorted(layers & BIAS_LAYERS)
        if not norms and not biases:
            continue
        severity = "warning" if (wd >= DECAY_WARN and norms) else "info"
        out.append(
            ctx.finding(
                sys.modules[__name__],
                call,
                f"{short(c)} decays every parameter of the model (weight_decay={wd:g}), including "
                f"{'norm layers (' + ', '.join(norms) + ') and ' if norms else ''}biases; put 1-D parameters in a "
                "param group with weight_decay=0.",
                confidence=0.6 if severity == "warning" else 0.35,
                severity=severity,
                weight_decay=wd,
                norm_layers=norms,
            )
        )
    return out

"""Parameters are frozen (`p.requires_grad = False`, `.requires_grad_(False)`) after the optimizer was built
from all of them, and training continues. The optimizer still holds them: if their .grad was ever
populated and is zeroed rather than set to None, momentum and weight decay keep moving "frozen" weights;
it also hides which parameters are meant to train. Build the optimizer from the trainable ones after
freezing. A warning: with set_to_none (the default since PyTorch 2.0) the weights stay put."""

from __future__ import annotations

import ast
import sys

from traintriage.lint.context import Ctx, backward_lines, filters_requires_grad, parameters_roots
from traintriage.lint.syntax import freezes
from traintriage.report import Finding

RULE = "freeze-after-optimizer"
CAUSE = "frozen-param-in-optimizer"
SEVERITY = "warning"
CONFIDENCE = 0.6


def check(ctx: Ctx) -> list[Finding]:
    out = []
    ctors = ctx.optimizer_ctors()
    for opt in ctors:
        if filters_requires_grad(ctx, opt) or not parameters_roots(ctx, opt):
            continue
        scope = ctx.scope_of(opt)
        trains = backward_lines(ctx, scope)
        for node in ast.walk(scope):
            line = getattr(node, "lineno", 0)
            if line <= opt.lineno or not freezes(node):
                continue
            after = [t for t in trains if t > line]
            if not after or any(line < o.lineno < after[0] for o in ctors):
                continue
            out.append(
                ctx.finding(
                    sys.modules[__name__],
                    node,
                    f"parameters are frozen after the optimizer (line {opt.lineno}) was built from all of them; "
                    "freeze first, then build the optimizer from [p for p in model.parameters() if p.requires_grad].",
                    optimizer_line=opt.lineno,
                )
            )
            break
    return out

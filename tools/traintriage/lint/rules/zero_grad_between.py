"""zero_grad() between backward() and step() wipes the gradients just computed, so step() applies zeros.

Mapped to `step-order`, not `missing-zero-grad`: zero_grad is present, the three calls are in the wrong
order. The search is cyclic over the loop body, so `zero_grad(); step(); backward()` (the step of the next
iteration meets zeroed gradients) is caught too, while `backward(); step(); zero_grad()` and
`zero_grad(); backward(); step()` are not flagged."""

from __future__ import annotations

import sys

from traintriage.lint.context import Ctx
from traintriage.lint.rules._loops import cyclic_after, loop_events
from traintriage.report import Finding

RULE = "zero-grad-between-backward-and-step"
CAUSE = "step-order"
SEVERITY = "error"
CONFIDENCE = 0.85


def _same_optimizer(ctx: Ctx, zero_recv: str | None, step_recv: str | None) -> bool:
    """Does zeroing `zero_recv` clear the gradients `step_recv` is about to apply?"""
    if zero_recv is None or step_recv is None or zero_recv == step_recv:
        return True
    if ctx.is_optimizer_name(zero_recv):
        return False  # a different optimizer (GAN: netD / netG) does not touch this one's params
    # model.zero_grad(): clears the step's gradients when that optimizer holds this model's parameters
    from traintriage.lint.context import parameters_roots

    roots = [r for c in ctx.optimizers().get(step_recv, []) for r in parameters_roots(ctx, c)]
    return not roots or any(zero_recv == r or r.startswith(zero_recv + ".") for r in roots)


def check(ctx: Ctx) -> list[Finding]:
    out = []
    seen = set()
    for _loop, events in loop_events(ctx):
        for i, e in enumerate(events):
            if e.kind != "backward":
                continue
            zeros = []
            for nxt in cyclic_after(events, i):
                if nxt.kind == "backward":
                    break  # another backward resets the question
                if nxt.kind == "zero_grad":
                    zeros.append(nxt)
                if nxt.kind == "step":
                    bad = [z for z in zeros if _same_optimizer(ctx, z.recv, nxt.recv)]
                    if bad and bad[0].line not in seen:
                        seen.add(bad[0].line)
                        out.append(
                            ctx.finding(
                                sys.modules[__name__],
                                bad[0].node,
                                f"{bad[0].recv or ''}.zero_grad() runs after backward() (line {e.line}) and before "
                                f"{nxt.recv or ''}.step() (line {nxt.line}): the step applies zeroed gradients. "
                                "Call zero_grad() before the forward pass or after step().",
                                backward_line=e.line,
                                zero_grad_line=bad[0].line,
                                step_line=nxt.line,
                            )
                        )
                    break
    return out

"""lr_scheduler.step() before optimizer.step() in the same loop body. Since PyTorch 1.1 the scheduler must
step after the optimizer; the other order skips the first value of the schedule (PyTorch warns about it).

Mapped to `scheduler-misuse` rather than `step-order`: the optimizer's own backward/step/zero_grad order is
right; it is the schedule that is applied off by one. A warning: training still learns."""

from __future__ import annotations

import sys

from traintriage.lint.context import Ctx
from traintriage.lint.rules._loops import loop_events
from traintriage.report import Finding

RULE = "scheduler-step-before-optimizer-step"
CAUSE = "scheduler-misuse"
SEVERITY = "warning"
CONFIDENCE = 0.7


def check(ctx: Ctx) -> list[Finding]:
    out = []
    seen = set()
    for loop, events in loop_events(ctx):
        direct = [e for e in events if e.via is None and ctx.enclosing_loops(e.node)[:1] == [loop]]
        steps = [e for e in direct if e.kind == "step"]
        scheds = [e for e in direct if e.kind == "sched_step" and not e.node.args]
        if not steps or not scheds:
            continue
        s = scheds[0]
        if s.line < steps[0].line and s.line not in seen:
            seen.add(s.line)
            out.append(
                ctx.finding(
                    sys.modules[__name__],
                    s.node,
                    f"{s.recv}.step() runs before {steps[0].recv}.step() (line {steps[0].line}) in the same loop "
                    "body: the schedule's first value is skipped. Step the scheduler after the optimizer.",
                    scheduler_line=s.line,
                    step_line=steps[0].line,
                )
            )
    return out

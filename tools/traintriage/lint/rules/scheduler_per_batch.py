"""An epoch-scale LR scheduler stepped once per batch. StepLR(step_size=3), MultiStepLR([30, 60]),
ExponentialLR(gamma=0.9), CosineAnnealingLR(T_max=epochs) and ReduceLROnPlateau(patience=3) count their
argument in scheduler steps; stepped inside the loop over a DataLoader they decay (or cycle) every few
batches, so the learning rate collapses within the first epoch. Schedulers meant to be stepped per batch
(OneCycleLR, CyclicLR, LambdaLR warmups, transformers' get_*_schedule_with_warmup) are not flagged, nor
are epoch-scale ones whose period is large enough to be counted in batches (>= PER_BATCH_PERIOD)."""

from __future__ import annotations

import ast
import sys

from traintriage.lint.context import Ctx, number
from traintriage.lint.rules._loops import loop_events
from traintriage.lint.syntax import arg, dotted, method_name, receiver, short
from traintriage.report import Finding

RULE = "epoch-scheduler-stepped-per-batch"
CAUSE = "scheduler-misuse"
SEVERITY = "error"
CONFIDENCE = 0.75

# Periods below this many steps are epoch counts, not batch counts: even small datasets give ~30-1000
# batches per epoch (PyTorch's StepLR/MultiStepLR examples use step_size=30 and milestones=[30, 80] epochs).
PER_BATCH_PERIOD = 100
# ExponentialLR per batch with gamma below this loses >60% of the LR every 100 batches (0.99**100 = 0.37).
PER_BATCH_GAMMA = 0.99


def _period(ctx: Ctx, ctor: ast.Call) -> tuple[str, float] | None:
    """(what, value) of the scheduler's period when it is epoch-scale, else None."""
    kind = short(ctx.call_canon(ctor))
    sc, ln = ctx.scope_of(ctor), ctor.lineno
    if kind == "StepLR":
        v = number(ctx, arg(ctor, 1, "step_size"), sc, ln)
        return ("step_size", v) if v is not None and v < PER_BATCH_PERIOD else None
    if kind == "MultiStepLR":
        ms = arg(ctor, 1, "milestones")
        if isinstance(ms, ast.List | ast.Tuple) and ms.elts:
            vals = [number(ctx, e, sc, ln) for e in ms.elts]
            if all(v is not None for v in vals) and max(vals) < PER_BATCH_PERIOD:
                return ("max milestone", max(vals))
        return None
    if kind == "ExponentialLR":
        v = number(ctx, arg(ctor, 1, "gamma"), sc, ln)
        return ("gamma", v) if v is not None and v < PER_BATCH_GAMMA else None
    if kind == "CosineAnnealingLR":
        v = number(ctx, arg(ctor, 1, "T_max"), sc, ln)
        return ("T_max", v) if v is not None and v < PER_BATCH_PERIOD else None
    if kind == "ReduceLROnPlateau":
        v = number(ctx, arg(ctor, 3, "patience"), sc, ln)
        return ("patience", 10 if v is None else v) if (v is None or v < PER_BATCH_PERIOD) else None
    return None


def _over_batches(ctx: Ctx, loop: ast.AST) -> bool:
    """Does the loop iterate over a DataLoader (by name or by construction)?"""
    it = getattr(loop, "iter", None)
    while (
        isinstance(it, ast.Call)
        and isinstance(it.func, ast.Name)
        and it.func.id in ("enumerate", "tqdm", "iter")
    ):
        it = it.args[0] if it.args else None
    if it is None:
        return False
    name = (dotted(it) or "").lower()
    if "loader" in name or "batches" in name:
        return True
    if dotted(it):
        for v, _sc, _ln in ctx.resolve(it, ctx.scope_of(loop), loop.lineno):
            if isinstance(v, ast.Call) and short(ctx.call_canon(v)) == "DataLoader":
                return True
    return False


def check(ctx: Ctx) -> list[Finding]:
    out = []
    seen = set()
    for loop, events in loop_events(ctx):
        if not _over_batches(ctx, loop):
            continue
        for e in events:
            if e.kind != "sched_step" or e.via is not None or ctx.enclosing_loops(e.node)[:1] != [loop]:
                continue
            if e.conds or e.line in seen:
                continue  # `if step % steps_per_epoch == 0: scheduler.step()` is an epoch step
            ctors = [
                v
                for v, _s, _l in ctx.resolve(receiver(e.node), ctx.scope_of(e.node), e.line)
                if isinstance(v, ast.Call)
            ]
            if len(ctors) != 1 or method_name(ctors[0]) is not None and ctx.call_canon(ctors[0]) is None:
                continue
            per = _period(ctx, ctors[0])
            if per is None:
                continue
            seen.add(e.line)
            kind = short(ctx.call_canon(ctors[0]))
            out.append(
                ctx.finding(
                    sys.modules[__name__],
                    e.node,
                    f"{e.recv}.step() runs once per batch, but {kind}'s {per[0]}={per[1]:g} is counted in "
                    f"scheduler steps: the learning rate decays every few batches and collapses within the first "
                    f"epoch. Step it once per epoch (after the batch loop).",
                    scheduler=kind,
                    parameter=per[0],
                    value=per[1],
                )
            )
    return out

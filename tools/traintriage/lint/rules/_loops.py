"""Shared walk for the loop-order rules: each training loop with its events, and cyclic search."""

from __future__ import annotations

from traintriage.lint.context import Ctx
from traintriage.lint.training_loop import Event


def loop_events(ctx: Ctx) -> list[tuple[object, list[Event]]]:
    """(loop, events) for every loop whose body trains (calls backward, directly or via a local function)."""
    out = []
    for loop in ctx.training_loops():
        out.append((loop, ctx.events(loop)))
    return out


def cyclic_after(events: list[Event], i: int) -> list[Event]:
    """The events met after events[i] on the way round the loop (to the end, then from the top)."""
    return events[i + 1 :] + events[:i]

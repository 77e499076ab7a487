"""model.eval() with no model.train() before the next training step. Dropout stays off and BatchNorm keeps
using (and not updating) running statistics for the rest of training. Typical shapes: an evaluate(model)
helper that calls model.eval() invoked inside the training loop, with model.train() only before the loop;
or model.eval() before the loop and never model.train().

Only models the optimizer trains are considered (a teacher kept in eval mode is fine), and a module whose
parameters the script froze (requires_grad = False / requires_grad_(False)) may stay in eval mode on purpose:
that is how a frozen backbone keeps its pretrained BatchNorm statistics."""

from __future__ import annotations

import ast
import sys

from traintriage.lint.context import Ctx, scope_events, trained_models
from traintriage.lint.rules._loops import cyclic_after, loop_events
from traintriage.lint.syntax import dotted, freezes, method_name, receiver
from traintriage.lint.training_loop import Event
from traintriage.report import Finding

RULE = "eval-mode-during-training"
CAUSE = "wrong-train-eval-mode"
SEVERITY = "error"
CONFIDENCE = 0.75


def _is_model(recv: str | None, trained: set[str]) -> bool:
    return bool(recv) and any(recv == t or t.startswith(recv + ".") for t in trained)


def _first(events: list[Event], recv: str) -> str | None:
    for e in events:
        if e.kind == "backward":
            return "backward"
        if e.kind == "train" and e.recv == recv:
            return "train"
    return None


def _frozen(ctx: Ctx) -> set[str]:
    """Receivers whose parameters the script freezes: `for p in X.parameters(): p.requires_grad = False`
    and `X.requires_grad_(False)`."""
    out: set[str] = set()
    for node in ast.walk(ctx.tree):
        recv = None
        if isinstance(node, ast.For) and method_name(node.iter) in ("parameters", "named_parameters"):
            if any(isinstance(sub, ast.Assign) and freezes(sub) for sub in ast.walk(node)):
                recv = dotted(receiver(node.iter))
        elif isinstance(node, ast.Call) and freezes(node):
            recv = dotted(receiver(node))
        if recv:
            out.add(recv)
    return out


def check(ctx: Ctx) -> list[Finding]:
    trained = trained_models(ctx)
    if not trained:
        return []
    frozen = _frozen(ctx)
    out: list[Finding] = []
    seen: set[int] = set()

    def flag(e: Event, how: str) -> None:
        if e.line in seen or e.recv in frozen:
            return
        seen.add(e.line)
        where = f" (inside {e.via}())" if e.via else ""
        out.append(
            ctx.finding(
                sys.modules[__name__],
                e.node,
                f"{e.recv}.eval(){where} {how}: dropout and batch-norm run in inference mode while training. "
                f"Call {e.recv}.train() before the next training step.",
                model=e.recv,
                via=e.via,
            )
        )

    # 1) inside a training loop: from the eval, going round the loop, a backward comes before a train()
    for _loop, events in loop_events(ctx):
        for i, e in enumerate(events):
            if e.kind == "eval" and _is_model(e.recv, trained):
                if _first(cyclic_after(events, i), e.recv) == "backward":
                    flag(e, "runs inside the training loop and the loop never switches back")
    # 2) straight-line: eval() before the training starts and no train() in between
    for scope in ctx.scopes():
        events = scope_events(ctx, scope)
        for i, e in enumerate(events):
            if e.kind == "eval" and _is_model(e.recv, trained) and e.via is None:
                if _first(events[i + 1 :], e.recv) == "backward":
                    flag(e, "is called before training and train() is never called after it")
    return out

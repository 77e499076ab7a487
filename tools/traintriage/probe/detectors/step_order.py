"""step-order: optimizer.step() sees no gradient (zero_grad between backward and step, or step before
backward), is never called at all, or the LR scheduler steps before the optimizer."""

from __future__ import annotations

from typing import Any

from traintriage.probe.detectors._common import finding

# Fraction of steps (after the first) that see no gradient before we call the order broken: one such step
# can be a legitimate skip (GradScaler inf-skip, a warm-up), half of them is the loop itself.
EMPTY_STEP_FRACTION = 0.5
# Backward passes without any optimizer step before "step() is never called" is a finding: one or two can be a
# gradient check before training starts; a training loop runs many.
NEVER_STEPPED_BACKWARDS = 3


def detect(ev: dict[str, Any]) -> list:
    steps = ev.get("steps", [])[1:]
    out = []
    got_grads = (ev.get("params") or {}).get("n_with_grad", 1) > 0  # none at all: loss-detached's case
    if steps and ev.get("backwards") and got_grads:
        # backward produced a gradient, yet the optimizer saw none (a loss of exactly 0 is not this)
        # ... or no backward() ran since the previous step and the step found every gradient None (the backward
        # runs after step() and zero_grad(set_to_none) wipes it before the next step)
        empty = [s for s in steps if ((s.get("grad_norm") or 0) > 0
                                      and (s.get("grads_none") == s.get("n_params") or s.get("grad_norm_at_step") == 0))
                 or (s.get("n_backward") == 0 and s.get("n_params") and s.get("grads_none") == s.get("n_params"))]
        frac = len(empty) / len(steps)
        if frac >= EMPTY_STEP_FRACTION:
            zero_between = sum(1 for s in empty if s.get("zero_after_bwd"))
            no_bwd = sum(1 for s in empty if s.get("bwd_since_step") == 0)
            how = ("zero_grad() runs between backward() and step(), wiping the gradients" if zero_between >= no_bwd
                   else "step() runs before backward() in each iteration")
            out.append(finding("step-order", "error", 0.9,
                               f"optimizer.step() found no gradient in {len(empty)}/{len(steps)} steps: {how}.",
                               empty_steps=len(empty), steps=len(steps), zero_between_backward_and_step=zero_between,
                               step_without_backward=no_bwd, events=(ev.get("end") or {}).get("events")))
        stale = [s for s in steps if s.get("bwd_since_step") == 0 and s.get("grad_norm_at_step")]
        if not out and len(stale) / len(steps) >= EMPTY_STEP_FRACTION and len(ev.get("optimizers", [])) == 1:
            out.append(finding("step-order", "warning", 0.6,
                               "optimizer.step() runs before this iteration's backward(): each step applies the "
                               "previous iteration's gradients.",
                               stale_steps=len(stale), steps=len(steps), events=(ev.get("end") or {}).get("events")))
    end = ev.get("end") or {}
    out += _never_stepped(ev, end)
    if end.get("sched_before_opt", 0) > 0:
        out.append(finding("step-order", "warning", 0.5,
                           "lr_scheduler.step() was called before the first optimizer.step(): the first value "
                           "of the schedule is skipped (PyTorch warns about this order).",
                           scheduler_steps_before_optimizer=end["sched_before_opt"]))
    return out


def _never_stepped(ev: dict[str, Any], end: dict[str, Any]) -> list:
    """backward() ran again and again, no optimizer ever stepped, and no hand-written update moved the loss."""
    n_bwd = end.get("n_backward") or (ev.get("manual") or {}).get("backward") or 0
    if ev.get("steps_all") or end.get("n_steps_all") or n_bwd < NEVER_STEPPED_BACKWARDS:
        return []
    if (ev.get("manual") or {}).get("inside_step"):
        return []  # the backward passes ran inside step(closure) (LBFGS): the optimizer is stepping
    of = ev.get("overfit") or {}
    if of.get("passed"):  # a manual update loop (p -= lr * p.grad) that works
        return []
    return [finding("step-order", "error", 0.85 if of else 0.7,
                    f"backward() ran {n_bwd} times but optimizer.step() was never called"
                    + (f" and the loss did not fall ({of.get('initial'):.4g} -> {of.get('final'):.4g})" if of else "")
                    + ": the gradients are computed and thrown away, nothing learns.",
                    backward_calls=n_bwd, optimizer_steps=0, events=end.get("events"))]

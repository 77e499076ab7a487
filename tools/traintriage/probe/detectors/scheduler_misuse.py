"""scheduler-misuse: the LR schedule collapses (or is zero) within the first steps."""

from __future__ import annotations

from typing import Any

from traintriage.probe.detectors._common import finding

# An LR that falls below 1 % of its peak within the probe's few dozen steps leaves the run frozen for
# the rest of training: an epoch-sized schedule (StepLR step_size, T_max) stepped once per batch.
COLLAPSE_FRACTION = 1e-2


def detect(ev: dict[str, Any]) -> list:
    steps = ev.get("steps", [])
    if len(steps) < 3:
        return []
    ng = len(steps[0].get("groups", []))
    scheds = ev.get("schedulers", [])
    out = []
    for g in range(ng):
        lrs = [s["groups"][g]["lr"] for s in steps if g < len(s.get("groups", [])) and s["groups"][g]["lr"] is not None]
        if not lrs:
            continue
        peak = max(lrs)
        if peak == 0:
            out.append(finding("scheduler-misuse", "error", 0.8,
                               f"Param group {g} trains with lr=0 on every step.", group=g, lr=0.0))
            break
        last = lrs[-1]
        if last < COLLAPSE_FRACTION * peak:
            at = next(i for i, x in enumerate(lrs) if x < COLLAPSE_FRACTION * peak)
            out.append(finding("scheduler-misuse", "error", 0.85,
                               f"The learning rate fell from {peak:.3g} to {last:.3g} within {at} optimizer steps: "
                               "a schedule sized in epochs is being stepped every batch (or decays far too fast).",
                               group=g, lr_peak=peak, lr_last=last, collapsed_at_step=at,
                               schedulers=[{"cls": s.get("cls"), "config": s.get("config")} for s in scheds][:3],
                               scheduler_calls=(ev.get("end") or {}).get("sched_calls")))
            break
    return out

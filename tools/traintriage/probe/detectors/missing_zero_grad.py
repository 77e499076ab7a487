"""missing-zero-grad: gradients accumulate across optimizer steps because nothing clears them."""

from __future__ import annotations

from typing import Any

from traintriage.probe.detectors._common import finding

# Share of steps whose first backward finds last step's gradients still there, with no zero_grad call in
# between; above it, accumulation is the loop's behaviour, not a one-off.
LEFTOVER_FRACTION = 0.5


def detect(ev: dict[str, Any]) -> list:
    steps = ev.get("steps", [])[1:]
    if len(steps) < 2:
        return []
    left = [s for s in steps if (s.get("pre_backward_grad_norm") or 0) > 0 and not s.get("zero_since_step")]
    if len(left) / len(steps) < LEFTOVER_FRACTION:
        return []
    ratios = [s["pre_backward_grad_norm"] / s["grad_norm"] for s in left if s.get("grad_norm")]
    gn = [s.get("grad_norm") for s in ev.get("steps", []) if s.get("grad_norm") is not None]
    return [finding("missing-zero-grad", "error", 0.9,
                    f"In {len(left)}/{len(steps)} steps the first backward() found the previous steps' gradients "
                    "still in .grad and no zero_grad() ran: gradients pile up, so each step uses the sum of all "
                    "past gradients.",
                    steps_with_leftover_grads=len(left), steps=len(steps),
                    leftover_over_total_grad=round(sum(ratios) / len(ratios), 4) if ratios else None,
                    grad_norm_first=gn[0] if gn else None, grad_norm_last=gn[-1] if gn else None)]

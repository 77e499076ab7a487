"""grad-accum-not-scaled: several backward() calls per step, loss not divided by their number."""

from __future__ import annotations

from typing import Any

from traintriage.probe.detectors._common import finding

# With k accumulated backwards the gradient norm after the last one is ~1x the first when each loss is
# divided by k, and ~k x when it is not (exactly k on a replayed batch). Call it unscaled above 0.6 k.
UNSCALED_FRACTION = 0.6


def detect(ev: dict[str, Any]) -> list:
    rows = []
    for s in ev.get("steps", []):
        m = [x for x in s.get("micro_grad_norms", []) if x]
        k = s.get("n_backward", 0)
        if k >= 2 and len(m) >= 2 and m[0] > 0:
            rows.append((k, m[-1] / m[0]))
    if len(rows) < 2:
        return []
    k = max(r[0] for r in rows)
    growth = sorted(r[1] for r in rows)[len(rows) // 2]
    if growth < UNSCALED_FRACTION * k:
        return []
    return [finding("grad-accum-not-scaled", "error", 0.75,
                    f"{k} backward() calls per optimizer step and the gradient grows {growth:.2f}x from the first "
                    f"to the last: the loss is not divided by the accumulation steps, so the effective LR is {k}x.",
                    backwards_per_step=k, grad_growth=round(growth, 3), expected_if_scaled=1.0)]

"""grad-accum-not-scaled: several backward() calls per step, loss not divided by their number."""

from __future__ import annotations

from typing import Any

from traintriage.probe.detectors._common import finding

# With k accumulated backwards, a scaled loop passes loss/k to each backward(); an unscaled one passes the
# loss function's output as is. Compare the value handed to backward() with what the loss functions
# returned in that step (per backward): ~1 means unscaled, ~1/k scaled. Call it unscaled above 0.6.
UNSCALED_FRACTION = 0.6


def detect(ev: dict[str, Any]) -> list:
    rows = []
    for s in ev.get("steps", []):
        k = s.get("n_backward", 0)
        fn_sum, n_fn, loss = s.get("loss_fn_sum"), s.get("loss_fn_calls", 0), s.get("loss")
        if k >= 2 and n_fn >= k and fn_sum and loss is not None:
            rows.append((k, loss / (fn_sum / k)))
    if len(rows) < 2:
        return []
    k = max(r[0] for r in rows)
    scale = sorted(r[1] for r in rows)[len(rows) // 2]
    if scale < UNSCALED_FRACTION:
        return []
    return [finding("grad-accum-not-scaled", "error", 0.75,
                    f"{k} backward() calls per optimizer step, and each backward() gets the loss as the loss "
                    f"function returned it ({scale:.2f}x, where 1/{k} = {1 / k:.2f} is expected): the accumulated "
                    f"gradient is the sum, not the mean, so the effective LR is {k}x.",
                    backwards_per_step=k, backward_over_loss_fn=round(scale, 4), expected_if_scaled=round(1 / k, 4))]

"""lr-warmup-spike: the loss jumps as the learning rate reaches its warmup peak."""

from __future__ import annotations

import numpy as np

from traintriage.logs.detectors.base import Context, Detection, ema, finding, fmt, sym

ID = "lr-warmup-spike"
SEVERITY = "warning"
# A warmup: the LR starts at or below this share of its peak and rises to it.
WARMUP_START_SHARE = 0.5
# The smoothed loss rising this much above its running minimum around the peak is a jump, not noise.
RISE = 0.3
# Look from the middle of the warmup to this many warmup-lengths after the peak.
AFTER_PEAK = 1.0


def detect(ctx: Context) -> list[Detection]:
    lr, loss = ctx.curve("lr"), ctx.curve("train_loss")
    if lr is None or loss is None:
        return []
    lr, loss = lr.clean(), loss.clean()
    if len(lr) < 5 or len(loss) < 10:
        return []
    p = int(np.argmax(lr.values))
    peak = float(lr.values[p])
    if p == 0 or peak <= 0 or lr.values[0] > WARMUP_START_SHARE * peak:
        return []
    s0, sp = int(lr.steps[0]), int(lr.steps[p])
    lo, hi = s0 + (sp - s0) // 2, sp + max(1, int(AFTER_PEAK * (sp - s0)))
    sm = ema(loss.values, max(3, len(loss) // 50))
    run_min = np.minimum.accumulate(sm)
    in_win = (loss.steps >= lo) & (loss.steps <= hi)
    jump = in_win & (sm > (1 + RISE) * run_min) & (run_min > 0)
    if not jump.any():
        return []
    i = int(np.argmax(jump))
    ev = {"lr_peak": peak, "lr_peak_step": sp, "warmup_from_step": s0, "loss_min_before": float(run_min[i]),
          "loss_at_jump": float(sm[i]), "jump_step": int(loss.steps[i])}
    g = ctx.curve("grad_norm")
    if g is not None and len(g.clean()) >= 5:
        gc = g.clean()
        before = gc.values[gc.steps < lo]
        near = gc.values[(gc.steps >= lo) & (gc.steps <= hi)]
        if before.size and near.size:
            ev["grad_norm_before"] = float(np.median(before))
            ev["grad_norm_max_near_peak"] = float(near.max())
    msg = (f"{loss.name} jumps from {fmt(run_min[i])} to {fmt(sm[i])} (smoothed) at step {loss.steps[i]}, as {lr.name} "
           f"reaches its warmup peak {fmt(peak)} at step {sp}")
    return [Detection(sym(ID, loss.name, loss.steps[i], msg, ev), SEVERITY,
                      [finding("lr-too-high", "warning", 0.6, msg + "; lower the peak LR or lengthen the warmup", ev)])]

"""divergence: the (finite) loss runs away instead of converging."""

from __future__ import annotations

import numpy as np

from traintriage.logs.detectors.base import MIN_POINTS, Context, Detection, ema, finding, fmt, head, sym, tail

ID = "divergence"
SEVERITY = "error"
# The smoothed loss ending at least this many times above its own minimum is not noise: minibatch noise
# around a converging loss is tens of percent, not 2x (refs/symptoms.md#divergence: "loss rising over many
# steps, or growing by orders of magnitude").
RISE_FACTOR = 2.0
# ...and it must also end above where it started, or it is a recovery from a bad init, not a runaway.
ABOVE_START = 1.2
# A loss that ends this many times its start in magnitude has blown up regardless of its minimum
# (AUTOTRAINER treats a loss above 1e5 like NaN; orders of magnitude is the shared reading).
BLOWUP_FACTOR = 100.0


def detect(ctx: Context) -> list[Detection]:
    c = ctx.curve("train_loss")
    if c is None:
        return []
    c = c.clean()
    if len(c) < MIN_POINTS:
        return []
    v = c.values
    s = ema(v, max(3, len(c) // 20))
    start, end = head(v), tail(v)
    imin = int(np.argmin(s))
    smin = float(s[imin])
    up = end > RISE_FACTOR * max(smin, 1e-12) and end > ABOVE_START * start and smin >= 0
    blow = abs(end) > BLOWUP_FACTOR * max(abs(start), 1e-12)
    down = start > 0 and end < 0 and abs(end) > 10 * abs(start)  # running off to minus infinity
    if not (up or blow or down):
        return []
    if down:
        i0 = int(np.argmax(v < 0))
    else:
        # where the rise starts: the last step at the minimum before the smoothed loss crosses halfway up
        half = smin + 0.5 * (float(s[-1]) - smin)
        after = np.nonzero(s[imin:] > half)[0]
        i0 = imin if not after.size else imin + max(0, int(after[0]) - 1)
        i0 = imin if i0 > imin else i0
    ev = {"start": start, "min": smin, "min_step": int(c.steps[imin]), "end": end,
          "end_over_min": end / smin if smin > 0 else None, "points": len(c)}
    what = "runs off toward minus infinity (a loss bug)" if down else (
        f"rises from its minimum {fmt(smin)} at step {c.steps[imin]} to {fmt(end)} at the end (start {fmt(start)})")
    d = Detection(sym(ID, c.name, c.steps[i0], f"{c.name} {what}", ev), SEVERITY)
    lr = ctx.curve("lr")
    if lr is not None and not down:
        ev2 = dict(ev, lr_at_rise=float(np.interp(c.steps[imin], lr.steps, lr.values)), lr_peak=float(np.nanmax(lr.values)))
        d.findings.append(finding("lr-too-high", "warning", 0.5,
                                  f"the loss diverges from step {c.steps[imin]} with LR {fmt(ev2['lr_at_rise'])} "
                                  f"(peak {fmt(ev2['lr_peak'])}); try 3-10x lower LR or a longer warmup", ev2))
    return [d]

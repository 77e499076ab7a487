"""lr-too-high: updates are a large fraction of the weights and the loss rises, oscillates or blows up.

Judged on the update the optimizer actually applied (||theta_after - theta_before|| / ||theta||, so after any
gradient clipping, per param group) together with the loss behaviour. A step that overshoots and a loss
that jumps, then settles well below its start and stays there, is a transient at the edge of stability
(what warm-up exists for): a warning. It is an error when the instability is a regime: the loss does not
come down (the one-batch overfit fails), the spikes come back in the second half of the run, the loss
multiplies by LOSS_BLOWUP, or the run goes non-finite right after the large steps.
"""

from __future__ import annotations

import math
from typing import Any

from traintriage.probe.detectors._common import (
    LOSS_SPIKE,
    REL_UPDATE_PEAK,
    finding,
    first_nonfinite_step,
    group_rel_updates,
    instability_before,
    losses,
    median,
    share,
)
from traintriage.thresholds import REL_UPDATE_GUIDELINE, REL_UPDATE_HIGH

# REL_UPDATE_GUIDELINE / REL_UPDATE_HIGH (sustained): values and their why in traintriage/thresholds.py.
# REL_UPDATE_PEAK (a blow-up step) and LOSS_SPIKE (a divergence event) live in _common: the NaN window
# reading there uses them too.
# ... and this multiple is a divergence whatever happens next: a step at a workable LR can overshoot the
# valley, but not throw the loss two orders of magnitude above where it started.
LOSS_BLOWUP = 100.0
# Final loss above this multiple of the initial loss counts as rising (one batch replayed: it should fall).
LOSS_RISE = 1.0
# A spike "settled" when the loss ends at most this fraction of its start (evidence.OVERFIT_PASS_FRACTION:
# the one-batch overfit passes) and no spike returns in the second half of the run.
SETTLED_RATIO = 0.5


def _settled(ls: list[float], ratio: float | None, nonfinite: bool) -> tuple[bool, float | None]:
    """(the loss recovered and stayed down, the largest late loss / first loss)."""
    if nonfinite or len(ls) < 4 or ls[0] <= 0:
        return False, None
    late = max(ls[len(ls) // 2:]) / ls[0]
    return bool(ratio is not None and ratio <= SETTLED_RATIO and late < LOSS_SPIKE), late


def _spike_events(ls: list[float]) -> list[int]:
    """Steps where the loss first jumps to LOSS_SPIKE x its lowest value so far (a run of high steps is one
    event): one event is a catapult, several are a regime."""
    out, lo, high = [], ls[0] if ls else 0.0, False
    for i in range(1, len(ls)):
        up = lo > 0 and ls[i] >= LOSS_SPIKE * lo
        if up and not high:
            out.append(i)
        high = up
        lo = min(lo, ls[i])
    return out


def _recovered(ls: list[float], chance: float | None) -> bool:
    """One spike, after which the loss came back below its start (and below chance when known: a collapse to a
    uniform guess sits at chance, not below it) and is still falling: its last value is the lowest since the
    spike. Lewkowycz et al. 2020 ("catapult phase"): at a large but workable LR the loss spikes once, the
    model moves to a flatter region, and the loss comes back; what warm-up smooths away."""
    ev_ = _spike_events(ls)
    if len(ev_) != 1:
        return False
    after = ls[ev_[0] + 1:]
    bar = min(ls[0], chance) if chance else ls[0]
    return len(after) >= 3 and after[-1] < bar and after[-1] < min(after[:-1])


def detect(ev: dict[str, Any]) -> list:
    rel = group_rel_updates(ev, skip_first=1)
    if not rel:
        return []
    meds = [median(g) for g in rel if g]
    meds = [m for m in meds if m is not None]
    if not meds:  # nothing measured after the first step: no regime to judge (a NaN at step 1 is not the LR's)
        return []
    top = max(meds)
    peak = max(max(g) for g in group_rel_updates(ev) if g)
    ls = losses(ev)
    raw = ev.get("losses", [])
    any_nonfinite = any(x is None or (isinstance(x, float) and not math.isfinite(x)) for x in raw)
    before = instability_before(ev, first_nonfinite_step(ev)) if any_nonfinite else None
    # a NaN counts against the LR only when large steps / a loss spike led into it (_common: causal precedence)
    nonfinite = bool(before and before["unstable"])
    of = ev.get("overfit") or {}
    ratio = of.get("ratio")
    jump = max(ls[1:]) / ls[0] if len(ls) > 2 and ls[0] > 0 else None
    spike = jump is not None and jump >= LOSS_SPIKE
    lrs = [g.get("lr") for g in (ev.get("steps") or [{}])[0].get("groups", [])]
    if peak >= REL_UPDATE_PEAK and (spike or nonfinite):
        settled, late = _settled(ls, ratio, any_nonfinite)
        # a single spike the loss recovers from within the run is a catapult, not a regime (even when the
        # replayed batch has not been memorised yet when the run ends)
        recovered = not any_nonfinite and _recovered(ls, of.get("chance"))
        blowup = jump is not None and jump >= LOSS_BLOWUP
        sev = "warning" if (settled or recovered) and not blowup else "error"
        what = ("the loss turned non-finite" if nonfinite else f"the loss jumped to {jump:.3g}x its start")
        tail = (", then recovered and stayed down (the LR is at the edge of stability: a warm-up or a slightly "
                "lower LR removes the spike)." if sev == "warning" else
                ": the learning rate is too high for this model (try 10x smaller, or warm up).")
        return [finding("lr-too-high", sev, 0.9 if sev == "error" else 0.4,
                        f"A single step moved the weights by {share(peak)} of their norm (||ΔW||/||W|| = {peak:.2g}; "
                        f"healthy is about 0.1 %, 1e-3) and "
                        + what + tail,
                        peak_rel_update=round(peak, 6), median_rel_update=round(top, 6), guideline=REL_UPDATE_GUIDELINE, lr=lrs,
                        loss_spike=round(jump, 4) if jump is not None else None, nonfinite=nonfinite,
                        loss_ratio=ratio, late_loss_over_start=round(late, 4) if late is not None else None,
                        settled=settled, recovered=recovered, spike_steps=_spike_events(ls), thresholds={"peak": REL_UPDATE_PEAK, "spike": LOSS_SPIKE,
                                                     "blowup": LOSS_BLOWUP, "settled_ratio": SETTLED_RATIO},
                        before_nonfinite=before)]
    if top < REL_UPDATE_HIGH:
        return []
    # oscillation: the loss goes up on many steps even though the batch is fixed
    ups = sum(1 for a, b in zip(ls, ls[1:], strict=False) if b > a)
    # only meaningful on a pinned batch: with fresh batches every step the loss wobbles by itself
    osc = bool(ev.get("pinned")) and len(ls) > 4 and ups / (len(ls) - 1) > 0.4
    rising = ratio is not None and ratio > LOSS_RISE
    if not (nonfinite or rising or (osc and not (ratio is not None and ratio < 0.5))):
        return []
    return [finding("lr-too-high", "error", 0.9 if (nonfinite or rising) else 0.7,
                    f"Each step changes the weights by {share(top)} of their norm (||ΔW||/||W|| = {top:.2g}; healthy is "
                    f"about 0.1 %, 1e-3) and the "
                    + ("loss blows up" if nonfinite else "loss rises" if rising else "loss oscillates")
                    + " on a single batch: lower the learning rate (try 10x smaller).",
                    median_rel_update=round(top, 6), guideline=REL_UPDATE_GUIDELINE, lr=lrs,
                    loss_ratio=ratio, nonfinite=nonfinite, up_steps=ups, before_nonfinite=before)]

"""lr-too-low: updates are a tiny fraction of the weights and the loss barely moves."""

from __future__ import annotations

from typing import Any

from traintriage.probe.detectors._common import finding, group_rel_updates, median, share

# REL_UPDATE_LOW (error) and REL_UPDATE_LOW_WARN (warning), only judged with a loss that did not fall; the
# values and their why are in traintriage/thresholds.py, shared with the log detectors and the handbook.
from traintriage.thresholds import REL_UPDATE_GUIDELINE, REL_UPDATE_LOW, REL_UPDATE_LOW_WARN

# The loss counts as stuck when it kept more than this share of its starting value.
STUCK_RATIO = 0.9


def detect(ev: dict[str, Any]) -> list:
    rel = group_rel_updates(ev, skip_first=1)
    steps = ev.get("steps", [])
    if not rel or not steps:
        return []
    lrs = [g.get("lr") for g in steps[0].get("groups", [])]
    meds = []
    for gi, g in enumerate(rel):
        m = median(g)
        if m is not None and (gi >= len(lrs) or (lrs[gi] or 0) > 0):
            meds.append(m)
    if not meds:
        return []
    top = max(meds)
    ratio = (ev.get("overfit") or {}).get("ratio")
    # a game's loss (overfit not applicable: a GAN's) holds by design: "the loss did not fall" is no evidence
    # either way, so there the update size is judged alone, and only far below the band (a warning at most)
    game = bool((ev.get("overfit") or {}).get("not_applicable"))
    if top >= REL_UPDATE_LOW_WARN or top == 0:
        return []  # top == 0: nothing moves at all: a wiring bug (step-order, loss-detached), not the LR
    if (ratio is None or ratio < STUCK_RATIO) and not (game and top < REL_UPDATE_LOW):
        return []
    conf = 0.85 if top < REL_UPDATE_LOW else 0.55
    sev = "error" if top < REL_UPDATE_LOW and not game else "warning"
    held = f"the loss kept {ratio:.0%} of its starting value" if ratio is not None else (
        "in a game whose loss says nothing either way, the weights barely move")
    return [finding("lr-too-low", sev, conf,
                    f"Each step changes the weights by only {share(top)} of their norm (||ΔW||/||W|| = {top:.2g}; "
                    f"healthy is about 0.1 %, 1e-3) "
                    f"and {held}: raise the learning rate (an LR range test finds the band).",
                    median_rel_update=top, guideline=REL_UPDATE_GUIDELINE, lr=lrs, loss_ratio=ratio)]

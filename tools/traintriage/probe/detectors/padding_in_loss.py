"""padding-in-loss: a padding id dominates the targets and the loss does not ignore it."""

from __future__ import annotations

from typing import Any

from traintriage.probe.detectors._common import calls, finding

# With a vocabulary of this many classes or more we treat targets as tokens. Zipf's law puts the most
# frequent real token (e.g. "the") near 5-7 % of running text, so one id above 30 % is padding.
MIN_VOCAB = 16
PAD_DOMINANCE = 0.3


def detect(ev: dict[str, Any]) -> list:
    for c in calls(ev, "cross_entropy", "nll_loss"):
        if c.get("num_classes", 0) < MIN_VOCAB or c.get("target_float"):
            continue
        top, frac = c.get("target_top_value"), c.get("target_top_frac", 0)
        if top is not None and frac >= PAD_DOMINANCE and top != c.get("ignore_index"):
            return [finding("padding-in-loss", "error", 0.8,
                            f"Target id {top} makes up {frac:.0%} of the {c['target_shape']} targets and the loss "
                            f"does not ignore it (ignore_index={c.get('ignore_index')}): the model is rewarded for "
                            f"predicting padding. Pass ignore_index={top} (or mask the padded positions).",
                            pad_id=top, pad_fraction=round(frac, 4), ignore_index=c.get("ignore_index"),
                            num_classes=c.get("num_classes"))]
    return []

"""class-imbalance-collapse: predictions collapse onto the majority class of imbalanced targets."""

from __future__ import annotations

from typing import Any

from traintriage.probe.detectors._common import finding, last_step_calls

# Predictions this concentrated on one class are a collapse, not a preference.
PRED_COLLAPSE = 0.95
# Targets are imbalanced when the majority class holds at least this share (and minority classes exist).
TARGET_MAJORITY = 0.6


def detect(ev: dict[str, Any]) -> list:
    for c in last_step_calls(ev, "cross_entropy", "nll_loss"):
        if c.get("target_float") or c.get("num_classes", 0) > 100:
            continue
        pf, tf = c.get("pred_top_frac"), c.get("target_top_frac")
        if pf is None or tf is None or c.get("target_n_unique", 0) < 2:
            continue
        if pf >= PRED_COLLAPSE and tf >= TARGET_MAJORITY and c.get("pred_top_value") == c.get("target_top_value"):
            return [finding("class-imbalance-collapse", "error", 0.7,
                            f"At step {c.get('step')} {pf:.0%} of predictions are class {c['pred_top_value']}, which "
                            f"is {tf:.0%} of the targets: the model predicts the majority class. Reweight the loss "
                            "(weight=), resample, or use a metric that sees the minority classes.",
                            pred_top_frac=pf, target_top_frac=tf, majority_class=c["pred_top_value"],
                            accuracy=c.get("accuracy"), step=c.get("step"))]
    return []

"""class-imbalance-collapse: predictions collapse onto the majority class of imbalanced targets."""

from __future__ import annotations

from typing import Any

from traintriage.probe.detectors._common import finding, last_step_calls

# Predictions this concentrated on one class are a collapse, not a preference.
PRED_COLLAPSE = 0.95
# Targets are imbalanced when the majority class holds at least this share (and minority classes exist).
TARGET_MAJORITY = 0.6
# Collapse means the minority classes are not recognised: recall on the non-majority targets at or below this
# (0 when every prediction is the majority class). A model that predicts the majority class 95 % of the time
# because 95 % of the targets are that class, and gets the rest right, has learned the task, not collapsed
# (Buda et al., "A systematic study of the class imbalance problem in convolutional neural networks" (2018):
# accuracy hides the minority classes; judge them by a per-class measure). 0.2: seed, a fifth of the rare cases.
MINORITY_RECALL_MAX = 0.2


def detect(ev: dict[str, Any]) -> list:
    for c in last_step_calls(ev, "cross_entropy", "nll_loss"):
        if c.get("target_float") or c.get("num_classes", 0) > 100:
            continue
        pf, tf = c.get("pred_top_frac"), c.get("target_top_frac")
        if pf is None or tf is None or c.get("target_n_unique", 0) < 2:
            continue
        recall = c.get("minority_recall")
        if recall is None and c.get("accuracy") is not None:  # older evidence: no better than the majority guess
            recall = 0.0 if c["accuracy"] <= tf + 1e-9 else 1.0
        if recall is not None and recall > MINORITY_RECALL_MAX:
            continue
        if pf >= PRED_COLLAPSE and tf >= TARGET_MAJORITY and c.get("pred_top_value") == c.get("target_top_value"):
            return [finding("class-imbalance-collapse", "error", 0.7,
                            f"At step {c.get('step')} {pf:.0%} of predictions are class {c['pred_top_value']}, which "
                            f"is {tf:.0%} of the targets"
                            + (f", and it recognises {recall:.0%} of the other classes' examples" if recall is not None
                               else "") + ": the model predicts the majority class. Reweight the loss "
                            "(weight=), resample, or use a metric that sees the minority classes.",
                            pred_top_frac=pf, target_top_frac=tf, majority_class=c["pred_top_value"],
                            accuracy=c.get("accuracy"), minority_recall=recall, minority_n=c.get("minority_n"),
                            threshold_recall=MINORITY_RECALL_MAX, step=c.get("step"))]
    return []

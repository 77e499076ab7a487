"""ce-target-form: targets in a form the loss misreads (float targets that are not distributions for
cross_entropy; class indices given to a binary loss)."""

from __future__ import annotations

from typing import Any

from traintriage.probe.detectors._common import calls, finding


def detect(ev: dict[str, Any]) -> list:
    out = []
    for c in calls(ev, "cross_entropy"):
        dev = c.get("target_rowsum_dev")
        if c.get("target_float") and dev is not None and dev > 1e-2:
            out.append(finding("ce-target-form", "error", 0.85,
                               "cross_entropy got float targets of the input's shape, which it reads as class "
                               f"probabilities, but their rows do not sum to 1 (max deviation {dev:.3g}); pass "
                               "class indices (LongTensor of shape [N]) or proper distributions.",
                               target_shape=c.get("target_shape"), input_shape=c.get("input_shape"),
                               target_rowsum_dev=dev, target_min=c.get("target_min"), target_max=c.get("target_max")))
            break
    for c in calls(ev, "binary_cross_entropy", "binary_cross_entropy_with_logits"):
        if (c.get("target_max") or 0) > 1 or (c.get("target_min") or 0) < 0:
            out.append(finding("ce-target-form", "error", 0.85,
                               f"A binary cross-entropy got targets outside [0, 1] (min {c.get('target_min')}, max "
                               f"{c.get('target_max')}): class indices where 0/1 labels are expected; use "
                               "cross_entropy for multi-class, or one-hot float targets.",
                               target_min=c.get("target_min"), target_max=c.get("target_max"),
                               target_shape=c.get("target_shape"), input_shape=c.get("input_shape")))
            break
    return out

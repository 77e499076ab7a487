"""label-leakage: the model's input carries the answer.

Read from what the harness measured on the loss calls (`leak` records):

- kind "column": the target equals, or is a near-linear function of (|r| >= harness.LEAK_CORR), one input column;
- kind "separating-column": one input column alone puts every class of the batch in its own interval (a
  one-feature classifier with 100 % accuracy, harness.LEAK_MIN_CLASS_ROWS rows per class at least);
- kind "answer-visible": the target at each position is the input token at a fixed offset, and autograd shows
  the prediction at a position depends on that very token (no causal mask, or targets not shifted).
"""

from __future__ import annotations

from typing import Any

from traintriage.probe.detectors._common import finding

# A separating column is an error when it is the only one and its classes sit at least this many within-class
# standard deviations apart beyond their extremes: a natural feature whose classes merely do not overlap on one
# batch has tails that nearly touch (two Gaussian classes need ~5 std between their means for a 1-std gap
# across 64 rows). Several separating columns, or a thin margin, read as an easy dataset: a warning.
# Seed value; Deepchecks' feature-label correlation check likewise only flags single-feature predictive power.
LEAK_MIN_GAP = 1.0


def detect(ev: dict[str, Any]) -> list:
    for c in ev.get("loss_calls", []):
        leak = c.get("leak")
        if not leak:
            continue
        kind = leak.get("kind", "column")
        if kind == "answer-visible":
            s = leak["shift"]
            what = ("the token at the same position (the targets are not shifted)" if s == 0 else
                    f"the input token {s} position{'s' if s > 1 else ''} ahead")
            return [finding("label-leakage", "error", 0.9,
                            f"The {c['fn']} target at each position is {what} ({leak['match']:.0%} of positions), "
                            f"and the prediction at position {leak['position']} has a gradient on the embedding of "
                            f"that answer token ({leak['grad_frac_at_answer']:.3g} of the largest per-position "
                            "gradient; a causal model has exactly 0): the model can read the token it must "
                            "predict. Add a causal mask (is_causal=True / generate_square_subsequent_mask) or "
                            "shift the targets.",
                            **{k: v for k, v in leak.items() if k != "kind"}, kind=kind)]
        if kind == "separating-column":
            wide = leak.get("n_separating", 1) == 1 and (leak.get("gap_over_within_std") or 0) >= LEAK_MIN_GAP
            return [finding("label-leakage", "error" if wide else "warning", 0.8 if wide else 0.45,
                            f"Input column {leak['column']} of {leak['n_features']} alone separates the "
                            f"{leak['n_classes']} classes of the {c['fn']} target on a batch of {leak['rows']} rows "
                            f"(per-class value ranges {leak['intervals']} do not overlap"
                            + (f"; gap {leak['gap_over_within_std']:.3g} within-class std"
                               if leak.get("gap_over_within_std") is not None else "")
                            + "): that feature encodes the label (recorded after the outcome, or derived from it). "
                            "Drop it from the features unless it is known at prediction time.",
                            **{k: v for k, v in leak.items() if k != "kind"}, kind=kind, threshold_gap=LEAK_MIN_GAP)]
        how = "equal to" if leak.get("equal") else f"correlated (r={leak['corr']:.4f}) with"
        return [finding("label-leakage", "error", 0.85,
                        f"The {c['fn']} target is {how} input column {leak['column']} of "
                        f"{leak['n_features']}: the model can read the answer. Drop the column from the features.",
                        column=leak["column"], corr=leak["corr"], equal=leak.get("equal"),
                        n_features=leak["n_features"], kind=kind)]
    return []

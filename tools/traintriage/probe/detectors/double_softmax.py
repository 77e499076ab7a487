"""double-softmax: probabilities (non-negative rows summing to 1) fed to cross_entropy, which wants logits."""

from __future__ import annotations

from typing import Any

from traintriage.probe.detectors._common import calls, finding

# Rows of softmax output sum to 1 up to float rounding; logits almost never do.
ROWSUM_TOL = 1e-3


def floor(num_classes: int, label_smoothing: float = 0.0) -> float:
    """Lowest cross_entropy(softmax(z), y) any z reaches: the probabilities p are in the simplex, and the loss
    logsumexp(p) - sum_i q_i p_i (q: the smoothed target) is least at p = one-hot on the true class, so
    ln(e + C - 1) - (1 - eps + eps/C); without smoothing ln(1 + (C - 1)/e) (refs/catalogue/loss.md#double-softmax).
    """
    import math

    c, eps = num_classes, label_smoothing
    return math.log(math.e + c - 1) - (1 - eps + eps / c)


def detect(ev: dict[str, Any]) -> list:
    cs = calls(ev, "cross_entropy")
    hits = [c for c in cs if c.get("input_min") is not None and c["input_min"] >= 0
            and c.get("rowsum_dev") is not None and c["rowsum_dev"] < ROWSUM_TOL and c.get("num_classes", 0) >= 2]
    if not hits or len(hits) < len(cs) / 2:
        return []
    c = hits[0]
    low = floor(c["num_classes"], c.get("label_smoothing") or 0.0)
    return [finding("double-softmax", "error", 0.95,
                    f"cross_entropy received probabilities (every row non-negative and summing to 1, max deviation "
                    f"{c['rowsum_dev']:.1e}) instead of logits: it applies log-softmax again, so the loss cannot go "
                    f"below {low:.3f} and gradients shrink. Pass raw logits.",
                    calls=len(hits), num_classes=c["num_classes"], rowsum_max_dev=c["rowsum_dev"],
                    input_min=c["input_min"], input_max=c.get("input_max"), loss_floor=round(low, 4), label_smoothing=c.get("label_smoothing"))]

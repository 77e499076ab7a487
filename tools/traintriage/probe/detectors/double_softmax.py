"""double-softmax: probabilities (non-negative rows summing to 1) fed to cross_entropy, which wants logits."""

from __future__ import annotations

from typing import Any

from traintriage.probe.detectors._common import calls, finding

# Rows of softmax output sum to 1 up to float rounding; logits almost never do.
ROWSUM_TOL = 1e-3


def detect(ev: dict[str, Any]) -> list:
    cs = calls(ev, "cross_entropy")
    hits = [c for c in cs if c.get("input_min") is not None and c["input_min"] >= 0
            and c.get("rowsum_dev") is not None and c["rowsum_dev"] < ROWSUM_TOL and c.get("num_classes", 0) >= 2]
    if not hits or len(hits) < len(cs) / 2:
        return []
    c = hits[0]
    import math

    floor = math.log(1 + (c["num_classes"] - 1) / math.e)
    return [finding("double-softmax", "error", 0.95,
                    f"cross_entropy received probabilities (every row non-negative and summing to 1, max deviation "
                    f"{c['rowsum_dev']:.1e}) instead of logits: it applies log-softmax again, so the loss cannot go "
                    f"below {floor:.3f} and gradients shrink. Pass raw logits.",
                    calls=len(hits), num_classes=c["num_classes"], rowsum_max_dev=c["rowsum_dev"],
                    input_min=c["input_min"], input_max=c.get("input_max"), loss_floor=round(floor, 4))]

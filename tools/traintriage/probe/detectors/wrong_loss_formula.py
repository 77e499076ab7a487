"""wrong-loss-formula: a regression loss silently broadcasts prediction [N, 1] against target [N]."""

from __future__ import annotations

from typing import Any

from traintriage.probe.detectors._common import calls, finding


def detect(ev: dict[str, Any]) -> list:
    for c in calls(ev, "mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss"):
        b = c.get("broadcast_shape")
        if c.get("shape_mismatch") and b and b != c.get("input_shape"):
            return [finding("wrong-loss-formula", "error", 0.85,
                            f"{c['fn']} compares input {c.get('input_shape')} with target {c.get('target_shape')}; "
                            f"they broadcast to {b}, so every prediction is scored against every target. Make the "
                            "shapes equal (squeeze the prediction or unsqueeze the target).",
                            input_shape=c.get("input_shape"), target_shape=c.get("target_shape"), broadcast_shape=b)]
    return []

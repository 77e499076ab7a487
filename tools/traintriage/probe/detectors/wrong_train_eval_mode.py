"""wrong-train-eval-mode: optimizer steps taken while the model (with dropout/BatchNorm) is in eval mode."""

from __future__ import annotations

from typing import Any

from traintriage.probe.detectors._common import finding


def detect(ev: dict[str, Any]) -> list:
    steps = ev.get("steps", [])
    if not steps:
        return []
    bad = [s for s in steps for m in s.get("modes", []) if not m.get("training") and m.get("mode_dependent", 0) > 0]
    if not bad or len(bad) < max(1, len(steps) // 2):
        return []
    m = next(m for m in bad[0]["modes"] if not m.get("training"))
    return [finding("wrong-train-eval-mode", "error", 0.85,
                    f"{len(bad)}/{len(steps)} optimizer steps ran with {m['root']} in eval mode; its "
                    f"{m['mode_dependent']} dropout/BatchNorm layer(s) behave as at inference (call model.train() "
                    "before the training loop, and again after each evaluation).",
                    steps_in_eval=len(bad), steps=len(steps), module=m["root"],
                    mode_dependent_layers=m["mode_dependent"],
                    train_calls=(ev.get("end") or {}).get("train_calls"))]

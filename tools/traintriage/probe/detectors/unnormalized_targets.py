"""unnormalized-targets: regression targets on a scale far from ~1."""

from __future__ import annotations

from typing import Any

from traintriage.probe.detectors._common import calls, finding, overfit_failed

# Targets with |mean| or std above 100 make the initial MSE ~1e4+ and its gradients swamp the model's
# scale; standardising targets (and un-standardising predictions) is the usual fix.
TARGET_SCALE = 100.0


def detect(ev: dict[str, Any]) -> list:
    cs = [c for c in calls(ev, "mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss") if c.get("target_std") is not None]
    if not cs:
        return []
    c = cs[0]
    big = max(abs(c.get("target_mean") or 0), c.get("target_std") or 0)
    if big < TARGET_SCALE:
        return []
    sev = "error" if overfit_failed(ev) or big >= 100 * TARGET_SCALE else "warning"
    return [finding("unnormalized-targets", sev, 0.75 if sev == "error" else 0.5,
                    f"{c['fn']} targets have mean {c['target_mean']:.3g} and std {c['target_std']:.3g}: standardise "
                    "them (and invert the transform at prediction time).",
                    target_mean=c["target_mean"], target_std=c["target_std"], target_absmax=c.get("target_absmax"),
                    threshold=TARGET_SCALE)]

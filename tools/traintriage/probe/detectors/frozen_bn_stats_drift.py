"""frozen-bn-stats-drift: BatchNorm layers whose affine params are frozen keep updating running stats."""

from __future__ import annotations

from typing import Any

from traintriage.probe.detectors._common import finding

# Relative change of running_mean over the probe above which the "frozen" layer is clearly still adapting.
DRIFT = 1e-2


def detect(ev: dict[str, Any]) -> list:
    bn = ev.get("bn") or {}
    drifting = [r for r in bn.get("layers", []) if r.get("frozen_affine") and r.get("training")
                and (r.get("drift") or 0) > DRIFT]
    if not drifting:
        return []
    frozen = [r for r in bn.get("layers", []) if r.get("frozen_affine")]
    return [finding("frozen-bn-stats-drift", "error", 0.7,
                    f"{len(drifting)} BatchNorm layer(s) have frozen weights but run in train mode, so their "
                    f"running statistics keep moving (up to {max(r['drift'] for r in drifting):.2g} relative): the "
                    "frozen backbone is not frozen. Put those layers in eval() after model.train().",
                    layers=[r["name"] for r in drifting][:10], n_frozen_bn=len(frozen),
                    max_drift=max(r["drift"] for r in drifting))]

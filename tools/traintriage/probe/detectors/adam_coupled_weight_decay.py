"""adam-coupled-weight-decay: torch.optim.Adam with weight_decay > 0 (L2 in the gradient, not AdamW's
decoupled decay; Loshchilov & Hutter, "Decoupled Weight Decay Regularization", 2019)."""

from __future__ import annotations

from typing import Any

from traintriage.probe.detectors._common import finding

# Above this, L2-through-Adam dominates small gradients enough to stall learning, not just regularise less
# well (AdamW's default is 1e-2 *decoupled*; as coupled L2 in Adam that is already strong).
STRONG_WD = 1e-2


def detect(ev: dict[str, Any]) -> list:
    out = []
    for o in ev.get("optimizers", []):
        if o.get("cls") not in ("Adam", "Adamax", "NAdam", "RAdam") or o.get("defaults", {}).get("decoupled_weight_decay"):
            continue
        wds = [g.get("weight_decay", 0) or 0 for g in o.get("groups", [])]
        if max(wds, default=0) > 0:
            wd = max(wds)
            out.append(finding("adam-coupled-weight-decay", "warning", 0.75 if wd >= STRONG_WD else 0.6,
                               f"{o['cls']} with weight_decay={wd:g} adds L2 to the gradient, which Adam then "
                               "rescales per weight, so decay is weak where gradients are large and strong where "
                               "they are small. Use torch.optim.AdamW for decoupled weight decay.",
                               optimizer=o["cls"], weight_decay=wds))
    return out

"""decay-on-norm-and-bias: weight decay applied to biases and normalisation gains (1-D parameters)."""

from __future__ import annotations

from typing import Any

from traintriage.probe.detectors._common import finding

# Decay strong enough that pulling LayerNorm/BatchNorm gains toward 0 matters within a run (nanoGPT and
# the BERT recipe exclude 1-D params from decay; at 0.1 and above the gains visibly shrink).
STRONG_WD = 0.1


def detect(ev: dict[str, Any]) -> list:
    out = []
    for o in ev.get("optimizers", []):
        for gi, g in enumerate(o.get("groups", [])):
            wd = g.get("weight_decay", 0) or 0
            if wd > 0 and g.get("n_1d", 0) > 0:
                strong = wd >= STRONG_WD
                out.append(finding("decay-on-norm-and-bias", "warning" if strong else "info", 0.55 if strong else 0.3,
                                   f"Param group {gi} decays {g['n_1d']} one-dimensional tensors (biases, norm "
                                   f"gains) with weight_decay={wd:g}; put them in a group with weight_decay=0.",
                                   group=gi, weight_decay=wd, n_1d=g["n_1d"], examples=g.get("names_1d", [])[:5]))
    return out[:2]

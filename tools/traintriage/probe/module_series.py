"""Per-module series over the sampled steps, for people to look at (the HTML report's heatmaps, issue 19).

The step records carry, on sampled steps, each parameter's gradient norm (before clipping), update norm and
weight norm. Summed per module (the parameter name without its last part), these are the gradient norm and
the update/weight ratio of each module per sampled step. Pure: the evidence dict in, a metrics dict out.
"""

from __future__ import annotations

import math
from typing import Any

MAX_MODULES = 24  # the modules with the largest gradient norm; a heatmap with more rows is unreadable


def _module(name: str) -> str:
    return name.rsplit(".", 1)[0] if "." in name else "(root)"


def module_series(steps: list[dict[str, Any]]) -> dict[str, Any]:
    """{"module_steps": [...], "module_grad_norm_steps": {module: [...]}, "module_rel_update_steps": {...}}."""
    per = [s for s in steps if s.get("params")]
    if len(per) < 2:
        return {}
    grad: dict[str, list[float | None]] = {}
    rel: dict[str, list[float | None]] = {}
    for k, s in enumerate(per):
        g2: dict[str, float] = {}
        u2: dict[str, float] = {}
        w2: dict[str, float] = {}
        for p in s["params"]:
            mod = _module(p["name"])
            if p.get("grad") is not None:
                g2[mod] = g2.get(mod, 0.0) + p["grad"] ** 2
            if p.get("update") is not None and p.get("param") is not None:
                u2[mod] = u2.get(mod, 0.0) + p["update"] ** 2
                w2[mod] = w2.get(mod, 0.0) + p["param"] ** 2
        for mod in set(g2) | set(u2):
            grad.setdefault(mod, [None] * len(per))[k] = round(math.sqrt(g2[mod]), 6) if mod in g2 else None
            rel.setdefault(mod, [None] * len(per))[k] = (round(math.sqrt(u2[mod] / w2[mod]), 8)
                                                          if w2.get(mod) else None)
    top = sorted(grad, key=lambda m: -max((v for v in grad[m] if v is not None), default=0.0))[:MAX_MODULES]
    return {"module_steps": [s.get("step") for s in per],
            "module_grad_norm_steps": {m: grad[m] for m in top},
            "module_rel_update_steps": {m: rel[m] for m in top if m in rel}}

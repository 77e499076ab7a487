"""frozen-param-in-optimizer: parameters marked requires_grad=False are in the optimizer and still move."""

from __future__ import annotations

from typing import Any

from traintriage.probe.detectors._common import finding


def detect(ev: dict[str, Any]) -> list:
    moved: dict[str, float] = {}
    for s in ev.get("steps_all", []):
        for p in s.get("params", []) or []:
            if not p.get("requires_grad") and (p.get("update") or 0) > 0:
                moved[p["name"]] = max(moved.get(p["name"], 0.0), p["update"] / max(p.get("param") or 1e-12, 1e-12))
    n_frozen = sum(g.get("n_frozen", 0) for o in ev.get("optimizers", []) for g in o.get("groups", []))
    names = [n for o in ev.get("optimizers", []) for g in o.get("groups", []) for n in g.get("frozen_names", [])]
    if moved:
        worst = max(moved.values())
        return [finding("frozen-param-in-optimizer", "error", 0.85,
                        f"{len(moved)} parameter tensor(s) with requires_grad=False still change each step (relative "
                        f"update up to {worst:.2g}): weight decay or momentum in the optimizer moves them. Build the "
                        "optimizer from the trainable parameters only.",
                        moved=sorted(moved)[:10], max_rel_update=worst, n_frozen_in_optimizer=n_frozen)]
    if n_frozen:
        return [finding("frozen-param-in-optimizer", "info", 0.4,
                        f"{n_frozen} frozen parameter tensor(s) are in the optimizer; they do not move now, but "
                        "weight decay or momentum will move them if their .grad is ever non-None.",
                        n_frozen_in_optimizer=n_frozen, examples=names[:5])]
    return []

"""no-trainable-params: the model has no parameter with requires_grad=True (or the optimizer holds none)."""

from __future__ import annotations

from typing import Any

from traintriage.probe.detectors._common import finding


def detect(ev: dict[str, Any]) -> list:
    roots = ev.get("roots", [])
    p = ev.get("params") or {}
    if roots and sum(r.get("n_params", 0) for r in roots) > 0 and all(r.get("n_trainable", 0) == 0 for r in roots):
        if p.get("n_root_trainable", 0) == 0:
            return [finding("no-trainable-params", "error", 0.95,
                            "Every parameter of the model has requires_grad=False: nothing can learn.",
                            n_params=sum(r.get("n_params", 0) for r in roots), n_trainable=0)]
    opts = ev.get("optimizers", [])
    if opts and all(g.get("n_frozen", 0) == g.get("n_params", 0) for o in opts for g in o.get("groups", [])):
        n = sum(g.get("n_params", 0) for o in opts for g in o.get("groups", []))
        if n:
            return [finding("no-trainable-params", "error", 0.9,
                            f"All {n} parameter tensors handed to the optimizer have requires_grad=False.",
                            n_optimizer_params=n, n_trainable=0)]
    return []

"""params-not-in-optimizer: parameters get gradients but no optimizer updates them (or the reverse:
the optimizer holds parameters the forward pass never reaches)."""

from __future__ import annotations

from typing import Any

from traintriage.probe.detectors._common import finding


def detect(ev: dict[str, Any]) -> list:
    p = ev.get("params")
    if not p or ev.get("manual"):
        return []
    out = []
    if p.get("n_orphans", 0) > 0:
        share = p["orphan_numel"] / max(1, p.get("numel_trainable", 0) or p["orphan_numel"])
        out.append(finding(
            "params-not-in-optimizer", "error", 0.9 if share > 0.05 else 0.7,
            f"{p['n_orphans']} parameter tensor(s) ({p['orphan_numel']} values, {share:.0%} of the trainable "
            f"model) receive gradients but are in no optimizer, so they never change: "
            f"{', '.join(p['orphans'][:5])}.",
            orphans=p["orphans"], orphan_numel=p["orphan_numel"], share_of_trainable=round(share, 4),
            n_optimizer_params=p.get("n_optimizer_params")))
    if p.get("n_unused", 0) > 0 and p.get("n_optimizer_params") and p.get("n_with_grad", 0) > 0:
        share = p["n_unused"] / p["n_optimizer_params"]
        sev = "error" if share > 0.5 and p.get("n_orphans", 0) > 0 else "warning"
        out.append(finding(
            "params-not-in-optimizer", sev, 0.8 if sev == "error" else 0.45,
            f"{p['n_unused']} of {p['n_optimizer_params']} parameter tensors in the optimizer never got a "
            f"gradient: the optimizer may hold a different model (or a stale copy) from the one trained: "
            f"{', '.join(p['unused'][:5])}.",
            unused=p["unused"], unused_numel=p.get("unused_numel"), share_of_optimizer=round(share, 4)))
    return out

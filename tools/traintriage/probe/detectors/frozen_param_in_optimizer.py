"""frozen-param-in-optimizer: parameters marked requires_grad=False are in the optimizer and still move, or
were frozen at their untrained initial value although the optimizer was handed them to train.

Two measurements (harness: per-parameter update norms on sampled steps; optimizer param groups at its first step):
- a requires_grad=False tensor whose value changed across an optimizer step (weight decay or momentum acting on
  a stale/zeroed .grad): error;
- a requires_grad=False tensor held by an optimizer whose elements are all equal (zeros, ones): it was never
  trained, so freezing it did not keep pretrained values, it pinned an initialisation the optimizer was meant
  to move (a name filter that froze more than intended). An error when the run also failed to learn, a warning
  when the loss fell anyway (a constant frozen tensor may be a deliberate fixed scale or mask).
Any other frozen tensor in an optimizer is an info note.
"""

from __future__ import annotations

from typing import Any

from traintriage.probe.detectors._common import finding


def detect(ev: dict[str, Any]) -> list:
    moved: dict[str, float] = {}
    for s in ev.get("steps_all", []):
        for p in s.get("params", []) or []:
            if not p.get("requires_grad") and (p.get("update") or 0) > 0:
                moved[p["name"]] = max(moved.get(p["name"], 0.0), p["update"] / max(p.get("param") or 1e-12, 1e-12))
    groups = [g for o in ev.get("optimizers", []) for g in o.get("groups", [])]
    n_frozen = sum(g.get("n_frozen", 0) for g in groups)
    names = [n for g in groups for n in g.get("frozen_names", [])]
    const = [c for g in groups for c in g.get("frozen_const", []) or []]
    if moved:
        worst = max(moved.values())
        return [finding("frozen-param-in-optimizer", "error", 0.85,
                        f"{len(moved)} parameter tensor(s) with requires_grad=False still change each step (relative "
                        f"update up to {worst:.2g}): weight decay or momentum in the optimizer moves them. Build the "
                        "optimizer from the trainable parameters only.",
                        moved=sorted(moved)[:10], max_rel_update=worst, n_frozen_in_optimizer=n_frozen)]
    if const:
        of = ev.get("overfit") or {}
        failed = of.get("passed") is False
        shown = ", ".join(f"{c['name']} (all {c['value']:.3g}, {c['numel']} values)" for c in const[:3])
        return [finding("frozen-param-in-optimizer", "error" if failed else "warning", 0.75 if failed else 0.5,
                        f"{len(const)} frozen tensor(s) the optimizer was given are still at a constant initial value: "
                        f"{shown}. They were never trained, so requires_grad=False pins an initialisation rather than "
                        "keeping pretrained weights; the optimizer holds them but can never update them"
                        + (f" (and the loss did not fall: {of.get('initial', 0):.4g} -> {of.get('final', 0):.4g})"
                           if failed else "")
                        + ". Check which parameters the freezing code matches.",
                        constant=const[:10], n_constant=len(const), n_frozen_in_optimizer=n_frozen,
                        frozen=names[:10], overfit_ratio=of.get("ratio"), overfit_passed=of.get("passed"))]
    if n_frozen:
        return [finding("frozen-param-in-optimizer", "info", 0.4,
                        f"{n_frozen} frozen parameter tensor(s) are in the optimizer; they do not move now, but "
                        "weight decay or momentum will move them if their .grad is ever non-None.",
                        n_frozen_in_optimizer=n_frozen, examples=names[:5])]
    return []

"""module-gradient-outlier: one parameter's gradient (relative to its size) dwarfs the rest of the model."""

from __future__ import annotations

from typing import Any

from traintriage.probe.detectors._common import finding, median, overfit_failed

# ||g|| / ||theta|| for one tensor this many times the median over the model: its effective LR is two
# orders of magnitude off (a multiplicative scale on raw inputs, an un-normalised embedding...).
OUTLIER_FACTOR = 100.0
MIN_TENSORS = 4


def detect(ev: dict[str, Any]) -> list:
    per = [s for s in ev.get("steps", []) if s.get("params")]
    if not per:
        return []
    # biases start at (or near) zero, so grad/param is meaningless for them; weights and scales only
    rows = [p for p in per[0]["params"] if p.get("grad") and (p.get("param") or 0) > 1e-8 and p.get("requires_grad")
            and not p.get("orphan") and not str(p.get("name", "")).endswith("bias")]
    if len(rows) < MIN_TENSORS:
        return []
    ratios = {p["name"]: p["grad"] / p["param"] for p in rows}
    med = median(list(ratios.values()))
    if not med:
        return []
    name, worst = max(ratios.items(), key=lambda kv: kv[1])
    if worst < OUTLIER_FACTOR * med:
        return []
    sev = "error" if overfit_failed(ev) else "warning"
    return [finding("module-gradient-outlier", sev, 0.7 if sev == "error" else 0.5,
                    f"{name} gets a gradient {worst / med:.0f}x larger, relative to its weights, than the median "
                    f"tensor ({worst:.3g} vs {med:.3g}): it dominates every step. Check its init (a multiplicative "
                    "scale should start at 1) and give it its own LR or normalise its input.",
                    param=name, grad_over_param=worst, median_grad_over_param=med, factor=worst / med)]

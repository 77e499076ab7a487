"""Small helpers the detectors share: reading the loss curve, per-group numbers, the loss calls."""

from __future__ import annotations

import math
from typing import Any

from traintriage.thresholds import REL_UPDATE_PEAK  # a blow-up step: value and why in thresholds.py

# lr-too-high's yardsticks (read here by the NaN-window reading too, so they live below both).
# Loss on a fixed batch jumping to this multiple of its start is a divergence event.
LOSS_SPIKE = 2.0


def share(x: float) -> str:
    """A fraction as a person reads it, with its unit: 1.0 -> '100 %', 0.55 -> '55 %', 2e-05 -> '0.002 %'
    (a bare '1 of their norm' or '2e-05' leaves the reader to guess what it is a part of)."""
    pct = 100.0 * x
    return f"{pct:.0f} %" if abs(pct) >= 10 else f"{pct:.2g} %"


def losses(ev: dict[str, Any]) -> list[float]:
    return [x for x in ev.get("losses", []) if isinstance(x, (int, float)) and math.isfinite(x)]


def loss_ratio(ev: dict[str, Any]) -> float | None:
    """final / initial loss (None when there is no usable curve)."""
    of = ev.get("overfit") or {}
    return of.get("ratio")


def loss_fell(ev: dict[str, Any], fraction: float = 0.5) -> bool:
    r = loss_ratio(ev)
    return r is not None and r <= fraction


def calls(ev: dict[str, Any], *fns: str) -> list[dict[str, Any]]:
    return [c for c in ev.get("loss_calls", []) if c.get("fn") in fns]


def median(xs: list[float]) -> float | None:
    xs = sorted(x for x in xs if x is not None)
    if not xs:
        return None
    n = len(xs)
    return xs[n // 2] if n % 2 else 0.5 * (xs[n // 2 - 1] + xs[n // 2])


def group_rel_updates(ev: dict[str, Any], skip_first: int = 0) -> list[list[float]]:
    """rel_update per param group over the primary optimizer's steps."""
    steps = ev.get("steps", [])[skip_first:]
    if not steps:
        return []
    ng = max(len(s.get("groups", [])) for s in steps)
    out: list[list[float]] = [[] for _ in range(ng)]
    for s in steps:
        for g, gg in enumerate(s.get("groups", [])):
            if gg.get("rel_update") is not None:
                out[g].append(gg["rel_update"])
    return out


def optimizer(ev: dict[str, Any], index: int = 0) -> dict[str, Any] | None:
    for o in ev.get("optimizers", []):
        if o.get("index") == index:
            return o
    return None


def finding(id_: str, severity: str, confidence: float, message: str, **evidence: Any):  # noqa: ANN201
    from traintriage.report import Finding

    return Finding(id=id_, severity=severity, confidence=round(min(1.0, max(0.0, confidence)), 3),
                   message=message, evidence=evidence, source="probe")


def overfit_failed(ev: dict[str, Any]) -> bool:
    of = ev.get("overfit") or {}
    return of.get("passed") is False


def last_step_calls(ev: dict[str, Any], *fns: str) -> list[dict[str, Any]]:
    cs = calls(ev, *fns)
    if not cs:
        return []
    last = max(c.get("step", 0) for c in cs)
    return [c for c in cs if c.get("step", 0) == last]


# ---------------------------------------------------------------- what drove a non-finite value
# Causal precedence (the rule the dynamics detectors rank by): a NaN/inf is charged to an instability only
# when that instability is measured in the steps just before it (refs/catalogue/dynamics.md#non-finite-loss:
# "often right after a spike"; #exploding-gradients: "loss spikes ... then turns NaN"). When the steps before
# it were calm (small updates, loss at or below its start, gradient norm not growing), the NaN comes from an
# operation outside its safe range (log(0), 0/0, sqrt at 0) or from the data: non-finite-loss is the first
# cause and the lr / gradient detectors do not claim it. Three steps: the step that produced the bad weights
# and the two before it (an Adam/momentum overshoot builds over a couple of steps).
NAN_WINDOW = 3
# Gradient norm in that window this many times its first value: the gradient was growing into the NaN.
NAN_GRAD_GROWTH = 10.0


def bad_loss_steps(ev: dict[str, Any]) -> list[int]:
    """Indices of the steps whose loss is NaN/inf. A step with no backward() since the previous one has no loss
    to read (None): that is a step-order question, not a non-finite loss."""
    steps = ev.get("steps", [])
    return [i for i, x in enumerate(ev.get("losses", []))
            if (x is None and not (i < len(steps) and steps[i].get("n_backward") == 0))
            or (isinstance(x, float) and not math.isfinite(x))]


def first_nonfinite_step(ev: dict[str, Any]) -> int | None:
    """Index of the first optimizer step whose loss or gradient is NaN/inf (None when all are finite)."""
    bad = bad_loss_steps(ev)
    gbad = [i for i, s in enumerate(ev.get("steps", [])) if s.get("grad_norm") is None and s.get("n_backward")]
    firsts = [xs[0] for xs in (bad, gbad) if xs]
    return min(firsts) if firsts else None


def instability_before(ev: dict[str, Any], first_bad: int | None) -> dict[str, Any]:
    """What the NAN_WINDOW steps before the first non-finite step measured, and whether it was unstable.

    unstable: a relative update >= REL_UPDATE_PEAK, a finite loss >= LOSS_SPIKE x the first
    loss, or a gradient norm >= NAN_GRAD_GROWTH x the first one in that window. A NaN at step 0 has no
    window: it is never charged to an instability.
    """
    out: dict[str, Any] = {"first_bad_step": first_bad, "window": NAN_WINDOW, "unstable": False}
    if first_bad is None or first_bad <= 0:
        return out
    steps = ev.get("steps", [])
    win = steps[max(0, first_bad - NAN_WINDOW):first_bad]
    fin = [x for x in ev.get("losses", []) if isinstance(x, (int, float)) and math.isfinite(x)]
    first_loss = fin[0] if fin else None
    first_gn = next((s.get("grad_norm") for s in steps if s.get("grad_norm")), None)
    rel = max((s.get("rel_update") or 0.0 for s in win), default=0.0)
    wl = [s.get("loss") for s in win if isinstance(s.get("loss"), (int, float)) and math.isfinite(s["loss"])]
    loss_up = max(wl) / first_loss if wl and first_loss and first_loss > 0 else None
    gns = [s.get("grad_norm") for s in win if s.get("grad_norm") is not None]
    g_up = max(gns) / first_gn if gns and first_gn else None
    out.update(max_rel_update=round(rel, 6), loss_over_start=round(loss_up, 4) if loss_up is not None else None,
               grad_growth=round(g_up, 4) if g_up is not None else None)
    out["unstable"] = bool(rel >= REL_UPDATE_PEAK or (loss_up is not None and loss_up >= LOSS_SPIKE)
                           or (g_up is not None and g_up >= NAN_GRAD_GROWTH))
    return out

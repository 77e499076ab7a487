"""Small helpers the detectors share: reading the loss curve, per-group numbers, the loss calls."""

from __future__ import annotations

import math
from typing import Any


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

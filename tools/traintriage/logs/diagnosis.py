"""diagnose(run) -> Report: run every curve detector, rank what they saw.

Verdict: `broken` when a symptom or finding is at error severity, `inconclusive` when there is no
training-loss series to judge, else `healthy`. Symptoms are ordered error first, then by the step where
they start; each symptom's evidence carries its `severity`.
"""

from __future__ import annotations

import time

from traintriage.logs.detectors import registry
from traintriage.logs.detectors.base import Context, Detection
from traintriage.logs.model import Run
from traintriage.report import Finding, Report

_RANK = {"error": 0, "warning": 1, "info": 2}


def diagnose(run: Run, num_classes: int | None = None) -> Report:
    t0 = time.perf_counter()
    ctx = Context(run=run, num_classes=num_classes)
    dets: list[Detection] = []
    for mod in registry():
        try:
            dets += mod.detect(ctx)
        except Exception as e:  # noqa: BLE001 - one broken detector must not hide the others
            ctx.notes.append(f"detector {mod.__name__.rsplit('.', 1)[-1]} failed: {type(e).__name__}: {e}")
    dets.sort(key=lambda d: (_RANK[d.severity], d.symptom.step if d.symptom.step is not None else 0))
    for d in dets:
        d.symptom.evidence["severity"] = d.severity
    findings = _merge([f for d in dets for f in d.findings])
    has_loss = run.primary("train_loss") is not None
    if any(d.severity == "error" for d in dets) or any(f.severity == "error" for f in findings):
        verdict = "broken"
    elif not has_loss:
        verdict = "inconclusive"
        ctx.notes.append(
            f"no training-loss series found (metrics: {', '.join(list(run.series)[:15])}); curve checks need one "
            "named like loss / train_loss / train/loss"
        )
    else:
        verdict = "healthy"
    from traintriage.logs.summary import overview

    return Report(
        tool="logs",
        target=run.path,
        verdict=verdict,
        findings=findings,
        symptoms=[d.symptom for d in dets],
        metrics=overview(run),
        notes=list(run.skipped) + ctx.notes,
        seconds=time.perf_counter() - t0,
    )


def _merge(findings: list[Finding]) -> list[Finding]:
    """One finding per cause id: the most severe / confident, with the others' messages noted."""
    best: dict[str, Finding] = {}
    for f in findings:
        cur = best.get(f.id)
        if cur is None:
            best[f.id] = f
            continue
        a, b = (_RANK[f.severity], -f.confidence), (_RANK[cur.severity], -cur.confidence)
        keep, other = (f, cur) if a < b else (cur, f)
        keep.evidence.setdefault("also", []).append(other.message)
        keep.confidence = min(1.0, keep.confidence + 0.1)  # two independent readings agree
        best[f.id] = keep
    return list(best.values())

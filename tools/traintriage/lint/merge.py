"""Merge lint findings (what the source says) with probe findings (what the run measured).

- Both name the same id: one finding, source "triage", confidence 1-(1-a)(1-b), the probe's evidence plus
  the lint's `where`, the higher severity.
- The probe ran to completion, its overfit check passed, and it reported nothing in the lint finding's
  family: the probe measured the quantity the lint worried about and found it fine. The lint finding is
  lowered one severity step, its confidence halved, and `evidence.contradicted_by` says why.
- Otherwise both lists pass through unchanged.
"""

from __future__ import annotations

from typing import Any

from traintriage.report import Finding, Report, sort_findings

# Families for the DESIGN.md ids, used when the catalogue cannot be read (it is authoritative when it can).
FAMILY = {
    "params-not-in-optimizer": "wiring",
    "loss-detached": "wiring",
    "step-order": "wiring",
    "missing-zero-grad": "wiring",
    "wrong-train-eval-mode": "wiring",
    "no-trainable-params": "wiring",
    "adam-coupled-weight-decay": "optimizer",
    "decay-on-norm-and-bias": "optimizer",
    "scheduler-misuse": "optimizer",
    "grad-accum-not-scaled": "optimizer",
    "double-softmax": "loss",
    "sigmoid-bceloss": "loss",
    "ce-target-form": "loss",
    "nll-without-log-softmax": "loss",
    "wrong-loss-formula": "loss",
    "frozen-param-in-optimizer": "finetune",
    "state-dict-shape-mismatch": "finetune",
}
# What a passing overfit check measured, per lint id: the sentence `contradicted_by` carries.
MEASURED = {
    "double-softmax": "the loss on one repeated batch fell below the double-softmax floor ln(1+(C-1)/e)",
    "sigmoid-bceloss": "the loss on one repeated batch fell as it cannot through a doubled sigmoid",
    "nll-without-log-softmax": "NLL on one repeated batch fell, so the inputs behave as log-probabilities",
    "ce-target-form": "cross-entropy ran and fell on one repeated batch",
    "wrong-loss-formula": "the loss's gradient on the model's output was per sample (no batch-mean coupling, "
    "no per-sample norm) and the loss fell on one repeated batch",
    "params-not-in-optimizer": "the parameters that received gradients were updated by the optimizer",
    "loss-detached": "the loss had a graph: parameters received gradients and the loss fell",
    "step-order": "optimizer steps applied non-zero gradients and the loss fell",
    "missing-zero-grad": "gradients did not grow across steps and the loss fell",
    "wrong-train-eval-mode": "the model was in training mode at each optimizer step",
    "scheduler-misuse": "the run's learning-rate trace looked normal and the loss fell",
    "grad-accum-not-scaled": "the update size stayed in range and the loss fell",
    "adam-coupled-weight-decay": "the loss fell on one repeated batch with this weight decay",
    "decay-on-norm-and-bias": "the loss fell on one repeated batch with this weight decay",
    "frozen-param-in-optimizer": "frozen parameters did not move and the loss fell",
    "state-dict-shape-mismatch": "the loss fell on one repeated batch",
}
# Lint ids a passing overfit check says nothing about: a model whose heads are scrambled by a view without
# transpose is a worse model, not a broken optimiser, and still fits one batch (refs/catalogue/structure.md:
# the heads-split eval case memorises its batch either way), so it is not lowered for it. Likewise a metric
# computed on one rank's shard: the evaluation it concerns runs after the probe's steps, so the overfit check
# (a training-loop measurement) says nothing about it (refs/catalogue/distributed.md#metric-on-one-shard).
NOT_MEASURED_BY_OVERFIT = frozenset({"heads-split-without-transpose", "metric-on-one-shard"})
_LOWER = {"error": "warning", "warning": "info", "info": "info"}
_RANK = {"error": 0, "warning": 1, "info": 2}


def family_of(id_: str) -> str:
    try:
        from traintriage.catalogue import resolve

        e = resolve(id_)
        if e is not None:
            return e.family
    except Exception:  # noqa: BLE001 - a broken handbook must not break triage
        pass
    return FAMILY.get(id_, "?")


def _overfit_passed(report: Report | None) -> bool | None:
    """Read the probe report's overfit result, wherever the probe put it."""
    if report is None:
        return None
    m: dict[str, Any] = report.metrics or {}
    for key in ("overfit_passed", "overfit_ok"):
        if isinstance(m.get(key), bool):
            return m[key]
    ov = m.get("overfit")
    if isinstance(ov, dict) and isinstance(ov.get("passed"), bool):
        return ov["passed"]
    return None


def merge(
    lint_findings: list[Finding],
    probe_findings: list[Finding] | Report,
    *,
    probe_report: Report | None = None,
    overfit_passed: bool | None = None,
) -> list[Finding]:
    """One list of findings from lint and probe, most important first (see the module docstring).

    `probe_findings` may be the probe's Report; then its verdict and metrics decide contradictions.
    `overfit_passed` overrides what is read from the report. Without a completed probe, nothing is lowered.
    """
    if isinstance(probe_findings, Report):
        probe_report = probe_report or probe_findings
        probe_list = list(probe_findings.findings)
    else:
        probe_list = list(probe_findings)
    if overfit_passed is None:
        overfit_passed = _overfit_passed(probe_report)
    completed = probe_report is None or probe_report.verdict in ("healthy", "broken")
    probe_ran_clean = bool(overfit_passed) and completed

    by_id: dict[str, Finding] = {}
    for p in probe_list:
        if p.id not in by_id or p.confidence > by_id[p.id].confidence:
            by_id[p.id] = p
    probe_families = {family_of(p.id) for p in probe_list}

    out: list[Finding] = []
    used: set[str] = set()
    for lf in lint_findings:
        p = by_id.get(lf.id)
        if p is not None:
            used.add(lf.id)
            evidence = dict(p.evidence)
            evidence["lint"] = {"where": lf.where, "rule": lf.evidence.get("rule"), "message": lf.message}
            out.append(
                Finding(
                    id=lf.id,
                    severity=min(p.severity, lf.severity, key=lambda s: _RANK[s]),
                    confidence=round(1 - (1 - p.confidence) * (1 - lf.confidence), 4),
                    message=f"{p.message} Source: {lf.message}",
                    evidence=evidence,
                    where=lf.where or p.where,
                    ref=p.ref or lf.ref,
                    source="triage",
                )
            )
            continue
        fam = family_of(lf.id)
        if probe_ran_clean and fam not in probe_families and lf.id not in NOT_MEASURED_BY_OVERFIT:
            measured = MEASURED.get(lf.id, "the overfit check passed")
            evidence = dict(lf.evidence)
            evidence["contradicted_by"] = (
                f"probe: overfit check passed and no {fam}-family finding; {measured}"
            )
            out.append(
                lf.model_copy(
                    update={
                        "severity": _LOWER[lf.severity],
                        "confidence": round(lf.confidence / 2, 4),
                        "evidence": evidence,
                    }
                )
            )
            continue
        out.append(lf)
    # Probe findings with the same id merged above; keep every other probe finding (all copies of a used id
    # are represented by the merged one).
    out.extend(p for p in probe_list if p.id not in used)
    return sort_findings(out)

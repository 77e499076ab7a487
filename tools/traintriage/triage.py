"""Triage one training script: probe it (overfit one batch under instrumentation), lint its source, and
read its logs when given; merge everything into one ranked Report (tool="triage").

The probe's child also decomposes the loss into its terms at three sampled steps (probe/grads_record.py hooks, the
same run, no second process); the rough-map findings join the report when the script computes more than one
loss term or a term looks saturated (issue: "triage includes them when more than one term is present").

lint and logs are optional parts: each is imported where it is used, so triage works with whatever of
the package is present, and says in `notes` what it could not run.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from typing import Any

from traintriage.report import Finding, Report, sort_findings, verdict_for


def _lint(script: str, notes: list[str]) -> Report | None:
    try:
        from traintriage.lint import lint_file
    except ImportError:
        notes.append("lint is not available in this installation; source checks skipped.")
        return None
    try:
        return lint_file(script)
    except Exception as e:  # noqa: BLE001 - a lint failure must not hide the probe's evidence
        notes.append(f"lint failed: {type(e).__name__}: {e}")
        return None


def _merge(lint_rep: Report | None, probe: Report, notes: list[str]) -> list[Finding]:
    if lint_rep is None:
        return list(probe.findings)
    try:
        from traintriage.lint import merge
    except ImportError:
        return sort_findings(list(probe.findings) + list(lint_rep.findings))
    try:
        return merge(list(lint_rep.findings), probe)
    except Exception as e:  # noqa: BLE001
        notes.append(f"merging lint and probe failed ({type(e).__name__}: {e}); both lists kept as they are.")
        return sort_findings(list(probe.findings) + list(lint_rep.findings))


def _logs(path: str, notes: list[str]) -> Report | None:
    try:
        from traintriage.logs import diagnose, read_run
    except ImportError:
        notes.append("log reading is not available in this installation; --logs ignored.")
        return None
    try:
        return diagnose(read_run(path))
    except Exception as e:  # noqa: BLE001
        notes.append(f"could not read logs {path}: {type(e).__name__}: {e}")
        return None


def _grads(records: list[dict[str, Any]], notes: list[str], metrics: dict[str, Any] | None = None) -> list[Finding]:
    """Rough-map findings from the probe run's own `grads` records, when the loss has parts worth reading;
    the reading itself (terms, transforms, rows) goes into `metrics["rough_map"]` and one note."""
    try:
        from traintriage.probe.grads import grads_findings, rough_map_reading, terms_seen
    except ImportError:
        return []
    try:
        found = grads_findings(records)
        terms = terms_seen(records)
        reading = rough_map_reading(records)
    except Exception as e:  # noqa: BLE001 - the decomposition must not hide the probe's evidence
        notes.append(f"loss-term decomposition failed: {type(e).__name__}: {e}")
        return []
    if reading is not None and metrics is not None:
        metrics["rough_map"] = reading
        notes.append(f"rough map of the loss's terms (traintriage grads for the full reading): {reading['summary']}")
    if len(terms) > 1:
        return found
    return [f for f in found if f.id == "loss-saturated"]


def triage_script(
    script: str | os.PathLike,
    *,
    steps: int = 40,
    timeout: float = 120.0,
    args: Sequence[str] = (),
    cwd: str | os.PathLike | None = None,
    logs: str | os.PathLike | None = None,
    on_progress: Callable[[int, int, str], None] | None = None,
    cancel: threading.Event | None = None,
    max_memory: int | None = None,
    only: Sequence[str] | None = None,
    skip: Sequence[str] | None = None,
    overrides: dict[str, Any] | None = None,  # probe/overrides.child_config(...): --lr-scale, --optimizer-impl
    nproc_per_node: int | None = None,  # launch through torch.distributed.run with this many ranks
) -> Report:
    """`only` / `skip`: probe check ids to keep / turn off (probe.detectors.selected; an unknown id raises
    probe.detectors.UnknownCheckError, a ValueError). A check turned off records and judges nothing."""
    from traintriage.probe.detectors import checks_config
    from traintriage.probe.grads_record import child_config
    from traintriage.probe.runner import probe_with_records

    script = str(script)
    extra = {**child_config(steps), **checks_config(only, skip), **(overrides or {})}
    notes: list[str] = []
    lint_rep = _lint(script, notes)
    probe, records = probe_with_records(script, mode="overfit", steps=steps, timeout=timeout, args=args, cwd=cwd,
                                        on_progress=on_progress, cancel=cancel, extra=extra,
                                        max_memory=max_memory, nproc_per_node=nproc_per_node)
    findings = _merge(lint_rep, probe, notes)
    have = {f.id for f in findings}
    metrics: dict[str, Any] = dict(probe.metrics)
    findings += [f for f in _grads(records, notes, metrics) if f.id not in have]
    symptoms = list(probe.symptoms)
    if logs is not None:
        log_rep = _logs(str(logs), notes)
        if log_rep is not None:
            have = {f.id for f in findings}
            findings += [f for f in log_rep.findings if f.id not in have]
            symptoms += list(log_rep.symptoms)
            metrics["logs"] = log_rep.metrics
            notes += [f"logs: {n}" for n in log_rep.notes]
    notes = list(probe.notes) + notes
    if lint_rep is not None:
        notes += [f"lint: {n}" for n in lint_rep.notes]
    if probe.verdict in ("crashed", "timeout", "inconclusive"):
        verdict = probe.verdict
        if verdict == "inconclusive" and any(f.severity == "error" for f in findings) and not (
            cancel is not None and cancel.is_set()
        ):
            verdict = "broken"
    else:
        # the probe judged "broken" on its overfit check alone (no error finding of its own): keep that
        overfit_only = probe.verdict == "broken" and not any(f.severity == "error" for f in probe.findings)
        verdict = verdict_for(findings, False if overfit_only else None)
    return Report(tool="triage", target=script, verdict=verdict, findings=sort_findings(findings),
                  symptoms=symptoms, metrics=metrics, notes=notes, stdout_tail=probe.stdout_tail,
                  stderr_tail=probe.stderr_tail, seconds=round(probe.seconds + (lint_rep.seconds if lint_rep else 0), 3))

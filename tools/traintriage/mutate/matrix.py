"""The operator x host matrix: plant every operator's bug in every host, keep the mutants that learn measurably
worse than the host (beyond seed noise), triage them, and score the tools (issue 12).

Per host: the host runs plainly under HOST_SEEDS seed offsets (its metric's spread is the noise) and is
triaged itself (an error finding on a host is a false alarm). Per (host, operator): the mutant runs plainly;
a crash, or a metric within the host's noise, drops it (listed with the reason); a verified mutant is triaged
and scored like a broken eval case (top-1 / top-3 over error and warning findings, against the operator's
PRODUCES ids).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from traintriage.mutate import OPERATORS, mutate_source
from traintriage.mutate.plainrun import planted, run_plain, worse_beyond_noise

HOST_SEEDS = 3  # seed offsets per host: the smallest count that gives a spread (max - min) of more than one pair
# "changed": CI's sample gate only (mutate/sample.py): the re-planted mutant is not the one that was verified
Status = Literal["scored", "not-applicable", "crashes", "not-worse", "host-unusable", "changed"]


class Cell(BaseModel):
    host: str
    op: str
    status: Status
    host_metric: list[float] = Field(default_factory=list)
    mutant_metric: float | None = None
    metric: str | None = None
    expected: list[str] = Field(default_factory=list)
    got: list[str] = Field(default_factory=list)
    top1: bool = False
    top3: bool = False
    verdict: str | None = None
    reason: str = ""


class HostRow(BaseModel):
    host: str
    usable: bool
    reason: str = ""
    metric: str | None = None
    seeds: list[float] = Field(default_factory=list)
    verdict: str | None = None
    false_alarms: list[str] = Field(default_factory=list, description="error-severity finding ids on the host")


class OpScore(BaseModel):
    scored: int = 0
    top1: float = 0.0
    top3: float = 0.0
    dropped: int = 0


class Matrix(BaseModel):
    hosts: list[HostRow]
    cells: list[Cell]
    per_operator: dict[str, OpScore]
    scored: int
    top1: float
    top3: float
    host_false_alarms: int = Field(description="hosts with at least one error finding")
    changed: int = Field(0, description="sample gate: pairs whose mutant is not the verified one (re-verify them)")
    unsampled: list[str] = Field(default_factory=list,
                                 description="sample gate: operators with no scored pair and no `unverified` line")


def host_scripts(dirs: Sequence[str | os.PathLike]) -> list[Path]:
    """The healthy script of every case folder under `dirs`: train.py of a healthy case, fixed.py of a broken one."""
    import yaml

    out = []
    for d in dirs:
        for case in sorted(Path(d).iterdir()):
            meta = case / "case.yaml"
            if not meta.is_file():
                continue
            y = yaml.safe_load(meta.read_text(encoding="utf-8")) or {}
            healthy = y.get("healthy") or y.get("family") == "healthy" or not y.get("expected")
            script = case / ("train.py" if healthy else "fixed.py")
            if script.is_file() and y.get("tool", "triage") == "triage":
                out.append(script)
    return out


def _triage(script: Path, steps: int, timeout: float):  # noqa: ANN202
    from traintriage.triage import triage_script

    return triage_script(script, steps=steps, timeout=timeout, cwd=script.parent)


def run_host(script: Path, ops: Sequence, *, steps: int = 40, timeout: float = 120.0,
             triage_host: bool = True) -> tuple[HostRow, list[Cell]]:
    """Everything for one host: its seed runs, its own triage (unless `triage_host` is False: CI's eval gate
    triages the same healthy scripts already), and each operator's mutant."""
    name = f"{script.parent.name}/{script.name}"
    runs = [run_plain(script, seed_offset=k) for k in range(HOST_SEEDS)]
    metrics = [r.metric for r in runs]
    if any(m is None for m in metrics):
        bad = next(r for r in runs if r.metric is None)
        why = f"exit {bad.returncode}: {bad.stderr_tail[-200:]}" if bad.returncode else "prints no final metric"
        return HostRow(host=name, usable=False, reason=why), [
            Cell(host=name, op=o.NAME, status="host-unusable", reason=why) for o in ops]
    seeds = [m.value for m in metrics]
    if not all(math.isfinite(v) for v in seeds):
        # a host that ends on NaN as plain Python gives no yardstick: every mutant would read as "worse" (a
        # non-finite mutant metric counts as worse), seen on grad-accum-not-scaled-gru/fixed.py
        why = f"its final {metrics[0].name} is not finite under the seed offsets ({seeds})"
        return HostRow(host=name, usable=False, reason=why), [
            Cell(host=name, op=o.NAME, status="host-unusable", reason=why) for o in ops]
    metric = metrics[0]
    row = HostRow(host=name, usable=True, metric=metric.name, seeds=seeds)
    if triage_host:
        rep = _triage(script, steps, timeout)
        row.verdict = rep.verdict
        # an error finding is a false alarm; so is a host the probe broke (it runs alone, it crashed under it)
        row.false_alarms = [f.id for f in rep.findings if f.severity == "error"] + (
            [rep.verdict] if rep.verdict in ("crashed", "timeout") else [])
    cells = []
    src = script.read_text(encoding="utf-8")
    for op in ops:
        mutant = mutate_source(src, op)
        cell = Cell(host=name, op=op.NAME, status="not-applicable", host_metric=seeds, metric=metric.name,
                    expected=list(op.PRODUCES))
        if mutant is not None:
            _judge(cell, script, mutant, metric.higher_better, steps, timeout)
        cells.append(cell)
    return row, cells


def _judge(cell: Cell, script: Path, mutant: str, higher_better: bool, steps: int, timeout: float) -> None:
    with planted(script, mutant) as target:
        run = run_plain(target)
        if run.metric is None:
            cell.status, cell.reason = "crashes", (f"exit {run.returncode}: " + run.stderr_tail[-200:]) \
                if run.returncode else "prints no final metric"
            return
        cell.mutant_metric = run.metric.value
        if not worse_beyond_noise(cell.host_metric, run.metric.value, higher_better):
            cell.status, cell.reason = "not-worse", "within the host's seed noise or better"
            return
        score_mutant(cell, target, steps, timeout)


def score_mutant(cell: Cell, target: Path, steps: int, timeout: float) -> None:
    """Triage a verified mutant and score it against its operator's ids (the cell becomes `scored`)."""
    rep = _triage(target, steps, timeout)
    cell.status, cell.verdict = "scored", rep.verdict
    cell.got = rep.top_ids(3, min_severity="warning")
    cell.top1 = bool(cell.got) and cell.got[0] in cell.expected
    cell.top3 = any(g in cell.expected for g in cell.got[:3])


def run_matrix(
    hosts: Sequence[Path],
    *,
    ops: Sequence | None = None,
    pairs: set[tuple[str, str]] | None = None,
    jobs: int = 1,
    steps: int = 40,
    timeout: float = 120.0,
    on_host: Callable[[HostRow, int, int], None] | None = None,
    triage_hosts: bool = True,
) -> Matrix:
    """The whole matrix (or only `pairs` of (host name, operator id), e.g. CI's stratified sample)."""
    from traintriage.evals import _one_thread_per_child

    ops = list(ops or OPERATORS)
    work = []
    for h in hosts:
        name = f"{h.parent.name}/{h.name}"
        mine = [o for o in ops if pairs is None or (name, o.NAME) in pairs]
        if pairs is None or mine:
            work.append((h, mine))
    rows: list[HostRow] = []
    cells: list[Cell] = []

    def one(item: tuple[Path, list]) -> None:
        row, cs = run_host(item[0], item[1], steps=steps, timeout=timeout, triage_host=triage_hosts)
        rows.append(row)
        cells.extend(cs)
        if on_host is not None:
            on_host(row, len(rows), len(work))

    with _one_thread_per_child(), ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        list(pool.map(one, work))
    rows.sort(key=lambda r: r.host)
    cells.sort(key=lambda c: (c.host, c.op))
    return summarize(rows, cells, [o.NAME for o in ops])


def summarize(rows: list[HostRow], cells: list[Cell], op_ids: Sequence[str]) -> Matrix:
    per: dict[str, OpScore] = {}
    for op in op_ids:
        mine = [c for c in cells if c.op == op]
        scored = [c for c in mine if c.status == "scored"]
        per[op] = OpScore(scored=len(scored), dropped=sum(c.status in ("crashes", "not-worse") for c in mine),
                          top1=round(sum(c.top1 for c in scored) / len(scored), 3) if scored else 0.0,
                          top3=round(sum(c.top3 for c in scored) / len(scored), 3) if scored else 0.0)
    scored = [c for c in cells if c.status == "scored"]
    return Matrix(hosts=rows, cells=cells, per_operator=per, scored=len(scored),
                  top1=round(sum(c.top1 for c in scored) / len(scored), 3) if scored else 0.0,
                  top3=round(sum(c.top3 for c in scored) / len(scored), 3) if scored else 0.0,
                  host_false_alarms=sum(bool(r.false_alarms) for r in rows))


def format_matrix(m: Matrix) -> str:
    lines = [f"mutants scored: {m.scored}   top-1 {m.top1:.0%}   top-3 {m.top3:.0%}   "
             f"hosts with a false error: {m.host_false_alarms} of {sum(r.usable for r in m.hosts)}", "",
             f"{'operator':<30} {'scored':>6} {'top-1':>6} {'top-3':>6} {'dropped':>7}"]
    for op, s in m.per_operator.items():
        lines.append(f"{op:<30} {s.scored:>6} {s.top1:>6.0%} {s.top3:>6.0%} {s.dropped:>7}")
    misses = [c for c in m.cells if c.status == "scored" and not c.top1]
    if misses:
        lines += ["", "misses (top-1):"]
        lines += [f"  {c.op:<28} {c.host:<48} expected {c.expected[0]}, got {', '.join(c.got) or '-'}"
                  for c in misses]
    alarms = [r for r in m.hosts if r.false_alarms]
    if alarms:
        lines += ["", "false alarms on hosts:"] + [f"  {r.host}: {', '.join(r.false_alarms)}" for r in alarms]
    dropped = [c for c in m.cells if c.status in ("crashes", "not-worse")]
    if dropped:
        lines += ["", f"dropped mutants ({len(dropped)}):"]
        lines += [f"  {c.op:<28} {c.host:<48} {c.status}: {c.reason[:90]}" for c in dropped]
    changed = [c for c in m.cells if c.status == "changed"]
    if changed:
        lines += ["", f"changed since verified ({len(changed)}; re-verify, evals/README.md):"]
        lines += [f"  {c.op:<28} {c.host:<48} {c.reason}" for c in changed]
    if m.unsampled:
        lines += ["", f"operators with no verified pair in the sample: {', '.join(m.unsampled)}"]
    unusable = [r for r in m.hosts if not r.usable]
    if unusable:
        lines += ["", "unusable hosts:"] + [f"  {r.host}: {r.reason[:120]}" for r in unusable]
    return "\n".join(lines)

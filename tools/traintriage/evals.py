"""The eval harness: run triage on every seeded case and score how often it names the right cause.

A case is a folder ``evals/cases/<name>/`` holding ``train.py`` (the script as a person would run it),
``case.yaml`` (what is wrong with it) and, for a broken case, ``fixed.py`` (the same script with the one
bug fixed). Healthy controls have no bug and expect no finding. The layout and how to add a case are in
``evals/README.md``.

Scoring, precisely (the same words are in evals/README.md):

- ``got`` for a report is ``report.top_ids(3, min_severity="warning")``: the first three distinct cause ids
  among its error- and warning-severity findings, in the report's order (severity, then confidence).
  Info findings never count, neither as hits nor as alarms.
- A broken case is a **top-1 hit** when ``got[0]`` is one of the case's ``expected`` ids, and a **top-3
  hit** when any of ``got[:3]`` is. Listing several expected ids says "each of these is a correct
  diagnosis" (a randn init that saturates tanh is both bad-init and saturated-activations); ``expected[0]``
  is the primary one, and hitting it first is reported separately as ``primary1``. Ids are compared after
  resolving catalogue aliases. A report that crashed, timed out or raised is a miss.
- A **false alarm** is an error-severity finding on a script that has nothing wrong with it: a healthy
  control's ``train.py`` or a broken case's ``fixed.py``. Each one is listed (case, script, id).
- Seconds are the wall time of one triage call (lint + probe subprocess) on one script.

Cases run sequentially by default so that the seconds are honest; ``jobs > 1`` runs scripts in threads
(each triage is its own child process), which is faster but inflates every per-case time on a small
machine.
"""

from __future__ import annotations

import fnmatch
import os
import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from traintriage.report import Report

CASE_FIELDS = ("expected", "family", "bug", "style", "model")  # required keys of case.yaml
TOP_K = 3  # the scoreboard's "top-3": how many distinct cause ids of a report are looked at
HEALTHY_FAMILY = "healthy"

# With several probes at once, each child gets one intra-op thread: torch's default (one thread per core)
# makes two concurrent children on 2 cores fight over them, 3-5x slower each (measured on the 2-core dev
# machine, issue 15; torch docs "CPU threading and TorchScript inference" on oversubscription). A value the
# user already set wins.
THREAD_ENV = ("OMP_NUM_THREADS", "MKL_NUM_THREADS")

ScriptKind = Literal["broken", "fixed", "healthy"]
Tool = Literal["triage", "grads"]


class CaseError(ValueError):
    """A case folder is malformed: missing file, missing or mistyped case.yaml field."""


class Case(BaseModel):
    """One case folder, as read from its case.yaml."""

    name: str
    path: str = Field(description="The case folder.")
    expected: list[str] = Field(description="Correct cause ids, primary first; empty for a healthy control.")
    family: str
    bug: str
    style: str
    model: str
    healthy: bool = False
    tool: Tool = Field(default="triage", description="Which tool is scored: triage (default) or grads.")
    grads_args: list[str] = Field(default_factory=list, description="grads options for train.py, CLI style.")
    fixed_grads_args: list[str] | None = Field(default=None, description="grads options for fixed.py.")
    seed: str | None = Field(default=None, description="The seed example this case reproduces, if any.")
    nproc_per_node: int | None = Field(default=None, description="Ranks to launch through torch.distributed.run "
                                       "(a DDP script: `torchrun --nproc-per-node N train.py`).")

    @property
    def scripts(self) -> list[tuple[str, ScriptKind]]:
        """(file name, kind) of every script the harness runs for this case."""
        if self.healthy:
            return [("train.py", "healthy")]
        return [("train.py", "broken"), ("fixed.py", "fixed")]


def default_cases_dir() -> Path:
    """$TRAINTRIAGE_EVALS, else evals/cases of the repository checkout this package is installed from."""
    env = os.environ.get("TRAINTRIAGE_EVALS")
    if env:
        return Path(env)
    return Path(__file__).resolve().parent.parent.parent / "evals" / "cases"


def load_case(folder: str | os.PathLike) -> Case:
    """Read and check one case folder; raise CaseError naming what is wrong."""
    import yaml

    d = Path(folder)
    meta = d / "case.yaml"
    if not meta.is_file():
        raise CaseError(f"{d.name}: no case.yaml")
    try:
        data = yaml.safe_load(meta.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        raise CaseError(f"{d.name}: case.yaml does not parse: {e}") from e
    if not isinstance(data, dict):
        raise CaseError(f"{d.name}: case.yaml is not a mapping")
    missing = [k for k in CASE_FIELDS if k not in data]
    if missing:
        raise CaseError(f"{d.name}: case.yaml lacks {', '.join(missing)}")
    expected = data["expected"]
    if not isinstance(expected, list) or not all(isinstance(e, str) and e for e in expected):
        raise CaseError(f"{d.name}: expected must be a list of cause ids")
    healthy = bool(data.get("healthy", False)) or data["family"] == HEALTHY_FAMILY
    if healthy and expected:
        raise CaseError(f"{d.name}: a healthy control must have expected: []")
    if not healthy and not expected:
        raise CaseError(f"{d.name}: a broken case needs at least one expected id (or healthy: true)")
    try:
        case = Case(name=d.name, path=str(d), healthy=healthy,
                    **{k: v for k, v in data.items() if k != "healthy"})
    except Exception as e:  # pydantic's ValidationError, reworded with the case name
        raise CaseError(f"{d.name}: {e}") from e
    for script, _kind in case.scripts:
        if not (d / script).is_file():
            raise CaseError(f"{d.name}: no {script}")
    return case


def discover_cases(cases_dir: str | os.PathLike | None = None, only: Sequence[str] | None = None) -> list[Case]:
    """Every case under cases_dir (sorted by name); `only` keeps names matching any of its globs."""
    root = Path(cases_dir) if cases_dir is not None else default_cases_dir()
    if not root.is_dir():
        raise CaseError(f"no cases folder at {root}")
    folders = sorted(p for p in root.iterdir() if p.is_dir() and (p / "case.yaml").exists())
    if only:
        folders = [p for p in folders if any(fnmatch.fnmatchcase(p.name, pat) for pat in only)]
    return [load_case(p) for p in folders]


# ---------------------------------------------------------------------------------------------------
# scoring (pure)


def _canonical(id_: str) -> str:
    """Resolve a catalogue alias to its id; unknown ids (or no catalogue) compare as written."""
    try:
        from traintriage.catalogue import resolve

        e = resolve(id_)
    except Exception:  # noqa: BLE001 - a missing or broken handbook must not stop scoring
        return id_
    return e.id if e is not None else id_


def got_ids(report: Report, k: int = TOP_K) -> list[str]:
    """The first k distinct cause ids among a report's error/warning findings, aliases resolved."""
    out: list[str] = []
    for id_ in report.top_ids(len(report.findings) or 1, min_severity="warning"):
        c = _canonical(id_)
        if c not in out:
            out.append(c)
    return out[:k]


def alarm_ids(report: Report) -> list[str]:
    """Ids of a report's error-severity findings (each id once, in report order)."""
    return [_canonical(i) for i in report.top_ids(len(report.findings) or 1, min_severity="error")]


class Row(BaseModel):
    """One script's result."""

    case: str
    script: str = Field(description="train.py or fixed.py")
    kind: ScriptKind
    family: str
    expected: list[str]
    got: list[str] = Field(default_factory=list, description="Top-3 cause ids (error/warning), best first.")
    hit1: bool | None = Field(default=None, description="Broken scripts: got[0] is an expected id.")
    hit3: bool | None = Field(default=None, description="Broken scripts: an expected id is in got[:3].")
    primary1: bool | None = Field(default=None, description="Broken scripts: got[0] == expected[0].")
    false_alarms: list[str] = Field(default_factory=list, description="Fixed/healthy: error-severity ids.")
    verdict: str = Field(description="The report's verdict, or 'error' when the tool raised.")
    seconds: float = 0.0
    error: str | None = None


def score(case: Case, script: str, kind: ScriptKind, report: Report | None, seconds: float,
          error: str | None = None) -> Row:
    """Turn one report into one Row (pure; report None means the tool raised `error`)."""
    row = Row(case=case.name, script=script, kind=kind, family=case.family, expected=list(case.expected),
              verdict=report.verdict if report is not None else "error", seconds=round(seconds, 3), error=error)
    if report is None:
        if kind == "broken":
            row.hit1 = row.hit3 = row.primary1 = False
        return row
    row.got = got_ids(report)
    if kind == "broken":
        # a crashed or timed-out probe still scores whatever findings it produced; none is a miss
        want = {_canonical(e) for e in case.expected}
        row.hit1 = bool(row.got) and row.got[0] in want
        row.hit3 = any(g in want for g in row.got)
        row.primary1 = bool(row.got) and row.got[0] == _canonical(case.expected[0])
    else:
        row.false_alarms = alarm_ids(report)
    return row


class FamilyScore(BaseModel):
    family: str
    cases: int = Field(description="Broken scripts in this family.")
    top1: float | None
    top3: float | None
    false_alarms: int = Field(description="Error findings on this family's fixed/healthy scripts.")


class FalseAlarm(BaseModel):
    case: str
    script: str
    ids: list[str]


class Scoreboard(BaseModel):
    """What `traintriage eval` prints."""

    cases_dir: str
    steps: int
    broken: int = Field(description="Broken scripts scored.")
    clean: int = Field(description="Fixed and healthy scripts scored for false alarms.")
    top1: float = Field(description="Fraction of broken scripts whose first error/warning id is expected.")
    top3: float = Field(description="Fraction of broken scripts with an expected id in the top 3.")
    primary1: float = Field(description="Fraction of broken scripts whose first id is expected[0].")
    false_alarm_count: int = Field(description="Error-severity findings on fixed and healthy scripts.")
    false_alarms: list[FalseAlarm] = Field(default_factory=list)
    errors: list[str] = Field(default_factory=list, description="Scripts the tool could not score, and why.")
    families: list[FamilyScore] = Field(default_factory=list)
    median_seconds: float = 0.0
    max_seconds: float = 0.0
    total_seconds: float = 0.0
    rows: list[Row] = Field(default_factory=list)

    def failures(self, min_top1: float | None = None, min_top3: float | None = None,
                 max_false_alarms: int | None = None, max_unclean: int | None = None) -> list[str]:
        """Which thresholds this scoreboard misses (empty: all met). `max_unclean`: scripts not scored cleanly
        (the probe crashed or timed out, or the tool raised: on a healthy script, the probe broke it)."""
        out = []
        if max_unclean is not None and len(self.errors) > max_unclean:
            out.append(f"not scored cleanly {len(self.errors)} > {max_unclean}")
        if min_top1 is not None and self.top1 < min_top1:
            out.append(f"top-1 {self.top1:.3f} < {min_top1}")
        if min_top3 is not None and self.top3 < min_top3:
            out.append(f"top-3 {self.top3:.3f} < {min_top3}")
        if max_false_alarms is not None and self.false_alarm_count > max_false_alarms:
            out.append(f"false alarms {self.false_alarm_count} > {max_false_alarms}")
        return out


def _frac(hits: int, n: int) -> float:
    return round(hits / n, 4) if n else 0.0


def summarize(rows: Sequence[Row], *, cases_dir: str = "", steps: int = 0) -> Scoreboard:
    """Aggregate rows into a Scoreboard (pure)."""
    broken = [r for r in rows if r.kind == "broken"]
    clean = [r for r in rows if r.kind != "broken"]
    fams: dict[str, list[Row]] = {}
    for r in rows:
        fams.setdefault(r.family, []).append(r)
    families = []
    for fam in sorted(fams):
        b = [r for r in fams[fam] if r.kind == "broken"]
        families.append(FamilyScore(
            family=fam, cases=len(b),
            top1=_frac(sum(bool(r.hit1) for r in b), len(b)) if b else None,
            top3=_frac(sum(bool(r.hit3) for r in b), len(b)) if b else None,
            false_alarms=sum(len(r.false_alarms) for r in fams[fam] if r.kind != "broken"),
        ))
    secs = [r.seconds for r in rows]
    return Scoreboard(
        cases_dir=cases_dir, steps=steps, broken=len(broken), clean=len(clean),
        top1=_frac(sum(bool(r.hit1) for r in broken), len(broken)),
        top3=_frac(sum(bool(r.hit3) for r in broken), len(broken)),
        primary1=_frac(sum(bool(r.primary1) for r in broken), len(broken)),
        false_alarm_count=sum(len(r.false_alarms) for r in clean),
        false_alarms=[FalseAlarm(case=r.case, script=r.script, ids=r.false_alarms) for r in clean if r.false_alarms],
        errors=[f"{r.case}/{r.script}: {r.error or r.verdict}" for r in rows
                if r.error is not None or r.verdict in ("crashed", "timeout")],
        families=families,
        median_seconds=round(statistics.median(secs), 2) if secs else 0.0,
        max_seconds=round(max(secs), 2) if secs else 0.0,
        total_seconds=round(sum(secs), 2),
        rows=list(rows),
    )


# ---------------------------------------------------------------------------------------------------
# running


def _grads_kwargs(argv: Sequence[str]) -> dict[str, Any]:
    """`--ablate TERM --metric NAME` (as a case.yaml writes them) -> grads_script keyword arguments."""
    out: dict[str, Any] = {}
    it = iter(argv)
    for a in it:
        if a in ("--ablate", "--metric"):
            out[a[2:]] = next(it, None)
        elif a.startswith(("--ablate=", "--metric=")):
            k, v = a[2:].split("=", 1)
            out[k] = v
        else:
            raise CaseError(f"unsupported grads option in case.yaml: {a}")
    return out


def run_script(case: Case, script: str, *, steps: int, timeout: float) -> Report:
    """Run the case's tool on one of its scripts (the cwd is the case folder)."""
    path = Path(case.path) / script
    if case.tool == "grads":
        from traintriage.probe.grads import grads_script

        argv = case.grads_args if script == "train.py" else (case.fixed_grads_args or [])
        return grads_script(path, steps=steps, timeout=timeout, cwd=case.path, **_grads_kwargs(argv))
    from traintriage.triage import triage_script

    return triage_script(path, steps=steps, timeout=timeout, cwd=case.path, nproc_per_node=case.nproc_per_node)


def _run_one(case: Case, script: str, kind: ScriptKind, steps: int, timeout: float,
             runner: Callable[..., Report]) -> Row:
    t0 = time.perf_counter()
    try:
        report = runner(case, script, steps=steps, timeout=timeout)
    except Exception as e:  # noqa: BLE001 - one case's failure is a scoreboard line, not an abort
        return score(case, script, kind, None, time.perf_counter() - t0, error=f"{type(e).__name__}: {e}")
    return score(case, script, kind, report, time.perf_counter() - t0)


@contextmanager
def _one_thread_per_child() -> Iterator[None]:
    """Set THREAD_ENV to 1 for the children started inside (unless already set), then restore."""
    added = [k for k in THREAD_ENV if k not in os.environ]
    for k in added:
        os.environ[k] = "1"
    try:
        yield
    finally:
        for k in added:
            os.environ.pop(k, None)


@contextmanager
def _warm_probes(on: bool) -> Iterator[None]:
    """Every probe of the run forks from one warm template that imported torch once (probe/warm.py); with
    jobs > 1 the template forks one child per worker thread at a time, so it serves as the pool."""
    if not on:
        yield
        return
    from traintriage.probe import runner, warm

    warm.enable()
    runner.warm_up()  # importing in the background while the first probes start cold
    try:
        yield
    finally:
        warm.disable()


def run_evals(
    cases_dir: str | os.PathLike | None = None,
    *,
    steps: int = 40,
    timeout: float = 120.0,
    only: Sequence[str] | None = None,
    on_case: Callable[[Row, int, int], None] | None = None,
    jobs: int = 1,
    runner: Callable[..., Report] | None = None,
) -> Scoreboard:
    """Triage every case's scripts and score them.

    on_case(row, done, total) is called after each script. `runner(case, script, steps=, timeout=)`
    replaces the real tool (tests use it); jobs > 1 runs scripts in threads (timings then overlap).
    """
    root = Path(cases_dir) if cases_dir is not None else default_cases_dir()
    cases = discover_cases(root, only)
    work = [(c, s, k) for c in cases for s, k in c.scripts]
    run = runner or run_script
    rows: list[Row] = []

    def done(row: Row) -> None:
        rows.append(row)
        if on_case is not None:
            on_case(row, len(rows), len(work))

    # the first `jobs` probes start cold while the template imports: with no more scripts than that it is waste
    with _warm_probes(runner is None and len(work) > max(1, jobs)):
        if jobs <= 1:
            for c, s, k in work:
                done(_run_one(c, s, k, steps, timeout, run))
        else:
            with _one_thread_per_child(), ThreadPoolExecutor(max_workers=jobs) as pool:
                futures = [pool.submit(_run_one, c, s, k, steps, timeout, run) for c, s, k in work]
                for f in futures:
                    done(f.result())
    order = {(c.name, s): i for i, (c, s, _k) in enumerate(work)}
    rows.sort(key=lambda r: order[(r.case, r.script)])
    return summarize(rows, cases_dir=str(root), steps=steps)


# ---------------------------------------------------------------------------------------------------
# text


def _pct(x: float | None) -> str:
    return "  -  " if x is None else f"{100 * x:5.1f}%"


def format_scoreboard(sb: Scoreboard, *, rows: bool = True) -> str:
    """A terminal table: per-script rows, per-family table, totals, false alarms."""
    lines: list[str] = []
    if rows:
        lines.append(f"{'case':<46} {'script':<9} {'expected':<28} {'got (top-3)':<56} {'@1':>3} {'@3':>3} {'secs':>6}  verdict")
        for r in sb.rows:
            if r.kind == "broken":
                mark1, mark3 = ("ok" if r.hit1 else "--"), ("ok" if r.hit3 else "--")
            else:
                mark1, mark3 = "", ("FA" if r.false_alarms else "")
            exp = ",".join(r.expected) or "(healthy)"
            lines.append(f"{r.case:<46} {r.script:<9} {exp[:28]:<28} {','.join(r.got)[:56]:<56} "
                         f"{mark1:>3} {mark3:>3} {r.seconds:6.1f}  {r.verdict}")
        lines.append("")
    lines.append(f"{'family':<16} {'broken':>6} {'top-1':>7} {'top-3':>7} {'false alarms':>13}")
    for f in sb.families:
        lines.append(f"{f.family:<16} {f.cases:>6} {_pct(f.top1):>7} {_pct(f.top3):>7} {f.false_alarms:>13}")
    lines.append("")
    lines.append(f"broken scripts {sb.broken}: top-1 {_pct(sb.top1).strip()}  top-3 {_pct(sb.top3).strip()}  "
                 f"(primary id first: {_pct(sb.primary1).strip()})")
    lines.append(f"clean scripts {sb.clean}: false alarms {sb.false_alarm_count}")
    for fa in sb.false_alarms:
        lines.append(f"  false alarm: {fa.case}/{fa.script}: {', '.join(fa.ids)}")
    for e in sb.errors:
        lines.append(f"  not scored cleanly: {e}")
    lines.append(f"seconds per script: median {sb.median_seconds:.1f}, max {sb.max_seconds:.1f}, "
                 f"total {sb.total_seconds:.0f} (probe steps {sb.steps})")
    return "\n".join(lines)

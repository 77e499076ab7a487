"""CI's mutant sample (evals/mutants_sample.txt): verified (host, operator) pairs with the evidence that each
mutant learns worse than its host, and the cheap gate that only probes them.

Verifying a mutant is the expensive part (the host's plain runs under HOST_SEEDS seed offsets, then the
mutant's): the full matrix command does it and writes what it measured into the sample file
(`traintriage mutants --pairs FILE --write-sample FILE`). CI's gate (`--probe-sample FILE`) re-plants each bug and
triages the mutant, nothing else. The AST transform is deterministic, so the re-planted source must hash to what
was verified; a changed operator or host changes the hash and fails the gate until the pair is re-verified.

A data line: `host op sha256=<16 hex> metric=<name> host=<a,b,c> mutant=<x> verified=<date> commit=<sha>`.
A line `unverified <op> <reason...>` records an operator no host could verify (evals/README.md says why);
every operator needs a verified pair or such a line, or the gate fails.
"""

from __future__ import annotations

import hashlib
import subprocess
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from pydantic import BaseModel, Field

from traintriage.mutate import OPERATORS, by_id, mutate_source
from traintriage.mutate.plainrun import planted

# Hex digits of the mutant's sha256 kept in the file: 64 bits, no accidental collision between two versions
# of one mutant, and a line a person can still read.
SHA_CHARS = 16


class SamplePair(BaseModel):
    host: str
    op: str
    sha256: str | None = None
    metric: str | None = None
    host_seeds: list[float] = Field(default_factory=list)
    mutant: float | None = None
    verified: str | None = None
    commit: str | None = None

    def line(self) -> str:
        seeds = ",".join(f"{v:g}" for v in self.host_seeds)
        return (f"{self.host} {self.op} sha256={self.sha256} metric={self.metric} host={seeds} "
                f"mutant={self.mutant:g} verified={self.verified} commit={self.commit}")


class Sample(BaseModel):
    pairs: list[SamplePair]
    unverified: dict[str, str] = Field(default_factory=dict, description="operator -> why no host verifies it")


def mutant_sha(src: str) -> str:
    return hashlib.sha256(src.encode("utf-8")).hexdigest()[:SHA_CHARS]


def parse_sample(text: str) -> Sample:
    pairs, unverified = [], {}
    for ln in text.splitlines():
        tok = ln.split()
        if not tok or tok[0].startswith("#"):
            continue
        if tok[0] == "unverified":
            unverified[tok[1]] = " ".join(tok[2:])
            continue
        kv = dict(t.split("=", 1) for t in tok[2:] if "=" in t)
        pairs.append(SamplePair(
            host=tok[0], op=tok[1], sha256=kv.get("sha256"), metric=kv.get("metric"),
            host_seeds=[float(v) for v in kv["host"].split(",")] if kv.get("host") else [],
            mutant=float(kv["mutant"]) if "mutant" in kv else None, verified=kv.get("verified"),
            commit=kv.get("commit")))
    return Sample(pairs=pairs, unverified=unverified)


def checkout_commit(where: Path) -> str:
    """The short commit of the checkout holding `where`, `-dirty` when it has uncommitted changes."""
    def git(*a: str) -> subprocess.CompletedProcess:
        return subprocess.run(["git", *a], cwd=where, capture_output=True, text=True, check=False)

    head = git("rev-parse", "--short", "HEAD")
    if head.returncode:
        return "unknown"
    return head.stdout.strip() + ("-dirty" if git("status", "--porcelain", "--untracked-files=no").stdout.strip()
                                  else "")


def update_sample(text: str, cells: Sequence, hosts: dict[str, Path], *, date: str, commit: str) -> tuple[str, list]:
    """`text` (a sample file) with the matrix's verdicts merged in: a scored cell's pair gets (or replaces) its
    evidence line; a dropped one leaves the file. Returns the new text and the dropped cells."""
    done = {(c.host, c.op): c for c in cells if c.status in ("scored", "crashes", "not-worse")}
    src = {k: mutate_source(hosts[k[0]].read_text(encoding="utf-8"), by_id(k[1])) if k[0] in hosts else None
           for k, c in done.items() if c.status == "scored"}
    for k, s in src.items():
        if s is None:  # the operator (or host) changed since this matrix ran: what it verified is gone
            done[k] = done[k].model_copy(update={"status": "not-applicable",
                                                 "reason": "the operator no longer applies to this host"})
    dropped = [c for c in done.values() if c.status != "scored"]
    out, seen = [], set()
    verified_ops = {c.op for c in done.values() if c.status == "scored"}

    def evidence(c) -> str:  # noqa: ANN001
        return SamplePair(host=c.host, op=c.op, sha256=mutant_sha(src[(c.host, c.op)]), metric=c.metric,
                          host_seeds=c.host_metric, mutant=c.mutant_metric, verified=date, commit=commit).line()

    for ln in text.splitlines():
        tok = ln.split()
        if tok and tok[0] == "unverified" and len(tok) > 1 and tok[1] in verified_ops:
            continue
        key = tuple(tok[:2])
        if tok and not tok[0].startswith("#") and key in done:
            seen.add(key)
            if done[key].status == "scored":
                out.append(evidence(done[key]))
            continue
        out.append(ln)
    out += [evidence(c) for k, c in sorted(done.items()) if k not in seen and c.status == "scored"]
    return "\n".join(out) + "\n", dropped


def probe_sample(sample: Sample, hosts: dict[str, Path], *, jobs: int = 1, steps: int = 40, timeout: float = 120.0,
                 on_cell: Callable[[object, int, int], None] | None = None):  # noqa: ANN201
    """CI's gate: triage each verified mutant of the sample, no plain runs. A pair whose re-planted mutant no
    longer hashes to the verified one (or never was verified) is `changed`, not scored; an operator with no
    verified pair and no `unverified` line is listed in the matrix's `unsampled`."""
    from traintriage.evals import _one_thread_per_child, _warm_probes
    from traintriage.mutate.matrix import Cell, score_mutant, summarize

    cells: list[Cell] = []

    def one(p: SamplePair) -> Cell:
        op = by_id(p.op)
        cell = Cell(host=p.host, op=p.op, status="changed", host_metric=p.host_seeds, mutant_metric=p.mutant,
                    metric=p.metric, expected=list(op.PRODUCES))
        script = hosts.get(p.host)
        src = mutate_source(script.read_text(encoding="utf-8"), op) if script else None
        if src is None:
            cell.reason = "host missing or the operator no longer applies to it: re-verify"
        elif p.sha256 is None:
            cell.reason = "not verified: no sha256 and evidence on its line"
        elif mutant_sha(src) != p.sha256:
            cell.reason = f"mutant source changed (sha256 {mutant_sha(src)}, verified {p.sha256}): re-verify"
        else:
            with planted(script, src) as target:
                score_mutant(cell, target, steps, timeout)
        return cell

    def done(c: Cell) -> None:
        cells.append(c)
        if on_cell is not None:
            on_cell(c, len(cells), len(sample.pairs))

    with _warm_probes(len(sample.pairs) > max(1, jobs)), _one_thread_per_child(), \
            ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        for f in [pool.submit(one, p) for p in sample.pairs]:
            done(f.result())
    cells.sort(key=lambda c: (c.host, c.op))
    m = summarize([], cells, [o.NAME for o in OPERATORS])
    m.unsampled = sorted({o.NAME for o in OPERATORS} - {c.op for c in cells if c.status == "scored"}
                         - set(sample.unverified))
    m.changed = sum(c.status == "changed" for c in cells)
    return m

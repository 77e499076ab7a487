"""`mutants`: plant each mutation operator's bug in each healthy host, keep the mutants that learn worse, score."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from traintriage.cli import UsageError, add_json, emit


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("mutants", help="operator x host matrix: planted bugs in healthy scripts, verified, scored")
    p.add_argument("--hosts", nargs="+", metavar="DIR",
                   help="case folders holding hosts (default: evals/real and evals/cases of this checkout)")
    p.add_argument("--ops", nargs="+", metavar="ID", help="only these operators (default: all)")
    p.add_argument("--pairs", metavar="FILE", help="only these `host op` pairs, one per line (CI's sample)")
    p.add_argument("--write-sample", metavar="FILE",
                   help="merge the verified pairs, with their evidence and mutant hash, into this sample file "
                        "(dropped pairs leave it): how CI's sample is (re-)verified")
    p.add_argument("--probe-sample", metavar="FILE",
                   help="CI's gate: triage only the sample's already-verified mutants (no plain runs); fails on a "
                        "mutant whose source no longer hashes to the verified one, or an operator left out")
    p.add_argument("--list", action="store_true", help="list the operators and the ids each produces")
    p.add_argument("--jobs", type=int, default=1, help="hosts at once (each child gets one thread)")
    p.add_argument("--steps", type=int, default=40, help="probe optimizer steps per triage (default 40)")
    p.add_argument("--min-top1", type=float, help="fail (exit 1) when top-1 over scored mutants is below this")
    p.add_argument("--min-top3", type=float, help="fail (exit 1) when top-3 is below this")
    p.add_argument("--max-false-alarms", type=int, help="fail (exit 1) when more hosts get an error finding")
    p.add_argument("--no-host-triage", action="store_true",
                   help="do not triage the hosts themselves (no host false alarms): CI's eval gate does that")
    add_json(p)
    p.set_defaults(func=run_mutants_cmd)


def _default_hosts() -> list[Path]:
    from traintriage.evals import default_cases_dir

    cases = default_cases_dir()
    return [d for d in (cases.parent / "real", cases) if d.is_dir()]


def run_mutants_cmd(args: argparse.Namespace) -> int:
    from traintriage.mutate import OPERATORS, by_id
    from traintriage.mutate.matrix import format_matrix, host_scripts, run_matrix

    if args.list:
        return emit(args, {"operators": [{"id": o.NAME, "produces": o.PRODUCES, "bug": (o.__doc__ or "").strip()}
                                         for o in OPERATORS]},
                    "\n".join(f"{o.NAME:<30} -> {', '.join(o.PRODUCES)}" for o in OPERATORS))
    try:
        ops = [by_id(i) for i in args.ops] if args.ops else None
    except KeyError as e:
        raise UsageError(str(e.args[0])) from e
    dirs = [Path(h) for h in args.hosts] if args.hosts else _default_hosts()
    missing = [str(d) for d in dirs if not d.is_dir()]
    if missing:
        raise UsageError(f"not a folder: {', '.join(missing)}")
    pairs = None
    if args.pairs:
        try:
            lines = Path(args.pairs).read_text(encoding="utf-8").splitlines()
        except OSError as e:
            raise UsageError(f"cannot read --pairs {args.pairs}: {e.strerror}") from e
        pairs = {tuple(ln.split()[:2]) for ln in lines if ln.strip() and not ln.startswith("#")}

    def progress(row, done, total) -> None:  # noqa: ANN001
        sys.stderr.write(f"[{done}/{total}] {row.host}: {'ok' if row.usable else row.reason[:60]}\n")

    if args.probe_sample:
        return _probe(args, host_scripts(dirs))
    unknown = sorted(h for h, _ in pairs or () if h not in _names(host_scripts(dirs)))
    if unknown:
        raise UsageError(f"--pairs names hosts not found under {', '.join(map(str, dirs))}: {', '.join(unknown)}")
    m = run_matrix(host_scripts(dirs), ops=ops, pairs=pairs, jobs=args.jobs, steps=args.steps,
                   on_host=None if args.json else progress, triage_hosts=not args.no_host_triage)
    if args.write_sample:
        _write_sample(Path(args.write_sample), m, host_scripts(dirs))
    failed = ((args.min_top1 is not None and m.top1 < args.min_top1)
              or (args.min_top3 is not None and m.top3 < args.min_top3)
              or (args.max_false_alarms is not None and m.host_false_alarms > args.max_false_alarms))
    return emit(args, m, format_matrix(m), 1 if failed else 0)


def _names(hosts: list[Path]) -> dict[str, Path]:
    return {f"{h.parent.name}/{h.name}": h for h in hosts}


def _write_sample(path: Path, m, hosts: list[Path]) -> None:  # noqa: ANN001
    import datetime

    from traintriage.mutate.sample import checkout_commit, update_sample

    text = path.read_text(encoding="utf-8") if path.is_file() else ""
    new, dropped = update_sample(text, m.cells, _names(hosts), date=datetime.date.today().isoformat(),
                                 commit=checkout_commit(Path(__file__).resolve().parent))
    path.write_text(new, encoding="utf-8")
    for c in dropped:
        sys.stderr.write(f"left out of {path}: {c.host} {c.op} ({c.status}: {c.reason[:80]})\n")


def _probe(args: argparse.Namespace, hosts: list[Path]) -> int:
    from traintriage.mutate.matrix import format_matrix
    from traintriage.mutate.sample import parse_sample, probe_sample

    try:
        sample = parse_sample(Path(args.probe_sample).read_text(encoding="utf-8"))
    except OSError as e:
        raise UsageError(f"cannot read --probe-sample {args.probe_sample}: {e.strerror}") from e

    def progress(c, done, total) -> None:  # noqa: ANN001
        mark = ("ok" if c.top1 else "MISS " + ",".join(c.got)) if c.status == "scored" else c.status
        sys.stderr.write(f"[{done}/{total}] {c.op} on {c.host}: {mark}\n")

    m = probe_sample(sample, _names(hosts), jobs=args.jobs, steps=args.steps,
                     on_cell=None if args.json else progress)
    failed = (m.changed > 0 or bool(m.unsampled) or m.scored == 0
              or (args.min_top1 is not None and m.top1 < args.min_top1)
              or (args.min_top3 is not None and m.top3 < args.min_top3))
    return emit(args, m, format_matrix(m), 1 if failed else 0)

"""The `traintriage` command line: a thin shell over the package's pure functions.

Every command takes `--json` and then prints exactly one JSON object on stdout. Exit codes:
0 = ran and found nothing at error severity, 1 = ran and found a problem (broken, crashed, timeout, failed
thresholds), 2 = bad input (missing file, unknown id, unreadable log).

Commands live in `traintriage/commands/`, one module per group; COMMANDS below is the registry.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from typing import Any

from traintriage import __version__

# The registry: one line per command module. Each module defines register(subparsers).
COMMANDS = [
    "traintriage.commands.probe_cmds",  # probe, triage
    "traintriage.commands.catalogue_cmds",  # explain, catalogue, symptoms
    "traintriage.commands.lint_cmds",  # lint
    "traintriage.commands.serve_cmds",  # serve, install-skill
    "traintriage.commands.grads_cmds",  # grads
    "traintriage.commands.logs_cmds",  # logs
    "traintriage.commands.eval_cmds",  # eval
    "traintriage.commands.demo_cmds",  # demo
    "traintriage.commands.mutants_cmds",  # mutants
]


class UsageError(Exception):
    """Bad input the user can fix; printed without a traceback, exit code 2."""


def emit(args: argparse.Namespace, payload: Any, text: str, code: int = 0) -> int:
    """Print `payload` as one JSON object under --json, else `text`; return the exit code."""
    if getattr(args, "json", False):
        if hasattr(payload, "model_dump"):
            payload = payload.model_dump(mode="json")
        sys.stdout.write(json.dumps(payload, default=str) + "\n")
    else:
        sys.stdout.write(text.rstrip("\n") + "\n")
    return code


def add_json(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print exactly one JSON object on stdout")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="traintriage",
        description="Triage training runs that execute but do not learn: measured evidence, catalogued causes.",
    )
    parser.add_argument("--version", action="version", version=f"traintriage {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    # Script arguments after `--` belong to the user's script, not to us.
    script_args: list[str] = []
    if "--" in argv:
        i = argv.index("--")
        argv, script_args = argv[:i], argv[i + 1 :]
    args = parser.parse_args(argv)
    args.script_args = script_args
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except UsageError as e:
        if getattr(args, "json", False):
            sys.stdout.write(json.dumps({"error": str(e)}) + "\n")
        else:
            sys.stderr.write(f"traintriage: error: {e}\n")
        return 2


if __name__ == "__main__":  # pragma: no cover - `python -m traintriage.cli`; re-import so classes are shared
    from traintriage.cli import main as _main

    raise SystemExit(_main())

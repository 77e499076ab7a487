"""The `traintriage` command line: a thin shell over the package's pure functions.

Every command takes `--json` and then prints exactly one JSON object on stdout, whatever happens: its
answer, or `{"error": {"type": ..., "message": ..., "command": ...}}` with type `bad-input`,
`internal-error` or `interrupted` (a bad flag included). Exit codes (errors.py says why): 0 = nothing
found, 1 = problem found, 2 = bad input, 3 = internal error, 4 = no verdict (inconclusive, crashed,
timeout); 130 = interrupted (Ctrl-C).

Commands live in `traintriage/commands/`, one module per group; COMMANDS below is the registry.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import traceback
from pathlib import Path
from typing import Any, NoReturn

from traintriage import __version__
from traintriage.errors import (
    EXIT_BAD_INPUT,
    EXIT_INTERNAL,
    UsageError,
    exit_code_for,
    internal_message,
    is_user_error,
    redact_file_content,
    user_message,
)

__all__ = ["COMMANDS", "UsageError", "add_json", "emit", "exit_code_for", "main", "require_file"]

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

# The arguments that name a log the command parses; an error's text is kept from quoting them (a
# script's own names, e.g. its loss terms, are fair to quote: the user asked about that code).
_PATH_ARGS = ("path", "logs")

# The shell's convention for a run stopped by SIGINT (128 + 2), so scripts can tell it from our codes.
EXIT_INTERRUPTED = 130

# Set to 1 to get the traceback of an internal error (exit 3) on stderr.
DEBUG_ENV = "TRAINTRIAGE_DEBUG"


class _ArgError(UsageError):
    """argparse's complaint about the command line, with the usage line for people."""

    def __init__(self, message: str, usage: str) -> None:
        super().__init__(message)
        self.usage = usage


class _Parser(argparse.ArgumentParser):
    """argparse that raises instead of printing and exiting, so --json can answer with a JSON error.
    Subparsers inherit the class (add_subparsers defaults parser_class to the parent's type)."""

    def error(self, message: str) -> NoReturn:
        raise _ArgError(f"{message} (see `{self.prog} --help`)", self.format_usage())


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


def add_report(p: argparse.ArgumentParser) -> None:
    p.add_argument("--report", metavar="PATH.html",
                   help="also write a self-contained HTML report (findings, handbook entries, figures) to PATH")


def write_report(args: argparse.Namespace, rep: Any) -> None:
    """Write the HTML report when --report was given; its path goes to stderr so stdout stays one object."""
    if getattr(args, "report", None):
        from traintriage.report_html import write_html

        path = write_html(rep, args.report)
        sys.stderr.write(f"traintriage: HTML report written to {path}\n")



def require_file(path: str, label: str = "script") -> None:
    """Refuse a missing path or one that is not a regular file (a folder, a FIFO, a device) before opening it."""
    p = Path(path)
    if not p.exists():
        raise UsageError(f"{label} not found: {path}")
    if not p.is_file():
        kind = "a folder" if p.is_dir() else "not a regular file"
        raise UsageError(f"{label} {path} is {kind}; pass the file itself (e.g. train.py)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="traintriage",
        description="Triage training runs that execute but do not learn: measured evidence, catalogued causes.",
        epilog="exit codes: 0 verdict healthy, 1 verdict broken (an error finding), 2 bad input, 3 internal error, "
        "4 no verdict (inconclusive, crashed, timeout)",
    )
    parser.add_argument("--version", action="version", version=f"traintriage {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(name).register(sub)
    return parser


def _label(command: str) -> str:
    return f"traintriage {command}" if command else "traintriage"


def _fail(as_json: bool, command: str, kind: str, message: str, code: int, usage: str = "") -> int:
    if as_json:
        err = {"type": kind, "message": message, "command": command or None}
        sys.stdout.write(json.dumps({"error": err}) + "\n")
    else:
        sys.stderr.write(usage + f"{_label(command)}: error: {message}\n")
    return code


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    # Script arguments after `--` belong to the user's script, not to us.
    script_args: list[str] = []
    if "--" in argv:
        i = argv.index("--")
        argv, script_args = argv[:i], argv[i + 1 :]
    as_json = "--json" in argv  # known before parsing, so a parse error can answer in JSON too
    command = next((a for a in argv if not a.startswith("-")), "")
    args: argparse.Namespace | None = None
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        args.script_args = script_args
        if not getattr(args, "func", None):
            if as_json:
                raise UsageError("no command given (see `traintriage --help`)")
            parser.print_help()
            return EXIT_BAD_INPUT
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return _fail(as_json, command, "interrupted", "interrupted (Ctrl-C)", EXIT_INTERRUPTED)
    except _ArgError as e:
        return _fail(as_json, command, "bad-input", str(e), EXIT_BAD_INPUT, "" if as_json else e.usage)
    except Exception as e:  # every outcome is an answer: bad input (2) or our bug (3), never a traceback
        inputs = [v for k in _PATH_ARGS if isinstance(v := getattr(args, k, None), str)]
        if is_user_error(e):
            message = redact_file_content(user_message(e), inputs)
            return _fail(as_json, command, "bad-input", message, EXIT_BAD_INPUT)
        if os.environ.get(DEBUG_ENV) == "1":
            traceback.print_exc()
        message = redact_file_content(internal_message(f"`{_label(command)}`", e), inputs)
        if os.environ.get(DEBUG_ENV) != "1":
            message += f" (a bug in traintriage; rerun with {DEBUG_ENV}=1 for the traceback)"
        return _fail(as_json, command, "internal-error", message, EXIT_INTERNAL)


if __name__ == "__main__":  # pragma: no cover - `python -m traintriage.cli`; re-import so classes are shared
    from traintriage.cli import main as _main

    raise SystemExit(_main())

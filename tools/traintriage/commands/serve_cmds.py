"""`serve` (the MCP server) and `install-skill` (copy SKILL.md + refs/ where coding agents look for skills)."""

from __future__ import annotations

import argparse
import sys

from traintriage.cli import UsageError, add_json, emit

DEFAULT_HTTP_PORT = 8765


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "serve",
        help="run the MCP server (stdio by default)",
        description="Run traintriage's MCP server. Scripts and logs must lie under the --root folders (default: "
        "the working directory); a client's roots can narrow them, never widen them.",
    )
    p.add_argument(
        "--root",
        action="append",
        default=[],
        metavar="DIR",
        help="allow scripts and logs under DIR, and nowhere else (repeatable; default: the working directory)",
    )
    p.add_argument(
        "--http",
        action="store_true",
        help="serve Streamable HTTP on 127.0.0.1 (DNS-rebinding protection on) instead of stdio",
    )
    p.add_argument(
        "--port", type=int, default=DEFAULT_HTTP_PORT, help=f"port for --http (default {DEFAULT_HTTP_PORT})"
    )
    p.set_defaults(func=run_serve)

    p = sub.add_parser(
        "install-skill",
        help="copy SKILL.md and refs/ into coding agents' skill folders; print the MCP registration line",
    )
    p.add_argument(
        "--agent",
        choices=["claude", "codex", "cursor", "gemini", "all"],
        default="claude",
        help="which agent to install for (default claude)",
    )
    scope = p.add_mutually_exclusive_group()
    scope.add_argument("--project", action="store_true", help="install into this project (default)")
    scope.add_argument("--user", action="store_true", help="install for the current user (home folder)")
    p.add_argument(
        "--dest", metavar="DIR", help="install into DIR/traintriage instead (overrides the agent's folder)"
    )
    p.add_argument(
        "--project-dir", metavar="DIR", default=".", help="the project folder for --project (default .)"
    )
    p.add_argument("--force", action="store_true", help="replace an existing install that is not ours or that was edited since (lists the files otherwise)")
    add_json(p)
    p.set_defaults(func=run_install_skill)


def run_serve(args: argparse.Namespace) -> int:
    from pathlib import Path

    roots = [Path(r) for r in args.root]
    missing = [str(r) for r in roots if not r.is_dir()]
    if missing:
        raise UsageError(f"--root must be an existing folder: {', '.join(missing)}")
    from traintriage import server  # imports mcp (~1 s); only the serve command pays for it

    if args.http:
        sys.stderr.write(f"traintriage: MCP over Streamable HTTP at http://127.0.0.1:{args.port}/mcp\n")
        server.serve_http(roots or None, port=args.port)
    else:
        server.serve_stdio(roots or None)
    return 0


def run_install_skill(args: argparse.Namespace) -> int:
    from pathlib import Path

    from traintriage import install_skill as inst

    agents = list(inst.AGENTS) if args.agent == "all" else [args.agent]
    scope = "user" if args.user else "project"
    try:
        results = [
            inst.install(
                agent,
                scope=scope,
                project_dir=Path(args.project_dir),
                dest=Path(args.dest) if args.dest else None,
                force=args.force,
            )
            for agent in agents
        ]
    except inst.InstallError as e:
        raise UsageError(str(e)) from None
    lines = []
    for r in results:
        lines.append(f"{r.agent}: installed {r.path}")
        lines.extend(f"  note: {n}" for n in r.notes)
        lines.append(f"  register the MCP server: {r.mcp_command}")
    payload = {"installed": [r.model_dump(mode="json") for r in results]}
    return emit(args, payload, "\n".join(lines))

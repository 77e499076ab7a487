"""Install the traintriage skill (SKILL.md + refs/) where coding agents discover skills.

Every agent below reads the Agent Skills format (https://agentskills.io/specification): a folder whose name
is the skill's `name`, holding SKILL.md. We copy the repository's SKILL.md and refs/ into
`<skills dir>/traintriage/` and print the command that registers the MCP server with that agent.

Skill folders, from each agent's own documentation (looked up 2026; re-check when an agent changes):

- Claude Code: project `.claude/skills/<name>/`, personal `~/.claude/skills/<name>/`
  (https://code.claude.com/docs/en/skills). MCP: `claude mcp add traintriage -- traintriage serve`
  (`--scope project` writes the shared `.mcp.json`; https://code.claude.com/docs/en/mcp).
- Codex (CLI, IDE extension, app): repository `.agents/skills/` (scanned from the working directory up to
  the repo root), user `~/.agents/skills/` (https://developers.openai.com/codex/skills). Older Codex builds
  read `.codex/skills`; Cursor also reads `.codex/skills` for compatibility. MCP:
  `codex mcp add traintriage -- traintriage serve` (writes `[mcp_servers.traintriage]` to
  ~/.codex/config.toml; https://developers.openai.com/codex/mcp).
- Cursor: project `.cursor/skills/`, user `~/.cursor/skills/` (https://cursor.com/docs/context/skills).
  Cursor has no command that registers an MCP server; we print the `mcpServers` entry to put in
  `.cursor/mcp.json` (project) or `~/.cursor/mcp.json` (user) (https://cursor.com/docs/context/mcp). We do
  not edit that file ourselves: it holds the user's other servers.
- Gemini CLI: workspace `.gemini/skills/`, user `~/.gemini/skills/` (`.agents/skills` is an alias)
  (https://geminicli.com/docs/cli/using-agent-skills/). MCP: `gemini mcp add -s project traintriage
  traintriage serve` (https://geminicli.com/docs/tools/mcp-server/).

The copy is atomic (copied next to the target, then renamed), and an existing folder is replaced only when
its SKILL.md is ours (`name: traintriage`) and nobody edited it since we wrote it (a manifest of sha256 sums,
MANIFEST, is written with each install; a file that differs from it or was added is an edit), or with
force=True: a user's own skill, or their notes in ours, are never overwritten by accident.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

SKILL_NAME = "traintriage"

Agent = Literal["claude", "codex", "cursor", "gemini"]
Scope = Literal["project", "user"]

# agent -> (project skills dir relative to the project, user skills dir relative to $HOME)
AGENTS: dict[str, tuple[str, str]] = {
    "claude": (".claude/skills", ".claude/skills"),
    "codex": (".agents/skills", ".agents/skills"),
    "cursor": (".cursor/skills", ".cursor/skills"),
    "gemini": (".gemini/skills", ".gemini/skills"),
}

SERVE = "traintriage serve"
MANIFEST = ".traintriage-install.json"  # what each installed file's sha256 was, to tell a user's edit from ours


class InstallError(RuntimeError):
    """The skill could not be installed; the text says what to do."""


class Installed(BaseModel):
    agent: str
    path: str = Field(description="The installed skill folder.")
    files: int = Field(description="How many files were copied.")
    mcp_command: str = Field(description="What registers the MCP server with this agent.")
    notes: list[str] = Field(default_factory=list)


def mcp_command(agent: str, scope: Scope = "project") -> str:
    """The line that registers `traintriage serve` as an MCP server with `agent`."""
    if agent == "claude":
        return f"claude mcp add --scope {'project' if scope == 'project' else 'user'} traintriage -- {SERVE}"
    if agent == "codex":
        return f"codex mcp add traintriage -- {SERVE}"
    if agent == "gemini":
        return f"gemini mcp add -s {'project' if scope == 'project' else 'user'} traintriage {SERVE}"
    if agent == "cursor":
        where = ".cursor/mcp.json" if scope == "project" else "~/.cursor/mcp.json"
        entry = {"mcpServers": {"traintriage": {"command": "traintriage", "args": ["serve"]}}}
        return f"add to {where}: {json.dumps(entry)}"
    raise InstallError(f"unknown agent '{agent}'; agents: {', '.join(AGENTS)}")


def skill_source() -> Path:
    """The folder holding SKILL.md and refs/: $TRAINTRIAGE_SKILL_DIR, the repository checkout, or a packaged copy."""
    env = os.environ.get("TRAINTRIAGE_SKILL_DIR")
    here = Path(__file__).resolve().parent
    candidates = ([Path(env)] if env else []) + [here.parent.parent, here / "_skill"]
    for c in candidates:
        if (c / "SKILL.md").is_file() and (c / "refs").is_dir():
            return c
    raise InstallError(
        "cannot find SKILL.md and refs/ to install; run from a traintriage checkout or set "
        "TRAINTRIAGE_SKILL_DIR to the folder that holds them"
    )


def skills_dir(agent: str, scope: Scope, project_dir: Path, home: Path | None = None) -> Path:
    if agent not in AGENTS:
        raise InstallError(f"unknown agent '{agent}'; agents: {', '.join(AGENTS)}")
    project_rel, user_rel = AGENTS[agent]
    if scope == "user":
        return (home or Path.home()) / user_rel
    return project_dir / project_rel


_NAME = re.compile(r"^name:\s*['\"]?([A-Za-z0-9_-]+)", re.MULTILINE)


def _is_ours(folder: Path) -> bool:
    skill = folder / "SKILL.md"
    try:
        text = skill.read_text(encoding="utf-8")
    except OSError:
        return False
    front = text.split("---", 2)[1] if text.startswith("---") and text.count("---") >= 2 else ""
    m = _NAME.search(front)
    return bool(m and m.group(1) == SKILL_NAME)


def _sums(folder: Path) -> dict[str, str]:
    """sha256 of every file under `folder` (but the manifest), keyed by its posix path relative to `folder`."""
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and p.name != MANIFEST}


def edited_files(folder: Path) -> list[str]:
    """Files of an install that differ from what we wrote (changed or added); [] when untouched.

    An install without a manifest (made before manifests existed) cannot be checked: it counts as untouched.
    """
    try:
        written = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))["files"]
    except (OSError, ValueError, KeyError, TypeError):
        return []
    return [rel for rel, digest in _sums(folder).items() if written.get(rel) != digest]


def copy_skill(source: Path, target: Path, *, force: bool = False) -> int:
    """Copy SKILL.md and refs/ from `source` to `target` (a folder named traintriage), atomically."""
    if target.name != SKILL_NAME:
        raise InstallError(f"the skill folder must be named '{SKILL_NAME}' (Agent Skills: folder = name)")
    if target.exists() and not force and not _is_ours(target):
        raise InstallError(
            f"{target} exists and is not a traintriage install; move it away or pass --force to replace it"
        )
    edited = edited_files(target) if target.exists() and not force else []
    if edited:
        shown = ", ".join(edited[:8]) + (f" and {len(edited) - 8} more" if len(edited) > 8 else "")
        raise InstallError(
            f"{target} has files edited or added since it was installed ({shown}); "
            "save them elsewhere or pass --force to replace them"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{SKILL_NAME}-", dir=target.parent))
    try:
        staged = tmp / SKILL_NAME
        staged.mkdir()
        shutil.copy2(source / "SKILL.md", staged / "SKILL.md")
        shutil.copytree(source / "refs", staged / "refs", ignore=shutil.ignore_patterns("__pycache__", ".*"))
        sums = _sums(staged)
        (staged / MANIFEST).write_text(json.dumps({"files": sums}, indent=1), encoding="utf-8")
        files = len(sums)
        old = None
        if target.exists():
            old = tmp / "old"
            target.rename(old)
        staged.rename(target)
        return files
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def install(
    agent: str,
    *,
    scope: Scope = "project",
    project_dir: Path = Path("."),
    dest: Path | None = None,
    force: bool = False,
    source: Path | None = None,
    home: Path | None = None,
) -> Installed:
    """Install the skill for one agent; `dest` (a skills folder) overrides the agent's own."""
    src = source or skill_source()
    base = dest if dest is not None else skills_dir(agent, scope, project_dir.resolve(), home)
    target = base / SKILL_NAME
    files = copy_skill(src, target, force=force)
    notes = []
    if agent == "cursor":
        notes.append(
            "Cursor has no CLI to register MCP servers; add the entry below to its mcp.json yourself."
        )
    if agent == "codex" and scope == "project":
        notes.append("Codex reads .agents/skills from the working directory up to the repository root.")
    return Installed(
        agent=agent, path=str(target), files=files, mcp_command=mcp_command(agent, scope), notes=notes
    )

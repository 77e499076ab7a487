"""Markdown for agents: a catalogue entry as a page, and the triage prompt's walk-through.

Pure string assembly under the MCP server's resources and prompt (no `mcp` import); the CLI prints its own
terminal text (commands/catalogue_cmds.py).
"""

from __future__ import annotations

from traintriage import catalogue as cat
from traintriage.errors import UsageError


def entry_markdown(id_: str) -> str:
    """A catalogue entry by id (or alias): symptoms, cause, the confirming check, the fix, sources."""
    e = cat.resolve(id_)
    if e is None:
        close = cat.suggest(id_)
        raise UsageError(f"unknown catalogue id '{id_}'" + (f"; did you mean: {', '.join(close)}?" if close else ""))
    src = "\n".join(f"- [{s.title}]({s.url})" for s in e.sources)
    return (
        f"# {e.id} — {e.title}\n\nfamily: {e.family} · ref: {e.ref}\n\n"
        f"## Symptoms\n{e.symptoms}\n\n## Cause\n{e.cause}\n\n## Confirm\n{e.confirm}\n\n## Fix\n{e.fix}\n\n"
        f"## Sources\n{src}\n"
    )


def triage_prompt(script: str, symptom: str = "", logs: str = "") -> str:
    """The user message of the `triage-training-run` prompt: measure first, then confirm, then fix."""
    steps = [
        f"My training script `{script}` runs but does not learn." + (f" What I see: {symptom}." if symptom else ""),
        "",
        "Triage it with the traintriage tools, measuring before changing anything:",
    ]
    n = 1
    if logs:
        steps.append(f"{n}. Call `read_run_logs` on `{logs}` and note the symptoms and candidate causes.")
        n += 1
    steps += [
        f"{n}. Call `triage_script` on `{script}`"
        + (f" with logs=`{logs}`" if logs else "")
        + ". It lints the source and runs the script for a few steps in a sandboxed child process.",
        f"{n + 1}. For each finding at error or warning severity, call `explain` with its id and run the "
        "check under 'confirm' before editing code.",
        f"{n + 2}. If a metric will not move while the loss does, call `grad_decomposition`.",
        f"{n + 3}. Propose the smallest fix from the entry's 'fix', apply it, and re-run `triage_script` to "
        "show the finding is gone (verdict healthy or the finding absent).",
        "Report each cause as: id, the measured evidence, the fix, and the before/after verdict.",
    ]
    return "\n".join(steps)

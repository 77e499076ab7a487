"""What a failure means, said once for both shells (the CLI's exit codes, the MCP server's ToolError).

Three kinds of outcome, and one exit code each:

| code | meaning |
|---|---|
| 0 | the tool ran and measured: verdict `healthy` (report.VERDICT_MEANING says what each verdict means) |
| 1 | the tool ran and measured: verdict `broken`, an error finding (`eval`: below a threshold) |
| 2 | bad input: a missing file, a folder instead of a file, an unreadable log, a bad flag, an unknown id |
| 3 | internal error: an exception nobody planned for (a bug in traintriage); one line names the command |
| 4 | no verdict: the script ran but could not be judged (verdict `inconclusive`, `crashed` or `timeout`) |

Why 4 exists: `1` means "we measured a problem". A script that crashed at import, timed out, or gave the
probe nothing to read was not measured, so calling it "problem found" claims a finding we do not have
(issue 19, issue 20 item 11), and `0` would let a CI gate pass a run that measured nothing. The report's
`notes` and `stderr_tail` say why there is no verdict.

Which exceptions are the user's input is decided by type, by name, so this module imports none of the
modules that define them (the CLI and the server must start without torch): an exception can only have
been raised by a module that is already imported, so looking the class up in `sys.modules` is enough.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

EXIT_OK = 0
EXIT_FOUND = 1
EXIT_BAD_INPUT = 2
EXIT_INTERNAL = 3
EXIT_NO_VERDICT = 4

_VERDICT_EXIT = {"healthy": EXIT_OK, "broken": EXIT_FOUND}


class UsageError(ValueError):
    """Bad input the user can fix (a flag value, an unknown id or metric); the text says what to do."""


# module:class of every exception whose message is written for the user and is about their input.
_USER_ERRORS = (
    "traintriage.errors:UsageError",
    "traintriage.paths:PathError",
    "traintriage.catalogue:CatalogueError",
    "traintriage.logs.model:LogReadError",
    "traintriage.logs:PlotUnavailable",
    "traintriage.lint:LintError",
    "traintriage.probe.grads:UnknownTermError",
    "traintriage.probe.detectors:UnknownCheckError",
    "traintriage.evals:CaseError",
    "traintriage.install_skill:InstallError",
)
# OS errors about the path the user gave (missing, a folder, no permission, not text).
_USER_OS_ERRORS = (FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError, UnicodeDecodeError)

# An internal error's message is cut to this many characters: one line a person reads, not a dump (an
# exception's text can quote whatever it was parsing).
MAX_INTERNAL_MESSAGE = 200


def exit_code_for(verdict: str) -> int:
    """The exit code of a Report's verdict: healthy 0, broken 1, inconclusive/crashed/timeout 4."""
    return _VERDICT_EXIT.get(verdict, EXIT_NO_VERDICT)


def is_user_error(exc: BaseException) -> bool:
    """True when `exc` is about the caller's input (exit 2, its message shown as is)."""
    if isinstance(exc, _USER_OS_ERRORS):
        return True
    for spec in _USER_ERRORS:
        module, name = spec.split(":")
        cls = getattr(sys.modules.get(module), name, None)
        if isinstance(cls, type) and isinstance(exc, cls):
            return True
    return False


def user_message(exc: BaseException) -> str:
    """The text of a user error; OS errors say which path without the errno prefix."""
    if isinstance(exc, OSError) and exc.filename is not None:
        return f"{exc.filename}: {exc.strerror or type(exc).__name__}"
    if isinstance(exc, UnicodeDecodeError):  # its str() quotes bytes of the file: say what, not what bytes
        return f"not a text file ({exc.encoding} cannot decode byte {exc.start})"
    return str(exc)


def internal_message(where: str, exc: BaseException) -> str:
    """One line naming where it happened and the exception, for an error that is our bug."""
    text = (str(exc).strip().splitlines() or [""])[0]
    if len(text) > MAX_INTERNAL_MESSAGE:
        text = text[:MAX_INTERNAL_MESSAGE] + "..."
    return f"internal error in {where}: {type(exc).__name__}" + (f": {text}" if text else "")


# Redaction: an error message must not quote the file it is about (the file may be outside what the caller
# may read, or hold secrets). Any run of at least this many characters of the message that also occurs in
# the file is replaced. 8 is shorter than any line worth hiding and longer than most words of our own
# messages; a false positive only blanks a few words of an error.
REDACT_MIN_RUN = 8
# How much of the file is compared: readers quote the line or header they stopped at, which lies early
# (a header) or is reported by line number; a cap keeps an error on a 10 GB log cheap.
REDACT_READ_BYTES = 1 << 20
REDACTED = "[file content withheld]"
# A run folder is searched this far for the file an error names (readers look a few levels down, e.g.
# mlruns/<exp>/<run>/metrics/<name>); the cap keeps an error about a huge folder cheap.
REDACT_MAX_FOLDER_ENTRIES = 2000


def _named_files(message: str, paths: list[Path]) -> list[Path]:
    """The regular files among `paths`, plus the files inside a folder among them that `message` names."""
    out = []
    for p in paths:
        try:
            if p.is_file():
                out.append(p)
            elif p.is_dir():
                for i, f in enumerate(p.rglob("*")):
                    if i >= REDACT_MAX_FOLDER_ENTRIES:
                        break
                    if (str(f) in message or f.name in message) and f.is_file():
                        out.append(f)
        except (OSError, ValueError):
            continue
    return out


def redact_file_content(message: str, paths: list[str | os.PathLike[str]]) -> str:
    """`message` with every run of >= REDACT_MIN_RUN characters that appears in one of `paths` replaced by
    REDACTED. A folder (a run folder) stands for the files inside it that the message names. Only regular
    files are opened; the paths' own names are kept."""
    contents = []
    for path in _named_files(message, [Path(p) for p in paths]):
        try:
            with path.open("rb") as f:
                contents.append(f.read(REDACT_READ_BYTES).decode("utf-8", "replace"))
        except OSError:
            continue
    if not contents:
        return message
    names = sorted({str(p) for p in paths} | {str(Path(p).resolve()) for p in paths}, key=len, reverse=True)
    keep = [False] * len(message)
    for name in names:  # the path the caller gave is not content, even if the file mentions itself
        start = message.find(name)
        while start >= 0:
            keep[start : start + len(name)] = [True] * len(name)
            start = message.find(name, start + 1)
    hide = [False] * len(message)
    n = REDACT_MIN_RUN
    for i in range(len(message) - n + 1):
        window = message[i : i + n]
        if not all(keep[i : i + n]) and window.strip() and any(window in c for c in contents):
            hide[i : i + n] = [True] * n
    out, i = [], 0
    while i < len(message):
        if hide[i] and not keep[i]:
            out.append(REDACTED)
            while i < len(message) and hide[i] and not keep[i]:
                i += 1
        else:
            out.append(message[i])
            i += 1
    return "".join(out)

"""Allowed-roots validation: the server only touches scripts and logs under roots the user granted.

Roots are a ceiling: the server's `--root` folders (default the working directory) bound everything; the
roots a client declares (MCP roots/list) may narrow them, never widen them (`allowed_roots`). A client that
declares `file:///` gets exactly the `--root` folders.

Pure functions, no MCP: `server.py` calls them before anything runs. The rule is the one the MCP
reference filesystem server follows (modelcontextprotocol/servers, src/filesystem): resolve the path
first (symlinks, `..`), *then* check that the resolved path lies inside a resolved root. Checking the
string before resolving lets `root/link -> /etc` or `root/../secret` through.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from urllib.parse import unquote, urlparse


class PathError(ValueError):
    """A path the caller may not use (outside the roots, missing, wrong kind). The text says what to do."""


def root_from_uri(uri: str) -> Path | None:
    """A `file://` root URI (as MCP clients send them) as a path; None for other schemes."""
    parsed = urlparse(str(uri))
    if parsed.scheme != "file":
        return None
    path = unquote(parsed.path)
    if parsed.netloc and parsed.netloc != "localhost":  # file://host/share -> //host/share
        path = f"//{parsed.netloc}{path}"
    return Path(path)


def normalize_roots(roots: Iterable[str | os.PathLike[str]]) -> list[Path]:
    """Resolve each root (following symlinks) and drop duplicates; keep the given order."""
    out: list[Path] = []
    for r in roots:
        p = Path(r).expanduser().resolve()
        if p not in out:
            out.append(p)
    return out


def allowed_roots(configured: Sequence[Path], client: Sequence[Path] | None) -> list[Path]:
    """The folders a call may use: the intersection of the client's roots with the configured ceiling.

    `client` None (no roots capability, or no file:// roots) means the configured roots. Each client root
    inside a configured root narrows to itself; each configured root inside a client root stays as it is;
    a client root that overlaps none adds nothing (so the result can be empty: nothing is allowed).
    """
    if client is None:
        return list(configured)
    out: list[Path] = []
    for c in normalize_roots(client):
        for r in configured:
            narrowed = c if is_within(c, r) else r if is_within(r, c) else None
            if narrowed is not None and narrowed not in out:
                out.append(narrowed)
    return out


def is_within(path: Path, root: Path) -> bool:
    """True if the already-resolved `path` is `root` or lies below it (component-wise, not by prefix)."""
    try:
        path.relative_to(root)
        return True
    except ValueError:
        return False


def resolve_in_roots(
    path: str | os.PathLike[str],
    roots: Sequence[Path],
    *,
    kind: str = "file",
    must_exist: bool = True,
    base: Path | None = None,
) -> Path:
    """Resolve `path` and return it if it lies inside one of `roots`; else raise PathError.

    A relative path is taken relative to `base` (default: the first root), which is what a model means
    when it says "train.py" after the user opened a project. `kind` is "file", "dir" or "any".
    """
    if not roots:
        raise PathError("no allowed roots are configured; start the server with --root DIR")
    raw = str(path).strip()
    if not raw:
        raise PathError("empty path; give the path of a file inside the project")
    if "\x00" in raw:
        raise PathError("path contains a NUL byte")
    p = Path(raw).expanduser()
    if not p.is_absolute():
        p = (base or roots[0]) / p
    resolved = p.resolve()  # follows symlinks, so a link that points outside is caught below
    if not any(is_within(resolved, r) for r in roots):
        allowed = ", ".join(str(r) for r in roots)
        raise PathError(
            f"'{raw}' resolves to {resolved}, which is outside the allowed roots ({allowed}). "
            "Use a path inside the project, or restart the server with --root for that folder "
            "(a client's roots can narrow --root, never widen it)."
        )
    if must_exist and not resolved.exists():
        hint = _nearby(resolved)
        raise PathError(f"'{raw}' does not exist (looked at {resolved}){hint}")
    if must_exist and kind == "file" and not resolved.is_file():
        raise PathError(f"'{raw}' is a {'folder' if resolved.is_dir() else 'special file'}, not a file")
    if must_exist and kind == "dir" and not resolved.is_dir():
        raise PathError(f"'{raw}' is not a folder")
    if must_exist and not (resolved.is_file() or resolved.is_dir()):  # a FIFO or device blocks or never ends
        raise PathError(f"'{raw}' is a special file (FIFO, device or socket), not a file or folder")
    return resolved


def inside_roots(raw: object, roots: Sequence[Path]) -> Path | None:
    """`raw` resolved when it is a path string inside `roots` (any kind), else None; never raises."""
    if not isinstance(raw, str):
        return None
    try:
        return resolve_in_roots(raw, roots, kind="any")
    except PathError:
        return None


def _nearby(missing: Path, n: int = 5) -> str:
    """A hint listing files with the same suffix in the nearest existing parent folder."""
    parent = missing.parent
    while not parent.is_dir() and parent != parent.parent:
        parent = parent.parent
    try:
        names = sorted(
            c.name
            for c in parent.iterdir()
            if c.is_file() and (not missing.suffix or c.suffix == missing.suffix)
        )[:n]
    except OSError:
        return ""
    return f"; files in {parent}: {', '.join(names)}" if names else ""

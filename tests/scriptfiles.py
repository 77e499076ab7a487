"""Small helpers the detector tests share: write a test script to disk, pick findings out of a report."""

from __future__ import annotations

import textwrap
from pathlib import Path


def write_script(tmp_path: Path, name: str, src: str) -> Path:
    """Write `src` (dedented) as tmp_path/name and return the path."""
    p = tmp_path / name
    p.write_text(textwrap.dedent(src), encoding="utf-8")
    return p


def found(rep, id_: str, severities: tuple[str, ...] = ("error", "warning")) -> list:
    """The report's findings with this id at one of these severities."""
    return [f for f in rep.findings if f.id == id_ and f.severity in severities]


def error_ids(rep) -> list[str]:
    """Ids of the report's error-severity findings, in report order."""
    return [f.id for f in rep.findings if f.severity == "error"]

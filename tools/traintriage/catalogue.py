"""Parse the handbook in refs/ into typed models.

One format serves two readers. A person reads `refs/catalogue/<family>.md` as Markdown; this module reads
the same files. The format (documented in refs/README.md):

- an entry starts at a level-2 heading that is exactly its id: ``## double-softmax`` (GitHub makes the
  anchor ``#double-softmax`` from it);
- inside an entry, each field starts on a line beginning ``**Name:**``; the field runs to the next field
  or the next ``## `` heading;
- the family is the page's file name (``refs/catalogue/loss.md`` -> ``loss``);
- ``**Sources:**`` is a bullet list of ``[title](url)`` links; ``**Aliases:**`` lists old ids.

Symptoms live in ``refs/symptoms.md`` in the same shape; their ``**Candidates:**`` field is an ordered list
whose items start with a backticked cause id, most likely first.
"""

from __future__ import annotations

import difflib
import os
import re
from functools import lru_cache
from pathlib import Path

from pydantic import BaseModel, Field

ENTRY_FIELDS = ("title", "symptoms", "cause", "confirm", "fix", "sources")
SYMPTOM_FIELDS = ("title", "looks like", "detected by", "candidates")

_ID = r"[a-z0-9]+(?:-[a-z0-9]+)*"
_HEADING = re.compile(rf"^## ({_ID})\s*$")
_FIELD = re.compile(r"^\*\*([A-Za-z][A-Za-z \-]*):\*\*\s*(.*)$")
_LINK = re.compile(r"\[([^\]]+)\]\((https?://[^)\s]+)\)")
_CANDIDATE = re.compile(rf"^\s*\d+\.\s+`({_ID})`")


class CatalogueError(ValueError):
    """The handbook does not parse: a missing field, a repeated id, an unknown reference."""


class SourceLink(BaseModel):
    title: str
    url: str


class Entry(BaseModel):
    """One failure cause: symptom -> cause -> check -> fix."""

    id: str
    title: str
    family: str
    symptoms: str = Field(description="What a person sees in curves and logs.")
    cause: str = Field(description="The mechanism.")
    confirm: str = Field(description="The one check that separates it from look-alikes.")
    fix: str = Field(description="The exact knob or code change.")
    sources: list[SourceLink]
    aliases: list[str] = Field(default_factory=list)
    page: str = Field(description="Path of the page relative to the repository root.")

    @property
    def ref(self) -> str:
        return f"{self.page}#{self.id}"


class SymptomEntry(BaseModel):
    """A symptom: what is seen, not why; with ranked candidate causes."""

    id: str
    title: str
    looks_like: str
    detected_by: str
    candidates: list[str]
    page: str = "refs/symptoms.md"

    @property
    def ref(self) -> str:
        return f"{self.page}#{self.id}"


def refs_dir() -> Path:
    """Where the handbook lives: $TRAINTRIAGE_REFS, the repository checkout, or a copy shipped in the package."""
    env = os.environ.get("TRAINTRIAGE_REFS")
    candidates = [Path(env)] if env else []
    here = Path(__file__).resolve().parent
    candidates += [here.parent.parent / "refs", here / "_skill" / "refs"]  # checkout, then the wheel's copy
    for c in candidates:
        if (c / "catalogue").is_dir():
            return c
    raise CatalogueError(
        "cannot find the refs/ handbook; set TRAINTRIAGE_REFS to the folder that holds refs/catalogue/"
    )


def _split_blocks(text: str) -> list[tuple[str, list[str]]]:
    """Return (id, lines) for each ``## id`` block in a page; text before the first block is ignored."""
    blocks: list[tuple[str, list[str]]] = []
    in_code = False
    for line in text.splitlines():
        if line.startswith("```"):
            in_code = not in_code
        m = None if in_code else _HEADING.match(line)
        if m:
            blocks.append((m.group(1), []))
        elif line.startswith("## ") and not in_code and blocks:
            blocks.append(("", []))  # a non-id level-2 heading ends the previous entry
        elif blocks:
            blocks[-1][1].append(line)
    return [b for b in blocks if b[0]]


def _fields(lines: list[str]) -> dict[str, str]:
    out: dict[str, list[str]] = {}
    current: str | None = None
    in_code = False
    for line in lines:
        if line.startswith("```"):
            in_code = not in_code
        m = None if in_code else _FIELD.match(line)
        if m:
            current = m.group(1).strip().lower()
            out[current] = [m.group(2)]
        elif current is not None:
            out[current].append(line)
    return {k: "\n".join(v).strip() for k, v in out.items()}


def parse_page(path: Path, family: str, page: str) -> list[Entry]:
    entries = []
    for eid, lines in _split_blocks(path.read_text(encoding="utf-8")):
        f = _fields(lines)
        missing = [k for k in ENTRY_FIELDS if not f.get(k)]
        if missing:
            raise CatalogueError(f"{page}#{eid}: missing field(s) {', '.join(missing)}")
        sources = [SourceLink(title=t, url=u) for t, u in _LINK.findall(f["sources"])]
        if not sources:
            raise CatalogueError(f"{page}#{eid}: **Sources:** has no [title](url) link")
        aliases = re.findall(_ID, f.get("aliases", "").replace("`", " "))
        entries.append(
            Entry(
                id=eid,
                title=f["title"],
                family=family,
                symptoms=f["symptoms"],
                cause=f["cause"],
                confirm=f["confirm"],
                fix=f["fix"],
                sources=sources,
                aliases=aliases,
                page=page,
            )
        )
    return entries


@lru_cache(maxsize=4)
def _load(root: str) -> dict[str, Entry]:
    base = Path(root)
    out: dict[str, Entry] = {}
    pages = sorted((base / "catalogue").glob("*.md"))
    if not pages:
        raise CatalogueError(f"no catalogue pages in {base / 'catalogue'}")
    for p in pages:
        if p.name.lower() == "readme.md":
            continue
        for e in parse_page(p, p.stem, f"refs/catalogue/{p.name}"):
            if e.id in out:
                raise CatalogueError(f"id '{e.id}' appears twice ({out[e.id].page} and {e.page})")
            out[e.id] = e
    return out


def load_catalogue(root: Path | None = None) -> dict[str, Entry]:
    """All catalogue entries by id (aliases are not keys; see resolve())."""
    return _load(str(root or refs_dir()))


@lru_cache(maxsize=4)
def _load_symptoms(root: str) -> dict[str, SymptomEntry]:
    path = Path(root) / "symptoms.md"
    out: dict[str, SymptomEntry] = {}
    for sid, lines in _split_blocks(path.read_text(encoding="utf-8")):
        f = _fields(lines)
        missing = [k for k in SYMPTOM_FIELDS if not f.get(k)]
        if missing:
            raise CatalogueError(f"refs/symptoms.md#{sid}: missing field(s) {', '.join(missing)}")
        cands = [m.group(1) for line in f["candidates"].splitlines() if (m := _CANDIDATE.match(line))]
        if not cands:
            raise CatalogueError(f"refs/symptoms.md#{sid}: **Candidates:** lists no `id`")
        if sid in out:
            raise CatalogueError(f"symptom id '{sid}' appears twice")
        out[sid] = SymptomEntry(
            id=sid, title=f["title"], looks_like=f["looks like"], detected_by=f["detected by"], candidates=cands
        )
    return out


def load_symptoms(root: Path | None = None) -> dict[str, SymptomEntry]:
    return _load_symptoms(str(root or refs_dir()))


def validate(root: Path | None = None) -> None:
    """Raise CatalogueError if any symptom names an unknown cause or an alias collides with an id."""
    cat = load_catalogue(root)
    for s in load_symptoms(root).values():
        unknown = [c for c in s.candidates if c not in cat]
        if unknown:
            raise CatalogueError(f"symptom '{s.id}' names unknown cause id(s): {', '.join(unknown)}")
    for e in cat.values():
        for a in e.aliases:
            if a in cat:
                raise CatalogueError(f"alias '{a}' of '{e.id}' is also an id")


def resolve(id_: str) -> Entry | None:
    """The entry for an id or one of its aliases."""
    cat = load_catalogue()
    if id_ in cat:
        return cat[id_]
    for e in cat.values():
        if id_ in e.aliases:
            return e
    return None


def suggest(id_: str, n: int = 3) -> list[str]:
    """Closest known ids (causes and symptoms) to a mistyped one."""
    known = list(load_catalogue()) + list(load_symptoms())
    close = difflib.get_close_matches(id_, known, n=n, cutoff=0.5)
    if not close:
        close = [k for k in known if id_ in k or k in id_][:n]
    return close


def ref_for(id_: str) -> str:
    """'refs/<page>.md#<id>' for a cause id (or alias), else the symptom page, else the catalogue index."""
    try:
        e = resolve(id_)
        if e is not None:
            return e.ref
        if id_ in load_symptoms():
            return f"refs/symptoms.md#{id_}"
    except CatalogueError:
        pass
    return f"refs/catalogue/README.md#{id_}"


def search(text: str, limit: int = 5) -> list[tuple[Entry, float]]:
    """Entries whose text best matches free text (a symptom description), by word overlap."""
    words = {w for w in re.findall(r"[a-z0-9]+", text.lower()) if len(w) > 2}
    if not words:
        return []
    scored = []
    for e in load_catalogue().values():
        hay = f"{e.id} {e.title} {e.symptoms} {e.cause}".lower()
        hay_words = set(re.findall(r"[a-z0-9]+", hay))
        hits = len(words & hay_words)
        if hits:
            scored.append((e, hits / len(words)))
    scored.sort(key=lambda t: -t[1])
    return scored[:limit]


def refs_pages() -> dict[str, Path]:
    """'catalogue/loss.md' -> path, for every Markdown page under refs/."""
    base = refs_dir()
    return {p.relative_to(base).as_posix(): p for p in sorted(base.rglob("*.md"))}


def read_refs_page(page: str) -> str:
    """The text of refs/<page> ('symptoms', 'catalogue/loss.md', 'refs/catalogue/loss.md#id' all work)."""
    from traintriage.errors import UsageError

    name = page.split("#", 1)[0].strip().removeprefix("refs/")
    if not name.endswith(".md"):
        name += ".md"
    pages = refs_pages()
    if name not in pages:  # the lookup is in a listing, so '..' or an absolute path can never match
        raise UsageError(f"no refs page '{page}'; pages: {', '.join(pages)}")
    return pages[name].read_text(encoding="utf-8")

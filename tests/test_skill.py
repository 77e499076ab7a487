"""The skill pack (SKILL.md + refs/) is valid under the Agent Skills spec and its links resolve.

- The real validator (`agentskills validate`, package skills-ref) accepts a folder named `traintriage`
  holding SKILL.md and a copy of refs/, laid out the way install-skill lays it out.
- SKILL.md stays under the 500-line budget; long method pages carry a contents list.
- Every relative link in SKILL.md and refs/*.md points at a file that exists, and an `#anchor` into a
  method page names one of its headings.
- Links into the catalogue (refs/catalogue/*.md, refs/symptoms.md) are checked by id: the anchor must be
  an entry the catalogue parser loads, on the page the link names. Those pages are written in parallel;
  the ids they must hold are DESIGN.md's contract, so this check is strict.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from traintriage import catalogue as cat

ROOT = Path(__file__).resolve().parent.parent
SKILL = ROOT / "SKILL.md"
REFS = ROOT / "refs"
CATALOGUE_DIR = REFS / "catalogue"
SYMPTOMS = REFS / "symptoms.md"

MAX_SKILL_LINES = 500  # anthropics/skills guidance: keep SKILL.md a router under 500 lines
TOC_OVER_LINES = 300  # the same guidance: reference files longer than this get a table of contents
SPEC_KEYS = {"name", "description", "license", "compatibility", "metadata", "allowed-tools"}

# The MCP tools SKILL.md routes to; each must be defined in server.py (checked by text, no mcp import).
MCP_TOOLS = (
    "triage_script",
    "probe_script",
    "lint_script",
    "read_run_logs",
    "grad_decomposition",
    "classify_rough_map",
    "explain",
    "plot_run",
)

_FENCE = re.compile(r"^(`{3,}|~{3,}).*?^\1[ \t]*$", re.M | re.S)
_INLINE_CODE = re.compile(r"``.*?``|`[^`\n]*`")
_LINK = re.compile(r"(?<!!)\[[^\]\n]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.M)


def _strip_code(text: str) -> str:
    return _INLINE_CODE.sub("", _FENCE.sub("", text))


def _relative_links(path: Path) -> list[tuple[str, Path, str]]:
    """(raw target, resolved file, anchor) for every link that is not external."""
    out = []
    for target in _LINK.findall(_strip_code(path.read_text(encoding="utf-8"))):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I):  # https:, mailto:, ...
            continue
        file_part, _, anchor = target.partition("#")
        resolved = (path.parent / file_part).resolve() if file_part else path.resolve()
        out.append((target, resolved, anchor))
    return out


def _slug(heading: str) -> str:
    """GitHub's heading anchor: lowercase, drop punctuation except '-' and '_', spaces -> '-'."""
    text = re.sub(r"[`*_]{1,2}(?=\S)|(?<=\S)[`*_]{1,2}", "", heading)  # emphasis and code markers
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)  # a link keeps its text
    return re.sub(r"[^\w\- ]", "", text.strip().lower()).replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    return {_slug(h) for h in _HEADING.findall(_FENCE.sub("", path.read_text(encoding="utf-8")))}


def _is_catalogue(p: Path) -> bool:
    return p == SYMPTOMS.resolve() or CATALOGUE_DIR.resolve() in p.parents


def _pages() -> list[Path]:
    """The files whose links we check: SKILL.md and the method pages (not the catalogue pages)."""
    return [SKILL, *sorted(REFS.glob("*.md"))]


def _all_links() -> list[tuple[Path, str, Path, str]]:
    return [(page, raw, res, anchor) for page in _pages() for raw, res, anchor in _relative_links(page)]


def _frontmatter(text: str) -> dict:
    import yaml

    m = re.match(r"^---\n(.*?)\n---\n", text, re.S)
    assert m, "SKILL.md must open with a YAML frontmatter block"
    return yaml.safe_load(m.group(1))


@pytest.fixture(scope="module")
def skill_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder named after the skill, holding SKILL.md and refs/, as an agent would install it."""
    d = tmp_path_factory.mktemp("skills") / "traintriage"
    d.mkdir()
    shutil.copy2(SKILL, d / "SKILL.md")
    shutil.copytree(REFS, d / "refs")
    return d


def _validator_cmd() -> list[str]:
    exe = Path(sys.executable).parent / "agentskills"
    if exe.exists():
        return [str(exe)]
    found = shutil.which("agentskills")
    if found:
        return [found]
    pytest.importorskip("skills_ref")  # installed with the dev extra
    return [sys.executable, "-c", "import sys; from skills_ref.cli import main; sys.exit(main())"]


def test_agentskills_validator_accepts_the_skill(skill_dir: Path) -> None:
    proc = subprocess.run(
        [*_validator_cmd(), "validate", str(skill_dir)], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, f"agentskills validate failed:\n{proc.stdout}\n{proc.stderr}"
    assert "Valid skill" in proc.stdout


def test_frontmatter_has_only_spec_keys_and_the_right_name() -> None:
    meta = _frontmatter(SKILL.read_text(encoding="utf-8"))
    assert set(meta) <= SPEC_KEYS, f"non-spec frontmatter keys: {sorted(set(meta) - SPEC_KEYS)}"
    assert meta["name"] == "traintriage"
    desc = meta["description"]
    assert 200 < len(desc) <= 1024, "the description should be specific and within the spec's 1024 chars"
    for trigger in ("loss", "NaN", "overfit", "PyTorch", "metric"):
        assert trigger.lower() in desc.lower(), f"description lacks the trigger word {trigger!r}"


def test_skill_md_is_a_short_router() -> None:
    lines = SKILL.read_text(encoding="utf-8").splitlines()
    assert len(lines) < MAX_SKILL_LINES, f"SKILL.md has {len(lines)} lines; budget is {MAX_SKILL_LINES}"
    text = "\n".join(lines)
    assert "traintriage triage" in text and "--json" in text, "SKILL.md must say what to run first"
    for page in ("triage.md", "metric_stuck.md", "diagnostic_metrics.md", "mindset.md", "symptoms.md"):
        assert f"(refs/{page}" in text, f"SKILL.md does not route to refs/{page}"


def test_skill_md_names_mcp_tools_that_exist() -> None:
    text = SKILL.read_text(encoding="utf-8")
    server = (ROOT / "tools" / "traintriage" / "server.py").read_text(encoding="utf-8")
    for tool in MCP_TOOLS:
        assert f"`{tool}`" in text, f"SKILL.md does not mention the MCP tool {tool}"
        assert re.search(rf"def {tool}\(", server), f"server.py defines no tool named {tool}"


def test_long_method_pages_have_contents() -> None:
    for page in sorted(REFS.glob("*.md")):
        text = page.read_text(encoding="utf-8")
        if len(text.splitlines()) > TOC_OVER_LINES:
            assert re.search(r"^(Contents|## (Table of )?contents)", text, re.M | re.I), (
                f"{page.name} needs a contents list"
            )


def test_links_are_found_at_all() -> None:
    links = _all_links()
    assert len(links) > 40, "the link extractor found suspiciously few links"
    assert any(_is_catalogue(res) for _, _, res, _ in links)


def test_relative_links_outside_the_catalogue_resolve() -> None:
    bad = []
    for page, raw, res, anchor in _all_links():
        if _is_catalogue(res):
            continue
        if not res.is_file():
            bad.append(f"{page.relative_to(ROOT)}: [{raw}] -> missing file")
        elif anchor and res.suffix == ".md" and anchor not in _anchors(res):
            bad.append(f"{page.relative_to(ROOT)}: [{raw}] -> no heading with anchor #{anchor}")
    assert not bad, "broken links:\n" + "\n".join(bad)


def test_links_into_the_catalogue_name_existing_ids() -> None:
    entries = cat.load_catalogue()
    symptoms = cat.load_symptoms()
    pages_with_entries = {(ROOT / e.page).resolve() for e in entries.values()}
    bad = []
    for page, raw, res, anchor in _all_links():
        if not _is_catalogue(res):
            continue
        where = f"{page.relative_to(ROOT)}: [{raw}]"
        if res == SYMPTOMS.resolve():
            if anchor and anchor not in symptoms:
                bad.append(f"{where} -> no symptom '{anchor}' in refs/symptoms.md")
            continue
        if not anchor:
            if res not in pages_with_entries:
                bad.append(f"{where} -> no catalogue page with entries at that path")
            continue
        entry = entries.get(anchor)
        if entry is None:
            bad.append(f"{where} -> no catalogue entry '{anchor}'")
        elif (ROOT / entry.page).resolve() != res:
            bad.append(f"{where} -> '{anchor}' lives on {entry.page}")
    assert not bad, "catalogue links that do not resolve:\n" + "\n".join(bad)


def test_slug_matches_github_for_headings_we_use() -> None:
    assert _slug("Relative update and effective LR") == "relative-update-and-effective-lr"
    assert (
        _slug("Worked example 1: a log1p term that has gone deaf")
        == "worked-example-1-a-log1p-term-that-has-gone-deaf"
    )
    assert _slug("Update norm, parameter norm") == "update-norm-parameter-norm"
    assert _slug("`traintriage grads` output") == "traintriage-grads-output"

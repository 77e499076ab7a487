"""install-skill: the copied folder is where each agent looks, passes the real Agent Skills validator, and is
never clobbered when it is someone else's."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from traintriage import install_skill as inst
from traintriage.cli import main

REPO = Path(__file__).resolve().parent.parent
HAS_REPO_SKILL = (REPO / "SKILL.md").is_file() and (REPO / "refs").is_dir()


def _validate(folder: Path) -> subprocess.CompletedProcess:
    exe = shutil.which("agentskills")
    cmd = (
        [exe, "validate", str(folder)]
        if exe
        else [sys.executable, "-m", "skills_ref.cli", "validate", str(folder)]
    )
    return subprocess.run(cmd, capture_output=True, text=True)


@pytest.fixture
def fake_source(tmp_path: Path) -> Path:
    """A minimal, valid skill source, so the copy logic is tested even before the real SKILL.md exists."""
    src = tmp_path / "src"
    (src / "refs" / "catalogue").mkdir(parents=True)
    (src / "SKILL.md").write_text(
        "---\nname: traintriage\ndescription: Triage training runs.\n---\n\n# traintriage\n"
    )
    (src / "refs" / "catalogue" / "loss.md").write_text("# loss\n")
    return src


@pytest.mark.parametrize(
    ("agent", "scope", "rel"),
    [
        ("claude", "project", ".claude/skills/traintriage"),
        ("claude", "user", ".claude/skills/traintriage"),
        ("codex", "project", ".agents/skills/traintriage"),
        ("codex", "user", ".agents/skills/traintriage"),
        ("cursor", "project", ".cursor/skills/traintriage"),
        ("gemini", "project", ".gemini/skills/traintriage"),
        ("gemini", "user", ".gemini/skills/traintriage"),
    ],
)
def test_install_goes_to_each_agents_folder(tmp_path, fake_source, agent, scope, rel):
    project, home = tmp_path / "proj", tmp_path / "home"
    project.mkdir()
    res = inst.install(agent, scope=scope, project_dir=project, source=fake_source, home=home)
    base = home if scope == "user" else project
    assert Path(res.path) == (base / rel).resolve() or Path(res.path) == base / rel
    assert (base / rel / "SKILL.md").is_file() and (base / rel / "refs" / "catalogue" / "loss.md").is_file()
    assert res.files == 2
    assert "traintriage serve" in res.mcp_command or '"serve"' in res.mcp_command


def test_mcp_registration_lines():
    assert inst.mcp_command("claude") == "claude mcp add --scope project traintriage -- traintriage serve"
    assert inst.mcp_command("codex") == "codex mcp add traintriage -- traintriage serve"
    assert inst.mcp_command("gemini", "user") == "gemini mcp add -s user traintriage traintriage serve"
    cursor = inst.mcp_command("cursor")
    assert cursor.startswith("add to .cursor/mcp.json: ")
    entry = json.loads(cursor.split(": ", 1)[1])
    assert entry == {"mcpServers": {"traintriage": {"command": "traintriage", "args": ["serve"]}}}


def test_reinstall_replaces_our_copy_but_not_a_foreign_skill(tmp_path, fake_source):
    dest = tmp_path / "skills"
    inst.install("claude", dest=dest, source=fake_source)
    (dest / "traintriage" / "refs" / "catalogue" / "loss.md").unlink()  # a file of ours gone: restored
    inst.install("claude", dest=dest, source=fake_source)
    assert (dest / "traintriage" / "refs" / "catalogue" / "loss.md").read_text() == "# loss\n"
    (dest / "traintriage" / "refs" / "catalogue" / "loss.md").write_text("# loss\nmy note\n")
    (dest / "traintriage" / "refs" / "mine.md").write_text("notes")
    with pytest.raises(inst.InstallError, match=r"edited or added.*refs/catalogue/loss.md, refs/mine.md"):
        inst.install("claude", dest=dest, source=fake_source)
    assert (dest / "traintriage" / "refs" / "mine.md").read_text() == "notes"  # refused: nothing lost
    inst.install("claude", dest=dest, source=fake_source, force=True)  # --force: replaced, added file gone
    assert not (dest / "traintriage" / "refs" / "mine.md").exists()
    assert inst.edited_files(dest / "traintriage") == []

    (dest / "traintriage" / "SKILL.md").write_text("---\nname: something-else\ndescription: x\n---\n")
    with pytest.raises(inst.InstallError, match="not a traintriage install"):
        inst.install("claude", dest=dest, source=fake_source)
    inst.install("claude", dest=dest, source=fake_source, force=True)
    assert "name: traintriage" in (dest / "traintriage" / "SKILL.md").read_text()
    assert [p.name for p in dest.iterdir()] == ["traintriage"], "no staging folders left behind"


def test_installed_fake_skill_passes_the_real_validator(tmp_path, fake_source):
    res = inst.install("claude", dest=tmp_path / "skills", source=fake_source)
    proc = _validate(Path(res.path))
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.skipif(not HAS_REPO_SKILL, reason="the repository's SKILL.md / refs/ are not written yet")
def test_cli_installs_the_repository_skill_for_all_agents_and_it_validates(tmp_path, capsys):
    project = tmp_path / "proj"
    project.mkdir()
    code = main(["install-skill", "--agent", "all", "--project-dir", str(project), "--json"])
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert {i["agent"] for i in out["installed"]} == {"claude", "codex", "cursor", "gemini"}
    for item in out["installed"]:
        folder = Path(item["path"])
        assert folder.name == "traintriage"
        assert (folder / "SKILL.md").read_text() == (REPO / "SKILL.md").read_text()
        assert (folder / "refs" / "symptoms.md").is_file()
        proc = _validate(folder)
        assert proc.returncode == 0, f"{item['agent']}: {proc.stdout}{proc.stderr}"


def test_cli_text_output_prints_the_registration_line(tmp_path, capsys, fake_source, monkeypatch):
    monkeypatch.setenv("TRAINTRIAGE_SKILL_DIR", str(fake_source))
    code = main(["install-skill", "--agent", "codex", "--dest", str(tmp_path / "s")])
    assert code == 0
    out = capsys.readouterr().out
    assert "codex mcp add traintriage -- traintriage serve" in out


def test_cli_refusal_is_a_usage_error(tmp_path, capsys, fake_source, monkeypatch):
    monkeypatch.setenv("TRAINTRIAGE_SKILL_DIR", str(fake_source))
    (tmp_path / "s" / "traintriage").mkdir(parents=True)
    (tmp_path / "s" / "traintriage" / "SKILL.md").write_text("---\nname: mine\ndescription: x\n---\n")
    assert main(["install-skill", "--dest", str(tmp_path / "s"), "--json"]) == 2
    assert "not a traintriage install" in json.loads(capsys.readouterr().out)["error"]["message"]

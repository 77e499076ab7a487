"""`traintriage demo`: bundled broken scripts (eval cases, linked from evals/cases) that ship in the wheel."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from traintriage import demos, evals

REPO = Path(__file__).resolve().parents[1]


def _cli(*argv: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "traintriage", *argv], capture_output=True, text=True,
                          cwd=cwd, timeout=300)


def test_each_demo_is_an_eval_case_the_scoreboard_runs():
    """evals/cases/<name> is a symlink to the demo folder: one copy, scored by the eval gate."""
    names = [d.name for d in demos.list_demos()]
    assert demos.DEFAULT_DEMO in names and len(names) >= 3
    scored = {c.name: c for c in evals.discover_cases(evals.default_cases_dir(), None)}
    for name in names:
        case = evals.default_cases_dir() / name
        assert case.resolve() == (demos.DEMO_ROOT / name).resolve(), f"evals/cases/{name} is not the demo"
        assert name in scored and scored[name].expected and not scored[name].healthy


def test_list_and_unknown_name_as_json(tmp_path: Path):
    out = _cli("demo", "--list", "--json", cwd=tmp_path)
    assert out.returncode == 0
    listed = json.loads(out.stdout)["demos"]
    assert {d["name"] for d in listed} == {d.name for d in demos.list_demos()}
    assert all(d["bug"] and d["expected"] for d in listed)
    bad = _cli("demo", "no-such-demo", "--json", cwd=tmp_path)
    assert bad.returncode == 2
    assert "no-such-demo" in json.loads(bad.stdout)["error"]["message"] and demos.DEFAULT_DEMO in bad.stdout


def test_stage_copies_to_a_temp_folder_and_diff_shows_the_fix(tmp_path: Path):
    folder = demos.stage_demo("missing-zero-grad-sgd", tmp_path)
    assert (folder / "train.py").is_file() and folder.parent == tmp_path
    diff = demos.fix_diff("missing-zero-grad-sgd")
    assert diff.startswith("--- train.py") and "+" in diff and "zero_grad" in diff


@pytest.mark.slow
def test_demo_runs_the_main_job_and_names_the_planted_bug(tmp_path: Path):
    before = {p: p.read_bytes() for p in demos.DEMO_ROOT.rglob("*") if p.is_file()}
    out = _cli("demo", "--json", cwd=tmp_path)
    assert out.returncode == 1, out.stderr[-2000:]
    got = json.loads(out.stdout)
    rep = got["report"]
    assert rep["verdict"] == "broken" and rep["findings"][0]["id"] in got["demo"]["expected"]
    assert not Path(got["folder"]).is_relative_to(demos.DEMO_ROOT)
    after = {p: p.read_bytes() for p in demos.DEMO_ROOT.rglob("*") if p.is_file()}
    assert after == before  # nothing written next to the installed package
    fixed = _cli("demo", "--fixed", "--json", cwd=tmp_path)
    assert fixed.returncode == 0 and json.loads(fixed.stdout)["report"]["verdict"] == "healthy"


@pytest.mark.slow
def test_the_wheel_ships_the_demos(tmp_path: Path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                    str(tmp_path), str(REPO)], check=True, capture_output=True, timeout=300)
    (wheel,) = tmp_path.glob("traintriage-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for d in demos.list_demos():
        for f in ("train.py", "fixed.py", "case.yaml"):
            assert f"traintriage/demos/{d.name}/{f}" in names

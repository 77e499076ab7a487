"""README.md works as written: every Python code block runs as-is in a fresh interpreter (issue 19)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = re.findall(r"^```python\n(.*?)^```", README.read_text(encoding="utf-8"), re.M | re.S)


def test_the_readme_has_python_blocks():
    assert BLOCKS, "README.md lost its Python examples"


@pytest.mark.slow
@pytest.mark.parametrize("i", range(len(BLOCKS)))
def test_python_block_runs_as_written(i: int, tmp_path: Path):
    script = tmp_path / f"readme_block_{i}.py"
    script.write_text(BLOCKS[i], encoding="utf-8")
    out = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, f"README block {i} failed:\n{BLOCKS[i]}\n{out.stderr[-3000:]}"
    if "traintriage.watch(" in BLOCKS[i]:  # the block says it writes the watch file: it does, and logs reads it
        watch = tmp_path / "traintriage_watch.jsonl"
        assert watch.is_file() and watch.read_text().count("\n") >= 10
        logs = subprocess.run([sys.executable, "-m", "traintriage", "logs", str(watch), "--json"], cwd=tmp_path,
                              capture_output=True, text=True, timeout=300)
        assert logs.returncode in (0, 1) and '"loss"' in logs.stdout, logs.stderr[-2000:]


def test_ci_runs_the_readme_commands_and_every_test_the_default_run_leaves_out():
    """.ci/run calls the README's install and test commands, and `pytest -q -m corpus`: the tests that the
    default run deselects (pyproject addopts `-m 'not corpus'`) still run in CI."""
    root = README.parent
    ci = [ln.strip() for ln in (root / ".ci" / "run").read_text().splitlines() if ln.strip() and ln[0] != "#"]
    text = README.read_text(encoding="utf-8")
    install = "pip install torch==2.13.0 && pip install -e '.[dev]'"
    assert install in text and install in ci
    assert "pytest -q" in text and ci[-1] == "pytest -q"
    addopts = re.search(r'^addopts = "(.*)"$', (root / "pyproject.toml").read_text(), re.M).group(1)
    deselected = re.findall(r"-m '?not (\w+)'?", addopts)
    assert deselected == ["corpus"], addopts
    assert "pytest -q -m corpus" in ci

"""A built wheel carries the handbook, so the catalogue and install-skill work outside a checkout."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_wheel_ships_skill_and_refs(tmp_path):
    wheels = tmp_path / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "--no-build-isolation", "-q", "-w", str(wheels)],
        check=True, capture_output=True, timeout=300,
    )
    (whl,) = wheels.glob("traintriage-*.whl")
    names = zipfile.ZipFile(whl).namelist()
    assert "traintriage/_skill/SKILL.md" in names
    assert "traintriage/_skill/refs/catalogue/loss.md" in names
    target = tmp_path / "site"
    with zipfile.ZipFile(whl) as z:
        z.extractall(target)
    code = (
        "import traintriage.catalogue as c, traintriage.install_skill as i\n"
        "print(c.refs_dir()); print(len(c.load_catalogue())); print(i.skill_source())\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRAINTRIAGE_")} | {"PYTHONPATH": str(target)}
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
                         check=True, timeout=60).stdout.split("\n")
    assert out[0].startswith(str(target)) and int(out[1]) >= 43 and out[2].startswith(str(target))

"""Bundled demo scripts: a few broken training scripts that ship in the wheel, so the main job can be tried
with nothing of the user's (`traintriage demo`).

Each demo is one of our own eval cases (train.py, fixed.py, case.yaml): the files live here so the wheel
carries them, and evals/cases/<name> is a symlink to the folder, so the eval gate scores them. A demo run copies the folder to a new
temporary folder and triages the copy there: nothing is written next to the installed package.
"""

from __future__ import annotations

import difflib
import shutil
import tempfile
from pathlib import Path

from pydantic import BaseModel, Field

DEMO_ROOT = Path(__file__).resolve().parent / "demos"
DEFAULT_DEMO = "double-softmax-mlp"  # quick (about 3 s), and its finding is the clearest to read


class DemoError(ValueError):
    """An unknown demo name, or a damaged installation; the text says what exists."""


class Demo(BaseModel):
    name: str
    bug: str = Field(description="What is wrong with train.py, in one line.")
    expected: list[str] = Field(description="The catalogue ids a correct diagnosis names.")


def list_demos() -> list[Demo]:
    import yaml

    out = []
    for d in sorted(DEMO_ROOT.iterdir()) if DEMO_ROOT.is_dir() else []:
        meta = d / "case.yaml"
        if d.is_dir() and meta.is_file():
            y = yaml.safe_load(meta.read_text(encoding="utf-8")) or {}
            out.append(Demo(name=d.name, bug=str(y.get("bug", "")), expected=list(y.get("expected") or [])))
    return out


def get_demo(name: str | None) -> Demo:
    demos = {d.name: d for d in list_demos()}
    if not demos:
        raise DemoError(f"no demos found under {DEMO_ROOT}; the installation is incomplete")
    key = name or DEFAULT_DEMO
    if key not in demos:
        raise DemoError(f"no demo named '{key}'; demos: {', '.join(demos)}")
    return demos[key]


def stage_demo(name: str, dest: Path | None = None) -> Path:
    """Copy demo `name` into `dest` (default: a new temporary folder); return the folder holding train.py."""
    demo = get_demo(name)
    base = Path(dest) if dest is not None else Path(tempfile.mkdtemp(prefix="traintriage-demo-"))
    target = base / demo.name
    shutil.copytree(DEMO_ROOT / demo.name, target)
    return target


def fix_diff(name: str) -> str:
    """The unified diff from the demo's train.py to its fixed.py: what the fix changes."""
    d = DEMO_ROOT / get_demo(name).name
    a = (d / "train.py").read_text(encoding="utf-8").splitlines(keepends=True)
    b = (d / "fixed.py").read_text(encoding="utf-8").splitlines(keepends=True)
    return "".join(difflib.unified_diff(a, b, "train.py", "fixed.py", n=1))

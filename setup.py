"""Ship the handbook inside the wheel: SKILL.md and refs/ are copied to traintriage/_skill/ at build time.

Everything else is in pyproject.toml. An editable install reads refs/ from the checkout instead; a wheel
(pip install . or from an index) finds the copy, so `traintriage explain` and `install-skill` work anywhere.
"""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent


class BuildWithSkill(build_py):
    def run(self) -> None:
        super().run()
        dst = Path(self.build_lib) / "traintriage" / "_skill"
        if dst.exists():
            shutil.rmtree(dst)
        (dst).mkdir(parents=True)
        shutil.copy2(ROOT / "SKILL.md", dst / "SKILL.md")
        shutil.copytree(ROOT / "refs", dst / "refs")


setup(cmdclass={"build_py": BuildWithSkill})

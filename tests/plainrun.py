"""`python script.py` as a user runs it, for the plain-run checks of the eval cases and the real corpus.

Forked from the warm template (probe/warm.py, on for the suite in tests/conftest.py) when one is ready for this
environment: the script still runs in a fresh process, but torch's import (3-5 CPU-s) is paid once per template,
not once per script (issue 15, budgets). Else a subprocess.
"""

from __future__ import annotations

import resource
import subprocess
import sys
from pathlib import Path

from traintriage.probe import warm

# How long the first plain run waits for a template that is still importing torch (seconds, wall): a loaded
# 2-core machine takes up to a minute; past this the run goes cold and the next one finds the template ready.
TEMPLATE_WAIT_S = 300.0


def children_cpu_s() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def plain_run(script: str, cwd: str | Path, env: dict[str, str], tmp_path: Path,
              timeout: float) -> tuple[int, str, str, float]:
    """(exit code, stdout, stderr, CPU seconds of the script) of `python script` in cwd."""
    out, err = tmp_path / f"{Path(script).name}.out", tmp_path / f"{Path(script).name}.err"
    t = warm.warm_up(env)
    if t is not None and t.ready.wait(TEMPLATE_WAIT_S) and not t.dead:
        res = warm.run_plain([script], cwd=str(cwd), env=env, stdout=str(out), stderr=str(err), timeout=timeout)
        if res is not None:
            return res[0], out.read_text(), err.read_text(), res[1] or 0.0
    cpu0 = children_cpu_s()
    proc = subprocess.run([sys.executable, script], cwd=str(cwd), capture_output=True, text=True, timeout=timeout,
                          env=env)
    return proc.returncode, proc.stdout, proc.stderr, children_cpu_s() - cpu0

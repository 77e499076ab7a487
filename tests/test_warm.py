"""Warm probes (issue 15, item 1): forked from a template that imported torch once, they behave as cold probes.

The whole suite runs its probes warm (tests/conftest.py), so the hostile-script, crash, hang and cancel tests
prove the warm path in their own modules, and tests/test_cold.py runs them again on the cold command line. This
file: what only a warm start could get wrong (fresh per-process state, the environment, the template itself
staying clean); its last test checks that every probe here really forked from the template.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pytest
from traintriage.probe import runner, warm
from traintriage.probe.runner import run_child, run_probe

# one xdist worker runs the whole module in order: its last test counts the starts of that process
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("warm")]
_COLD_BEFORE: dict[str, int] = {}


@pytest.fixture(autouse=True, scope="module")
def warm_probes():
    """Warm probes on for this module: one template, started by the first probe, closed at the end."""
    _COLD_BEFORE["cold"] = runner.STARTS["cold"]
    warm.enable()
    yield
    warm.disable()


@pytest.fixture(autouse=True)
def template_ready(warm_probes):
    """A probe never waits for the template (it starts cold while the template imports): have it ready first."""
    _ready()


def _ready() -> warm.Template:
    t = runner.warm_up()
    assert t is not None and t.ready.wait(300) and not t.dead, "the warm template did not start"
    return t


LOOP = """\
m = torch.nn.Linear(2, 1)
opt = torch.optim.SGD(m.parameters(), lr=0.1)
for _ in range(3):
    opt.zero_grad(); m(torch.ones(4, 2)).pow(2).mean().backward(); opt.step()
"""
STATE = """\
import os, random, sys, tempfile
import numpy, torch
print('STATE|' + '|'.join(map(str, [os.getcwd(), sys.argv[1:], sys.path[0] == os.path.dirname(os.path.abspath(__file__)),
      tempfile.gettempdir() == os.environ['TMPDIR'], torch.get_num_threads(), os.environ.get('TORCH_WARM_TEST_MARK'),
      random.random(), float(numpy.random.rand()), torch.initial_seed()])), flush=True)
""" + LOOP


def _state(tmp_path: Path, *args: str) -> list[str]:
    script = tmp_path / "train.py"
    script.write_text(STATE)
    raw = run_child(script, steps=3, timeout=120, args=args, cwd=tmp_path)
    line = next(x for x in raw["stdout_tail"].splitlines() if x.startswith("STATE|"))
    return line.split("|")[1:]


def test_a_warm_child_starts_with_a_fresh_process_state(tmp_path: Path, monkeypatch) -> None:
    """cwd, argv, sys.path, TMPDIR, the environment of this call, thread count from OMP_NUM_THREADS, fresh random
    seeds (Python's, numpy's and torch's default generator differ between two probes, as in fresh processes)."""
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    a = _state(tmp_path, "--x", "1")
    b = _state(tmp_path)
    cwd, argv, path0, tmpdir, threads, mark, rnd, nrnd, seed = a
    assert cwd == str(tmp_path) and argv == "['--x', '1']", a
    assert (path0, tmpdir, threads, mark) == ("True", "True", "1", "None"), a
    assert (rnd, nrnd, seed) != tuple(b[6:9]) and rnd != b[6] and nrnd != b[7] and seed != b[8], \
        "two warm probes drew the same random numbers"
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    assert _state(tmp_path)[4] == "2", "the child's OMP_NUM_THREADS sets its intra-op threads"


def test_a_changed_environment_starts_a_new_template(tmp_path: Path, monkeypatch) -> None:
    """Modules imported in the template read their environment at its start: another environment, another template
    (and the child sees the new value)."""
    _state(tmp_path)
    first = warm.current()
    monkeypatch.setenv("TORCH_WARM_TEST_MARK", "changed")
    second = _ready()
    assert _state(tmp_path)[5] == "changed" and warm.current() is second
    assert first is not None and second is not None and second is not first
    assert second.info["pid"] != first.info["pid"]
    assert not first.dead, "the first template stays cached for its environment (MAX_TEMPLATES)"


def test_the_template_stays_clean(tmp_path: Path) -> None:
    """A probe that patches torch and the builtins changes only its own process: the next one sees neither."""
    dirty = tmp_path / "dirty.py"
    dirty.write_text("import builtins, torch\ntorch.DIRTY = 1\nbuiltins.DIRTY = 1\n" + LOOP)
    run_probe(dirty, steps=3, timeout=120)
    check = tmp_path / "check.py"
    check.write_text("import builtins, torch\nprint('DIRTY', hasattr(torch, 'DIRTY'), hasattr(builtins, 'DIRTY'))\n")
    rep = run_probe(check, steps=3, timeout=120)
    assert "DIRTY False False" in rep.stdout_tail


def test_a_dead_template_falls_back_to_a_cold_probe_and_is_replaced(tmp_path: Path) -> None:
    """The template killed from outside: the next probe starts cold and works; a new template is started."""
    dead = _ready()
    os.kill(dead.info["pid"], signal.SIGKILL)
    deadline = time.monotonic() + 30
    while not dead.dead and time.monotonic() < deadline:
        time.sleep(0.05)
    cold = runner.STARTS["cold"]
    rep = run_probe(_write(tmp_path), steps=3, timeout=120)
    assert rep.verdict in ("healthy", "broken") and runner.STARTS["cold"] == cold + 1, rep.notes
    _COLD_BEFORE["cold"] += 1  # the one cold start this test caused on purpose
    assert _ready() is not dead


def _write(tmp_path: Path) -> Path:
    p = tmp_path / "train.py"
    p.write_text("import torch\n" + LOOP)
    return p


def test_a_plain_run_forked_from_the_template_reports_as_python_would(tmp_path: Path) -> None:
    """warm.run_plain (the eval scripts' plain-run check): exit codes, output, a crash's traceback, CPU seconds."""
    env = dict(os.environ, OMP_NUM_THREADS="1")
    t = warm.warm_up(env)
    assert t is not None and t.ready.wait(300)
    cases = {"ok.py": ("import torch\nprint('sum', torch.ones(3).sum().item())\n", 0, "sum 3.0", ""),
             "exit.py": ("import sys\nprint('bye')\nsys.exit(3)\n", 3, "bye", ""),
             "crash.py": ("import torch\nraise ValueError('user bug')\n", 1, "", "ValueError: user bug")}
    for name, (src, code, out, err) in cases.items():
        (tmp_path / name).write_text(src)
        o, e = tmp_path / f"{name}.out", tmp_path / f"{name}.err"
        res = warm.run_plain([name], cwd=str(tmp_path), env=env, stdout=str(o), stderr=str(e), timeout=120)
        assert res is not None and res[0] == code, (name, res, e.read_text())
        assert out in o.read_text() and err in e.read_text(), (name, o.read_text(), e.read_text())
        assert res[1] is not None and 0 < res[1] < 30


def test_a_probe_started_while_another_runs_gets_one_thread(tmp_path: Path, monkeypatch) -> None:
    """Item 2: the first probe keeps torch's default threads; one started while it runs gets one thread."""
    for k in runner.THREAD_ENV:
        monkeypatch.delenv(k, raising=False)
    _ready()
    gate = tmp_path / "gate"
    show = "import os, time, torch\nprint('THREADS', os.environ.get('OMP_NUM_THREADS'), torch.get_num_threads())\n"
    (tmp_path / "first.py").write_text(show + f"while not os.path.exists({str(gate)!r}):\n    time.sleep(0.05)\n")
    (tmp_path / "second.py").write_text(show)
    out: dict[str, str] = {}
    first = threading.Thread(target=lambda: out.setdefault("first", run_child(tmp_path / "first.py", steps=1,
                                                                              timeout=120)["stdout_tail"]))
    first.start()
    try:
        deadline = time.monotonic() + 60
        while runner._in_flight < 1 and time.monotonic() < deadline:
            time.sleep(0.02)
        out["second"] = run_child(tmp_path / "second.py", steps=1, timeout=120)["stdout_tail"]
    finally:
        gate.touch()
        first.join(120)
    assert "THREADS None " in out["first"], out  # torch's default count: the cores it sees
    assert "THREADS 1 1" in out["second"], out


def test_every_probe_in_this_module_was_warm() -> None:
    """Last in the module: no probe above fell back to the cold command line (but the one that had to)."""
    assert runner.STARTS["warm"] > 0
    assert runner.STARTS["cold"] == _COLD_BEFORE["cold"], "a probe started cold while warm probes were on"

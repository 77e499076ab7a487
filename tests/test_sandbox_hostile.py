"""Hostile scripts through the real probe (issue 14): each one tries one way to change the user's folder, escape
the probe, exhaust memory, reach the network or lie about how it ended.

Every test runs a tiny script in a real child through `run_probe` and asserts three things: the user's folder
is byte-identical afterwards (names, contents, modes), nothing the script started is still running (a marker
`sleep` argument is looked for in /proc), and the verdict says what happened. The report names the layer that
ran (`sandbox: kernel|namespace|python`); where this kernel lacks one, the test says so instead of passing.
"""

from __future__ import annotations

import os
import random
import socket
import stat
import time
from pathlib import Path

import pytest
from traintriage.probe.runner import probe_with_records, run_probe
from traintriage.probe.sandbox import landlock_abi

pytestmark = pytest.mark.slow

# A training loop that learns in a few steps; `train(stop=(i, fn))` calls fn before step i.
PRE = """\
import os, shutil, subprocess, sys, pathlib, signal, socket
import torch
U = os.path.dirname(os.path.abspath(__file__))
D = os.path.join(U, "data.txt")
torch.manual_seed(0)
m = torch.nn.Linear(4, 1)
opt = torch.optim.SGD(m.parameters(), lr=0.1)
x = torch.randn(16, 4); y = x.sum(1, keepdim=True)
def train(n=40, stop=None):
    for i in range(n):
        if stop is not None and i == stop[0]:
            stop[1]()
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(m(x), y)
        loss.backward()
        opt.step()
"""
STEPS = 8


def _userns_ok() -> bool:
    return os.system("unshare -Urmn true >/dev/null 2>&1") == 0


@pytest.fixture
def user(tmp_path: Path) -> Path:
    u = tmp_path / "user"
    (u / "sub").mkdir(parents=True)
    (u / "data.txt").write_text("precious\n")
    (u / "sub" / "nested.txt").write_text("also precious\n")
    (u / "secret.txt").write_text("mode 640\n")
    os.chmod(u / "secret.txt", 0o640)
    return u


def _snapshot(root: Path) -> dict[str, tuple]:
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for n in dirnames + filenames:
            p = Path(dirpath) / n
            st = os.lstat(p)
            body = p.read_bytes() if stat.S_ISREG(st.st_mode) else os.readlink(p) if stat.S_ISLNK(st.st_mode) else None
            out[str(p.relative_to(root))] = (stat.S_IMODE(st.st_mode), stat.S_IFMT(st.st_mode), body)
    return out


def _marker() -> str:
    return f"{random.randint(4000, 9000)}.{random.randint(100000, 999999)}"  # a unique `sleep` argument


def _alive(marker: str) -> list[int]:
    pids = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                cmd = Path(f"/proc/{d}/cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if marker.encode() in cmd:
                pids.append(int(d))
    return pids


def _probe(user: Path, body: str, **kw):
    script = user / "train.py"
    script.write_text(PRE + body)
    before = _snapshot(user)
    rep = run_probe(script, steps=STEPS, timeout=90, **kw)
    assert _snapshot(user) == before, "the probe changed the user's folder"
    assert rep.metrics.get("sandbox") == "kernel", f"expected the kernel layer here: {rep.notes[-1]}"
    return rep


def _crash_note(rep) -> str:
    return next((n for n in rep.notes if n.startswith("crashed at")), "")


# act -> (script body, what the crash note must name)
WRITE_ACTS = {
    "os.remove": ("os.remove(D)\ntrain()\n", "data.txt"),
    "os.truncate": ("os.truncate(D, 0)\ntrain()\n", "data.txt"),
    "shutil.rmtree": ("shutil.rmtree(os.path.join(U, 'sub'))\ntrain()\n", "nested.txt"),
    "os.rename": ("os.rename(D, D + '.bak')\ntrain()\n", "data.txt"),
    "os.chmod": ("os.chmod(os.path.join(U, 'secret.txt'), 0o777)\ntrain()\n", "secret.txt"),
    "os.open": ("fd = os.open(D, os.O_WRONLY | os.O_TRUNC)\nos.write(fd, b'x')\ntrain()\n", "data.txt"),
    "Path.touch": ("pathlib.Path(U, 'new.txt').touch()\ntrain()\n", "new.txt"),
    "os.symlink": ("os.symlink('/etc/passwd', os.path.join(U, 'link'))\ntrain()\n", "link"),
    "os.link": ("os.link(D, os.path.join(U, 'hard'))\ntrain()\n", "hard"),
    "os.mkfifo": ("os.mkfifo(os.path.join(U, 'fifo'))\ntrain()\n", "fifo"),
}


@pytest.mark.parametrize("act", list(WRITE_ACTS))
def test_write_outside_fails_in_the_script_and_never_reaches_disk(user: Path, act: str) -> None:
    body, names = WRITE_ACTS[act]
    rep = _probe(user, body)
    assert rep.verdict == "crashed", (act, rep.verdict, rep.notes)
    note = _crash_note(rep)
    assert names in note and any(w in note for w in ("Read-only file system", "Permission denied",
                                                     "Operation not permitted")), note


def test_shell_writes_fail_and_the_script_goes_on(user: Path) -> None:
    rep = _probe(user, "r = subprocess.run('echo pwned > data.txt; rm -f sub/nested.txt; chmod 777 secret.txt; "
                       "touch new.txt', shell=True, cwd=U, capture_output=True, text=True)\n"
                       "print('shell rc', r.returncode, r.stderr)\ntrain()\n")
    assert rep.verdict == "healthy", rep.notes
    assert "Read-only file system" in rep.stdout_tail


def test_ordinary_writes_succeed_and_read_back(user: Path) -> None:
    """The redirect on top: checkpoints, configs, log folders are written into the probe's folder and the
    script sees them at the path it wrote (issue 12: a config writer checks its log folder exists)."""
    rep = _probe(user, """\
logs = os.path.join(U, 'lightning_logs', 'version_0')
os.makedirs(logs)
assert os.path.isdir(logs) and os.path.exists(logs) and pathlib.Path(logs).exists()
with open(os.path.join(logs, 'config.yaml'), 'w') as f:
    f.write('lr: 0.1\\n')
assert os.path.isfile(os.path.join(logs, 'config.yaml')) and os.stat(os.path.join(logs, 'config.yaml')).st_size == 8
assert os.listdir(logs) == ['config.yaml'], os.listdir(logs)
assert [e.name for e in os.scandir(logs)] == ['config.yaml']
with open(os.path.join(logs, 'config.yaml')) as f:
    assert f.read() == 'lr: 0.1\\n'
with open(D, 'a') as f:
    f.write('appended\\n')
assert open(D).read() == 'precious\\nappended\\n'
train(3)
torch.save(m.state_dict(), os.path.join(U, 'ck.pt'))
m.load_state_dict(torch.load(os.path.join(U, 'ck.pt')))
print('all read back')
train()  # the probe stops the script after its steps: what comes after this line never runs
""")
    assert rep.verdict == "healthy", (rep.notes, rep.stderr_tail)
    assert "all read back" in rep.stdout_tail


SPAWNERS = {
    "start_new_session": "p = subprocess.Popen(['sleep', MARK], start_new_session=True)\n",
    "double-fork daemon": """\
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        os.execv('/bin/sleep', ['sleep', MARK])
    os._exit(0)
os.wait()
""",
}


@pytest.mark.parametrize("how", list(SPAWNERS))
def test_no_descendant_survives_the_probe(user: Path, how: str) -> None:
    mark = _marker()
    rep = _probe(user, f"MARK = {mark!r}\n" + SPAWNERS[how] + """\
import time
for _ in range(100):  # wait until the spawned process runs, and say so
    if any(MARK.encode() in pathlib.Path('/proc', d, 'cmdline').read_bytes() for d in os.listdir('/proc')
           if d.isdigit() and os.path.exists(f'/proc/{d}/cmdline')):
        print('spawned and alive')
        break
    time.sleep(0.02)
train()
""")
    assert "spawned and alive" in rep.stdout_tail
    assert rep.verdict == "healthy", rep.notes
    time.sleep(0.2)
    assert _alive(mark) == [], f"{how}: a process outlived the probe"


def test_memory_hog_is_crashed_at_the_cap(user: Path) -> None:
    rep = _probe(user, "train(5)\nbig = torch.ones(2**29, dtype=torch.float64)  # 4 GiB\ntrain()\n",
                 max_memory=2**30)
    assert rep.verdict == "crashed", rep.notes
    note = _crash_note(rep)
    assert "out of memory at 1 GiB" in note and "train.py:" in note, note
    assert "memory cap 1 GiB" in rep.notes[-1]


def test_network_only_its_own_loopback(user: Path) -> None:
    host = socket.socket()
    host.bind(("127.0.0.1", 0))
    host.listen()
    host.setblocking(False)
    port = host.getsockname()[1]
    try:
        rep = _probe(user, f"""\
srv = socket.socket(); srv.bind(('127.0.0.1', 0)); srv.listen()
socket.create_connection(srv.getsockname(), timeout=2).close()
print('own loopback ok')
for h, p in (('127.0.0.1', {port}), ('10.255.255.1', 80), ('1.1.1.1', 443)):
    try:
        socket.create_connection((h, p), timeout=2)
        print('reached', h)
    except OSError as e:
        print('refused', h, e.errno)
train()
""")
        with pytest.raises(BlockingIOError):
            host.accept()  # the host's listener saw no connection
    finally:
        host.close()
    assert rep.verdict == "healthy", rep.notes
    assert "own loopback ok" in rep.stdout_tail and "reached" not in rep.stdout_tail, rep.stdout_tail
    assert rep.stdout_tail.count("refused") == 3


@pytest.mark.parametrize(("how", "says"), [("os._exit(0)", "exited with code 0"),
                                           ("os.kill(os.getpid(), signal.SIGKILL)", "killed by signal SIGKILL")])
def test_a_child_that_dies_mid_run_is_crashed(user: Path, how: str, says: str) -> None:
    rep = _probe(user, f"train(stop=(5, lambda: {how}))\n")
    assert rep.verdict == "crashed", rep.notes
    note = _crash_note(rep)
    assert says in note and "last optimizer step seen: 5" in note, note


NO_STEP = """\
for i in range(30):
    opt.zero_grad()
    loss = torch.nn.functional.mse_loss(m(x), y)
    loss.backward()
"""


def test_a_loop_that_never_steps_is_a_finding(user: Path) -> None:
    rep = _probe(user, NO_STEP)
    assert rep.verdict == "broken", rep.notes
    f = next(f for f in rep.findings if f.id == "step-order")
    assert "never called" in f.message


def test_a_working_manual_update_loop_is_not_flagged(user: Path) -> None:
    """The healthy look-alike: no optimizer.step(), but a hand-written update that learns."""
    rep = _probe(user, NO_STEP.replace("loss.backward()\n", """loss.backward()
    with torch.no_grad():
        for p in m.parameters():
            p -= 0.1 * p.grad
"""))
    assert not any("never called" in f.message for f in rep.findings), rep.findings
    assert rep.verdict == "healthy", rep.notes


def test_the_fix_steps_and_is_healthy(user: Path) -> None:
    rep = _probe(user, NO_STEP.replace("loss.backward()\n", "loss.backward()\n    opt.step()\n"))
    assert rep.verdict == "healthy", rep.notes


@pytest.mark.parametrize(("extra", "layer"), [({"no_namespace": True}, "kernel"), ({"no_landlock": True}, "namespace"),
                                              ({"no_namespace": True, "no_landlock": True}, "python")])
def test_each_layer_alone(user: Path, extra: dict, layer: str) -> None:
    """Each fallback layer on its own: which one ran is in the report; what it still refuses is asserted."""
    if layer != "python" and not (landlock_abi() if extra.get("no_namespace") else _userns_ok()):
        pytest.skip(f"this kernel lacks the {layer} layer")
    script = user / "train.py"
    mark = _marker()
    script.write_text(PRE + f"MARK = {mark!r}\n" + SPAWNERS["start_new_session"] + """\
try:
    os.remove(D)
except OSError as e:
    print('remove refused', e.errno)
train()
""")
    before = _snapshot(user)
    rep, _ = probe_with_records(script, steps=STEPS, timeout=90, extra=extra)
    assert rep.metrics["sandbox"] == layer and rep.notes[-1].startswith(f"sandbox: {layer}"), rep.notes
    time.sleep(0.2)
    assert _alive(mark) == [], "the subreaper / PID namespace left a process behind"
    if layer == "python":  # only open()-style writes are redirected: os.remove is not refused
        assert "remove refused" not in rep.stdout_tail
        return
    assert "remove refused" in rep.stdout_tail and rep.verdict == "healthy", rep.notes
    assert _snapshot(user) == before

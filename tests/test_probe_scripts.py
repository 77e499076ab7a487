"""The probe end to end: real child processes over real scripts, each seeded bug against its fixed twin."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from traintriage.probe import run_probe

HERE = Path(__file__).parent / "probe_scripts"
STEPS = 20

pytestmark = pytest.mark.slow

CLASSIFY_BUGS = [
    "double-softmax", "nll-without-log-softmax", "ce-target-form", "step-order", "missing-zero-grad",
    "wrong-train-eval-mode", "params-not-in-optimizer", "loss-detached", "no-trainable-params", "lr-too-high",
    "lr-too-low", "adam-coupled-weight-decay", "decay-on-norm-and-bias", "scheduler-misuse",
    "grad-accum-not-scaled", "stale-batch", "unnormalized-inputs", "dead-relu", "bad-init", "label-leakage",
    "non-finite-loss", "saturated-activations", "vanishing-gradients",
]
OTHER_BUGS = [
    ("binary.py", "sigmoid-bceloss"), ("regress.py", "wrong-loss-formula"), ("regress.py", "unnormalized-targets"),
    ("tokens.py", "padding-in-loss"), ("finetune.py", "frozen-bn-stats-drift"),
    ("finetune.py", "frozen-param-in-optimizer"), ("finetune.py", "state-dict-shape-mismatch"),
]


def _no_error(rep):
    return [f.id for f in rep.findings if f.severity == "error"]


@pytest.mark.parametrize("bug", CLASSIFY_BUGS)
def test_classify_bug_is_named_first(bug):
    rep = run_probe(HERE / "classify.py", steps=STEPS, args=["--bug", bug])
    assert rep.top_ids(1) == [bug], (rep.verdict, [(f.id, f.severity, f.confidence) for f in rep.findings], rep.notes)
    assert rep.findings[0].evidence


@pytest.mark.parametrize("script,bug", OTHER_BUGS)
def test_other_bug_is_named_first(script, bug):
    rep = run_probe(HERE / script, steps=STEPS, args=[bug])
    assert rep.top_ids(1) == [bug], (rep.verdict, [(f.id, f.severity, f.confidence) for f in rep.findings], rep.notes)


@pytest.mark.parametrize(("mode", "named"), [("unmasked", True), ("", False), ("bucketed", False)])
def test_prompt_mask_never_applied(mode, named):
    """minGPT-style sort (our own script): ignore_index=-1 passed but no label ever -1 is padding-in-loss (a
    warning); the fix and a look-alike whose first batches have nothing to mask are not."""
    rep = run_probe(HERE / "prompt_mask.py", steps=STEPS, args=[mode] if mode else [])
    assert ("padding-in-loss" in rep.top_ids(3, min_severity="warning")) is named, \
        [(f.id, f.severity, f.message) for f in rep.findings]
    assert _no_error(rep) == []


def test_exploding_gradients_in_top3():
    rep = run_probe(HERE / "classify.py", steps=STEPS, args=["--bug", "exploding-gradients"])
    assert "exploding-gradients" in rep.top_ids(3)


@pytest.mark.parametrize("script,args", [("classify.py", []), ("binary.py", []), ("regress.py", []),
                                         ("tokens.py", []), ("finetune.py", [])])
def test_fixed_twins_have_no_error(script, args):
    rep = run_probe(HERE / script, steps=STEPS, args=args)
    assert rep.verdict == "healthy", (rep.verdict, _no_error(rep), rep.notes, rep.stderr_tail[-500:])
    assert _no_error(rep) == []


def test_healthy_report_contents_and_progress():
    seen = []
    rep = run_probe(HERE / "classify.py", steps=STEPS, on_progress=lambda d, t, m: seen.append((d, t, m)))
    assert rep.tool == "probe" and rep.verdict == "healthy"
    # phase lines first (done=0: starting, first forward pass; tests/test_progress.py), then one line per step
    assert [d for d, _, _ in seen if d] == list(range(1, STEPS + 1)) and seen[-1][1] == STEPS
    assert seen[0][0] == 0 and "starting the script" in seen[0][2]
    m = rep.metrics
    assert len(m["loss"]) <= 20 and m["overfit"]["passed"] is True
    assert m["overfit"]["chance_expr"] == "ln(5)"
    for key in ("grad_norm", "update_norm", "param_norm", "rel_update", "lr", "effective_lr_ratio",
                "module_grad_norm_first"):
        assert m[key], key
    assert m["lr"][0][0] == pytest.approx(1e-2)
    assert any("overfit-one-batch passed" in n for n in rep.notes)


def test_dataloader_workers_work():
    rep = run_probe(HERE / "classify.py", steps=10, args=["--workers", "2"])
    assert rep.verdict == "healthy", (rep.notes, rep.stderr_tail[-800:])


def test_observe_mode_does_not_pin():
    rep = run_probe(HERE / "classify.py", steps=10, mode="observe", args=["--bug", "double-softmax"])
    assert rep.top_ids(1) == ["double-softmax"]
    assert not any("could not be pinned" in n for n in rep.notes)


def test_unpinned_script_says_so():
    rep = run_probe(HERE / "binary.py", steps=10)
    assert any("could not be pinned" in n for n in rep.notes)


def _tree_digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_user_tree_is_byte_identical(tmp_path):
    """torch.save, open(..., 'w'), os.makedirs, TensorBoard and sibling imports must leave no trace."""
    proj = tmp_path / "proj"
    proj.mkdir()
    (proj / "helper.py").write_text("def scale(x):\n    return x\n")
    (proj / "log.txt").write_text("old log\n")
    (proj / "train.py").write_text(
        "import os, torch, torch.nn as nn\n"
        "from helper import scale\n"
        "from torch.utils.tensorboard import SummaryWriter\n"
        "os.makedirs('ckpt', exist_ok=True)\n"
        "w = SummaryWriter('runs/exp')\n"
        "m = nn.Linear(4, 2); opt = torch.optim.SGD(m.parameters(), lr=0.1)\n"
        "x = torch.randn(16, 4); y = torch.randint(0, 2, (16,))\n"
        "for i in range(100):\n"
        "    loss = nn.functional.cross_entropy(m(scale(x)), y)\n"
        "    opt.zero_grad(); loss.backward(); opt.step()\n"
        "    w.add_scalar('loss', loss.item(), i)\n"
        "    torch.save(m.state_dict(), 'ckpt/last.pt')\n"
        "    with open('log.txt', 'a') as f: f.write(f'{i} {loss.item()}\\n')\n"
        "    assert torch.load('ckpt/last.pt')['weight'].shape == (2, 4)\n"
    )
    before = _tree_digest(proj)
    rep = run_probe(proj / "train.py", steps=10)
    assert rep.verdict in ("healthy", "broken"), (rep.verdict, rep.notes, rep.stderr_tail[-1500:])
    assert len(rep.metrics["loss"]) == 10
    assert _tree_digest(proj) == before
    assert not (proj / "__pycache__").exists()


def test_crash_is_reported_with_id(tmp_path):
    s = tmp_path / "t.py"
    s.write_text("import torch\nx = torch.randn(8, 3, requires_grad=True)\ny = torch.tensor([0, 1, 2, 3, 4, 5, 6, 7])\n"
                 "torch.nn.functional.cross_entropy(x, y).backward()\n")
    rep = run_probe(s, steps=5)
    assert rep.verdict == "crashed"
    assert rep.findings[0].id == "ce-target-form" and rep.findings[0].where == "t.py:4"
    assert "IndexError" in rep.stderr_tail or "out of bounds" in " ".join(rep.notes)


def test_sys_exit_is_handled(tmp_path):
    s = tmp_path / "t.py"
    s.write_text("import sys\nprint('bye')\nsys.exit(3)\n")
    rep = run_probe(s, steps=5)
    assert rep.verdict == "inconclusive"
    assert any("sys.exit(3)" in n for n in rep.notes) and "bye" in rep.stdout_tail


def test_except_exception_cannot_swallow_the_stop(tmp_path):
    s = tmp_path / "t.py"
    s.write_text("import torch\nm = torch.nn.Linear(3, 1); o = torch.optim.SGD(m.parameters(), lr=0.1)\n"
                 "x = torch.randn(16, 3); y = x.sum(1, keepdim=True)\n"
                 "for i in range(10**6):\n"
                 "    try:\n"
                 "        o.zero_grad(); torch.nn.functional.mse_loss(m(x), y).backward(); o.step()\n"
                 "    except Exception:\n"
                 "        pass\n")
    t = time.perf_counter()
    rep = run_probe(s, steps=8, timeout=60)
    assert rep.verdict == "healthy" and len(rep.metrics["loss"]) == 8
    assert time.perf_counter() - t < 30


def test_hang_times_out_with_partial_evidence(tmp_path):
    s = tmp_path / "t.py"
    s.write_text("import time, torch\nm = torch.nn.Linear(3, 2); o = torch.optim.SGD(m.parameters(), lr=0.1)\n"
                 "x = torch.randn(16, 3); y = torch.randint(0, 2, (16,))\n"
                 "for i in range(3):\n"
                 "    o.zero_grad(); torch.nn.functional.cross_entropy(torch.softmax(m(x), 1), y).backward(); o.step()\n"
                 "time.sleep(600)\n")
    t = time.perf_counter()
    rep = run_probe(s, steps=10, timeout=20)
    assert time.perf_counter() - t < 40
    assert rep.verdict == "timeout"
    assert rep.top_ids(1) == ["double-softmax"]  # measured before the hang


def test_cancel_kills_the_child(tmp_path):
    s = tmp_path / "t.py"
    # /proc/self: the pid outside the probe's PID namespace
    s.write_text("import os, time\nprint('PID', os.readlink('/proc/self'), flush=True)\ntime.sleep(600)\n")
    ev = threading.Event()
    threading.Timer(10.0, ev.set).start()
    t = time.perf_counter()
    rep = run_probe(s, steps=5, timeout=60, cancel=ev)
    assert time.perf_counter() - t < 25
    assert rep.verdict == "inconclusive" and any("cancel" in n for n in rep.notes)
    pid = int(rep.stdout_tail.split("PID")[1].split()[0])
    time.sleep(0.2)
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_probe_state_records_custom_terms(tmp_path):
    s = tmp_path / "t.py"
    s.write_text("import torch, traintriage\nimport traintriage.probe.state as st\n"
                 "m = torch.nn.Linear(3, 1); o = torch.optim.SGD(m.parameters(), lr=0.1)\n"
                 "x = torch.randn(16, 3)\n"
                 "for i in range(20):\n"
                 "    out = m(x)\n"
                 "    loss = traintriage.term('recon', (out - 1).pow(2).mean()) + traintriage.term('l1', out.abs().mean())\n"
                 "    names = [t['name'] for t in st.current_terms()]\n"
                 "    assert names == ['recon', 'l1'] and st.current_terms()[0]['tensor'].requires_grad, names\n"
                 "    o.zero_grad(); loss.backward(); o.step()\n")
    rep = run_probe(s, steps=5)
    assert rep.verdict in ("healthy", "broken"), (rep.notes, rep.stderr_tail[-800:])


def test_cli_probe_json_and_exit_codes(tmp_path):
    exe = [sys.executable, "-m", "traintriage.cli"] if not shutil.which("traintriage") else ["traintriage"]
    r = subprocess.run([*exe, "probe", str(HERE / "classify.py"), "--steps", "10", "--json", "--", "--bug",
                        "double-softmax"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 1, r.stderr
    out = json.loads(r.stdout)
    assert out["findings"][0]["id"] == "double-softmax" and out["tool"] == "probe"
    r = subprocess.run([*exe, "triage", str(tmp_path / "missing.py"), "--json"], capture_output=True, text=True)
    assert r.returncode == 2 and "script not found" in json.loads(r.stdout)["error"]["message"]
    r = subprocess.run([*exe, "probe", str(HERE / "classify.py"), "--steps", "8", "--observe"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and "verdict: healthy" in r.stdout, r.stdout + r.stderr

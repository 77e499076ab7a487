"""probe/overrides.py: --lr-scale and --optimizer-impl act on the user's optimizer at run time, script unedited.

Unit tests call the pure helpers on real torch optimizers; the end-to-end tests run the real CLI in a
subprocess on an eval case (lr-too-high-adam: Adam at lr=2.0; its fix is lr=1e-3).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from traintriage.probe import overrides

ROOT = Path(__file__).resolve().parents[1]
CASES = ROOT / "evals" / "cases"
ENV = {**os.environ, "PYTHONPATH": str(ROOT / "tools"), "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def _opt(**kw):
    m = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.Linear(4, 2))
    return torch.optim.Adam([{"params": m[0].parameters()}, {"params": m[1].parameters(), "lr": 0.5}], lr=0.2, **kw)


def test_scale_lr_scales_every_group_once_and_a_later_scheduler_keeps_it():
    opt = _opt()
    overrides.apply(opt, {"lr_scale": 0.1})  # in the child: as the constructor returns
    overrides.apply(opt, {"lr_scale": 0.1})  # a second sighting changes nothing
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: 1.0)  # rebuilds lr from its base_lrs each step
    assert [g["lr"] for g in opt.param_groups] == pytest.approx([0.02, 0.05])
    opt.step()  # no grads: a no-op, but it keeps the scheduler's order check quiet
    sched.step()
    assert [g["lr"] for g in opt.param_groups] == pytest.approx([0.02, 0.05])  # the schedule keeps the scale


def test_plain_impl_turns_foreach_and_fused_off():
    opt = _opt(foreach=True)
    overrides.apply(opt, {"optimizer_impl": "plain"})
    assert all(g["foreach"] is False and g["fused"] is False for g in opt.param_groups)
    assert opt.defaults["foreach"] is False


def test_no_overrides_leaves_optimizer_alone():
    opt = _opt(foreach=True)
    overrides.apply(opt, overrides.child_config(None, "as-is"))
    assert [g["lr"] for g in opt.param_groups] == [0.2, 0.5] and opt.param_groups[0]["foreach"] is True


def test_child_config_rejects_bad_values():
    with pytest.raises(ValueError):
        overrides.child_config(0.0, None)
    with pytest.raises(ValueError):
        overrides.child_config(None, "fast")
    assert overrides.child_config(1.0, "as-is") == {}


SHOW = textwrap.dedent("""
    import torch
    m = torch.nn.Linear(3, 1)
    opt = torch.optim.AdamW(m.parameters(), lr=0.3, foreach=True)
    for _ in range(3):
        opt.zero_grad(); m(torch.randn(8, 3)).pow(2).mean().backward(); opt.step()
    g = opt.param_groups[0]
    print(f"lr={g['lr']:.4g} foreach={g['foreach']} fused={g['fused']}")
""")


@pytest.mark.slow
def test_cli_flags_reach_the_childs_optimizer(tmp_path):
    """The real CLI -> runner -> harness child: the script's own print shows the changed optimizer."""
    p = tmp_path / "show.py"
    p.write_text(SHOW)
    base = [sys.executable, "-m", "traintriage", "probe", str(p), "--observe", "--steps", "10", "--json"]
    plain = json.loads(subprocess.run(base, capture_output=True, text=True, env=ENV, timeout=120).stdout)
    assert "lr=0.3 foreach=True" in plain["stdout_tail"]
    r = subprocess.run(base + ["--lr-scale", "0.1", "--optimizer-impl", "plain"], capture_output=True, text=True,
                       env=ENV, timeout=120)
    rep = json.loads(r.stdout)
    assert "lr=0.03 foreach=False fused=False" in rep["stdout_tail"], rep["stdout_tail"]
    assert any("--lr-scale" in n for n in rep["notes"]) and any("--optimizer-impl" in n for n in rep["notes"])


@pytest.mark.slow
def test_lr_scale_turns_the_lr_too_high_case_healthy():
    """The decisive check for lr-too-high, run without editing the script: lr 2.0 x 0.0005 = the fix's 1e-3."""
    script = str(CASES / "lr-too-high-adam" / "train.py")
    cmd = [sys.executable, "-m", "traintriage", "probe", script, "--steps", "40", "--json"]
    broken = json.loads(subprocess.run(cmd, capture_output=True, text=True, env=ENV, timeout=300).stdout)
    assert [f["id"] for f in broken["findings"]][:1] == ["lr-too-high"]
    scaled = json.loads(subprocess.run(cmd + ["--lr-scale", "0.0005"], capture_output=True, text=True, env=ENV,
                                       timeout=300).stdout)
    errors = [f["id"] for f in scaled["findings"] if f["severity"] == "error"]
    assert "lr-too-high" not in [f["id"] for f in scaled["findings"]] and errors == [], scaled["findings"]
    assert scaled["verdict"] == "healthy"


def test_bad_lr_scale_is_a_usage_error(tmp_path):
    p = tmp_path / "s.py"
    p.write_text("print(1)\n")
    r = subprocess.run([sys.executable, "-m", "traintriage", "probe", str(p), "--lr-scale", "-1"],
                       capture_output=True, text=True, env=ENV, timeout=60)
    assert r.returncode == 2 and "--lr-scale" in r.stderr


@pytest.mark.slow
def test_mcp_probe_and_triage_take_the_overrides(tmp_path):
    """The same flags through a real MCP client: probe_script and triage_script accept lr_scale and
    optimizer_impl and the child's optimizer shows them."""
    import anyio
    from mcp import Client
    from traintriage.server import build_server

    p = tmp_path / "show.py"
    p.write_text(SHOW)
    server = build_server([tmp_path])

    async def go():
        async with Client(server) as c:
            args = {"script": str(p), "steps": 10, "timeout": 120, "lr_scale": 0.1, "optimizer_impl": "plain"}
            probe = await c.call_tool("probe_script", {**args, "mode": "observe"})
            triage = await c.call_tool("triage_script", args)
            bad = await c.call_tool("probe_script", {**args, "lr_scale": -1.0})
            return probe, triage, bad

    probe, triage, bad = anyio.run(go)
    for r in (probe, triage):
        assert not r.is_error, r.content
        assert "lr=0.03 foreach=False fused=False" in r.structured_content["stdout_tail"]
    assert bad.is_error

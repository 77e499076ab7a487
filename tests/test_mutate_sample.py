"""CI's mutant sample (evals/mutants_sample.txt, issue 12): each pair carries the evidence that its mutant learns
worse than its host and the hash of the verified mutant; the gate re-plants the bug, refuses a mutant that is
not the verified one, and triages only the rest (no plain runs)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from traintriage.mutate import OPERATORS, by_id, mutate_source
from traintriage.mutate.matrix import Cell, host_scripts
from traintriage.mutate.plainrun import higher_better, worse_beyond_noise
from traintriage.mutate.sample import SamplePair, mutant_sha, parse_sample, probe_sample, update_sample

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "evals" / "mutants_sample.txt"

HOST = textwrap.dedent("""\
    import torch
    torch.manual_seed(0)
    x = torch.randn(256, 4)
    y = (x[:, 0] > 0).long()
    model = torch.nn.Linear(4, 2)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    for step in range(150):
        loss = torch.nn.functional.cross_entropy(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    acc = (model(x).argmax(1) == y).float().mean().item()
    print(f"final loss {loss.item():.4f} acc {acc:.3f}")
    """)


def _host(tmp_path: Path) -> Path:
    d = tmp_path / "toy"
    d.mkdir()
    (d / "train.py").write_text(HOST, encoding="utf-8")
    (d / "case.yaml").write_text("expected: []\nfamily: healthy\nhealthy: true\n", encoding="utf-8")
    return d / "train.py"


def test_evidence_line_round_trips():
    p = SamplePair(host="toy/train.py", op="drop-zero-grad", sha256="0123456789abcdef", metric="acc",
                   host_seeds=[0.98, 0.97, 0.99], mutant=0.5, verified="2026-12-03", commit="3c67310")
    assert parse_sample("# comment\n" + p.line() + "\nunverified lr-x100 no host hurts\n") == \
        parse_sample(p.line() + "\nunverified lr-x100 no host hurts")
    s = parse_sample(p.line() + "\nunverified lr-x100 no host hurts")
    assert s.pairs == [p] and s.unverified == {"lr-x100": "no host hurts"}


def test_verified_pairs_are_merged_in_and_dropped_ones_leave(tmp_path: Path):
    host = _host(tmp_path)
    hosts = {"toy/train.py": host}
    text = "# header\ntoy/train.py drop-zero-grad\ntoy/train.py lr-x100\nother/train.py lr-x1e-4 sha256=ab\n" \
           "unverified step-before-backward none yet\n"
    cells = [Cell(host="toy/train.py", op="drop-zero-grad", status="scored", host_metric=[0.99, 0.98, 0.99],
                  mutant_metric=0.6, metric="acc"),
             Cell(host="toy/train.py", op="lr-x100", status="not-worse", reason="within the host's seed noise"),
             Cell(host="toy/train.py", op="step-before-backward", status="scored", host_metric=[0.99, 0.98, 0.99],
                  mutant_metric=0.5, metric="acc"),
             # verified by an older operator that no longer applies to the host: what it verified is gone
             Cell(host="toy/train.py", op="raw-targets", status="scored", host_metric=[0.99, 0.98, 0.99],
                  mutant_metric=0.5, metric="acc")]
    new, dropped = update_sample(text, cells, hosts, date="2026-12-03", commit="abc1234")
    s = parse_sample(new)
    assert [(p.host, p.op) for p in s.pairs] == [("toy/train.py", "drop-zero-grad"), ("other/train.py", "lr-x1e-4"),
                                                 ("toy/train.py", "step-before-backward")]
    dz = s.pairs[0]
    assert dz.sha256 == mutant_sha(mutate_source(HOST, by_id("drop-zero-grad")))
    assert dz.host_seeds == [0.99, 0.98, 0.99] and dz.mutant == 0.6 and dz.commit == "abc1234"
    assert s.unverified == {} and new.startswith("# header\n")
    assert sorted(c.op for c in dropped) == ["lr-x100", "raw-targets"]


def test_gate_refuses_a_mutant_that_is_not_the_verified_one(tmp_path: Path):
    """No triage runs here: a changed or never-verified pair is `changed`, fails the gate, and its operator
    counts as unsampled; so does every operator the sample leaves out."""
    host = _host(tmp_path)
    sample = parse_sample("toy/train.py drop-zero-grad sha256=0000000000000000 metric=acc host=1,1,1 mutant=0.5 "
                          "verified=2026-12-03 commit=x\ntoy/train.py lr-x100\nunverified lr-x1e-4 why\n")
    m = probe_sample(sample, {"toy/train.py": host})
    assert m.changed == 2 and m.scored == 0
    assert {c.op: c.status for c in m.cells} == {"drop-zero-grad": "changed", "lr-x100": "changed"}
    assert "mutant source changed" in next(c.reason for c in m.cells if c.op == "drop-zero-grad")
    assert "drop-zero-grad" in m.unsampled and "lr-x1e-4" not in m.unsampled
    assert set(m.unsampled) == {o.NAME for o in OPERATORS} - {"lr-x1e-4"}


def test_ci_sample_is_verified_and_unchanged():
    """The gate's cheap half, here too: every operator has a verified pair (or an `unverified` line with a
    reason), each pair's evidence shows the mutant worse than the host beyond its seed noise, and the bug
    re-planted today is byte for byte the verified mutant (else: re-verify, evals/README.md)."""
    hosts = {f"{h.parent.name}/{h.name}": h for h in host_scripts([ROOT / "evals" / "real", ROOT / "evals" / "cases"])}
    s = parse_sample(SAMPLE.read_text(encoding="utf-8"))
    assert {p.op for p in s.pairs} | set(s.unverified) == {o.NAME for o in OPERATORS}
    assert all(reason.strip() for reason in s.unverified.values())
    for p in s.pairs:
        assert p.host in hosts, p.host
        src = mutate_source(hosts[p.host].read_text(encoding="utf-8"), by_id(p.op))
        assert src is not None and mutant_sha(src) == p.sha256, (p.host, p.op)
        assert len(p.host_seeds) >= 2 and p.mutant is not None and p.verified and p.commit, p
        assert worse_beyond_noise(p.host_seeds, p.mutant, higher_better(p.metric)), p


@pytest.mark.slow
def test_gate_command_probes_a_verified_mutant(tmp_path: Path):
    """The CLI end to end on one real mutant: verify it (plain runs), write the sample, then the gate probes it."""
    _host(tmp_path)
    sample = tmp_path / "sample.txt"
    sample.write_text("toy/train.py lr-x1e-4\n", encoding="utf-8")
    cmd = [sys.executable, "-m", "traintriage", "mutants", "--hosts", str(tmp_path)]
    v = subprocess.run(cmd + ["--pairs", str(sample), "--write-sample", str(sample), "--no-host-triage", "--json"],
                       capture_output=True, text=True, timeout=600)
    assert v.returncode == 0, v.stderr[-2000:]
    p = parse_sample(sample.read_text(encoding="utf-8")).pairs
    assert len(p) == 1 and p[0].sha256 and p[0].mutant is not None
    g = subprocess.run(cmd + ["--probe-sample", str(sample), "--json"], capture_output=True, text=True, timeout=600)
    m = json.loads(g.stdout)
    assert [c["status"] for c in m["cells"]] == ["scored"] and m["hosts"] == []
    assert m["changed"] == 0 and len(m["unsampled"]) == len(OPERATORS) - 1 and g.returncode == 1

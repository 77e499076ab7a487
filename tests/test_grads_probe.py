"""traintriage grads: real subprocess runs of small scripts, checked against an in-process decompose."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
import yaml
from traintriage.gradients import decompose
from traintriage.probe.grads import UnknownTermError, grads_findings, grads_script, sample_steps

CASES = Path(__file__).resolve().parents[1] / "evals" / "cases"

# A two-term script whose first step can be rebuilt in-process exactly (same seed, same data, same model).
TWO_TERM = """
import torch
import torch.nn as nn
import torch.nn.functional as F

def build():
    torch.manual_seed(0)
    model = nn.ModuleDict({"trunk": nn.Linear(6, 8), "a": nn.Linear(8, 3), "b": nn.Linear(8, 1)})
    x = torch.randn(32, 6)
    y = torch.randint(0, 3, (32,))
    z = torch.randn(32, 1)
    return model, x, y, z

def terms(model, x, y, z):
    h = torch.tanh(model["trunk"](x))
    return F.cross_entropy(model["a"](h), y), F.mse_loss(model["b"](h), z)

if __name__ == "__main__":
    model, x, y, z = build()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    for _ in range(20):
        ce, mse = terms(model, x, y, z)
        loss = 0.7 * ce + 2.5 * mse
        opt.zero_grad()
        loss.backward()
        opt.step()
"""


def _write(tmp_path: Path, src: str, name: str = "train.py") -> Path:
    p = tmp_path / name
    p.write_text(textwrap.dedent(src))
    return p


def test_terms_captured_and_numbers_match_in_process(tmp_path: Path) -> None:
    script = _write(tmp_path, TWO_TERM)
    rep = grads_script(script, steps=4, timeout=120)
    assert rep.tool == "grads"
    dec = rep.metrics["decomposition"]
    assert [d["step"] for d in dec] == sample_steps(4) == [0, 2, 3]
    step0 = {t["name"]: t for t in dec[0]["terms"]}
    assert set(step0) == {"cross_entropy", "mse_loss"}
    assert all(t["source"] == "loss" for t in dec[0]["terms"])

    # the same first step, in this process
    ns: dict = {}
    exec(compile(textwrap.dedent(TWO_TERM), "two_term", "exec"), ns)  # noqa: S102 - our own test source
    model, x, y, z = ns["build"]()
    ce, mse = ns["terms"](model, x, y, z)
    ref = decompose(0.7 * ce + 2.5 * mse, {"cross_entropy": ce, "mse_loss": mse}, list(model.named_parameters()))
    by = {t.name: t for t in ref.terms}
    for name in ("cross_entropy", "mse_loss"):
        assert step0[name]["dloss_dterm"] == pytest.approx(by[name].dloss_dterm, rel=1e-4)
        assert step0[name]["effective_norm"] == pytest.approx(by[name].effective_norm, rel=1e-4)
        assert step0[name]["dterm_dparam_norm"] == pytest.approx(by[name].dterm_dparam_norm, rel=1e-4)
        assert step0[name]["value"] == pytest.approx(by[name].value, rel=1e-4)
    assert dec[0]["cosines"]["cross_entropy|mse_loss"] == pytest.approx(ref.cosines["cross_entropy|mse_loss"], abs=1e-4)
    assert dec[0]["parts_residual"] == pytest.approx(0.0, abs=1e-4)
    assert step0["mse_loss"]["dloss_dterm"] == pytest.approx(2.5)
    # no finding on a healthy two-term script, and the user's training still ran (loss fell)
    assert rep.findings == [] and rep.verdict == "healthy"
    assert rep.metrics["terms"]["mse_loss"][-1] < rep.metrics["terms"]["mse_loss"][0]


def test_ablation_zeroes_a_marked_term_and_compares_the_metric(tmp_path: Path) -> None:
    """The marker's value is the metric; with it ablated its contribution is zero and it stops falling."""
    script = _write(tmp_path, """
        import torch
        import traintriage

        torch.manual_seed(0)
        w = torch.nn.Parameter(torch.ones(4))
        opt = torch.optim.SGD([w], lr=0.1)
        for _ in range(30):
            main = torch.nn.functional.mse_loss(w[:2], torch.zeros(2))
            pen = traintriage.term("pen", (w[2:] ** 2).sum())
            loss = main + pen
            opt.zero_grad()
            loss.backward()
            opt.step()
        print("w", w.tolist())
    """)
    rep = grads_script(script, steps=10, ablate="pen", timeout=120)
    ab = rep.metrics["ablation"]
    assert ab["term"] == "pen" and ab["metric"] == "pen" and ab["ablated"] is True
    assert ab["init"] == pytest.approx(2.0)
    assert ab["off"] == pytest.approx(2.0)  # term off: nothing moves w[2:]
    assert ab["on"] < 0.5  # term on: it falls
    assert rep.metrics["terms_ablated"]["pen"][-1] == pytest.approx(2.0)
    assert not any(f.id == "same-basin" for f in rep.findings)
    # outside a probe the marker is the identity
    import traintriage

    t = torch.ones(2)
    assert traintriage.term("x", t) is t


def test_unknown_ablate_term_lists_the_terms_seen(tmp_path: Path) -> None:
    script = _write(tmp_path, TWO_TERM)
    with pytest.raises(UnknownTermError, match=r"terms seen: cross_entropy, mse_loss"):
        grads_script(script, steps=2, ablate="kl", timeout=120)
    with pytest.raises(FileNotFoundError):
        grads_script(tmp_path / "missing.py", steps=2)


def test_cli_json_one_object_and_bad_input(tmp_path: Path) -> None:
    script = _write(tmp_path, TWO_TERM)
    cmd = [sys.executable, "-m", "traintriage", "grads"]
    out = subprocess.run([*cmd, str(script), "--steps", "2", "--json"], capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out.stderr
    lines = [x for x in out.stdout.splitlines() if x.strip()]
    assert len(lines) == 1
    data = json.loads(lines[0])
    assert data["tool"] == "grads" and data["verdict"] == "healthy"
    missing = subprocess.run([*cmd, str(tmp_path / "nope.py"), "--json"], capture_output=True, text=True, timeout=60)
    assert missing.returncode == 2 and "script not found" in json.loads(missing.stdout)["error"]["message"]
    bad = subprocess.run([*cmd, str(script), "--steps", "2", "--ablate", "kl", "--json"],
                         capture_output=True, text=True, timeout=180)
    assert bad.returncode == 2
    err = json.loads(bad.stdout)["error"]["message"]
    assert "'kl'" in err and "cross_entropy" in err and "mse_loss" in err


def test_no_grads_records_no_findings() -> None:
    assert grads_findings([]) == []
    assert grads_findings([{"kind": "step", "opt": 0, "terms": [{"name": "mse_loss", "value": 1.0}]}]) == []


def _cases() -> list[tuple[str, Path, list[str], list[str]]]:
    out = []
    for d in sorted(CASES.glob("metric-*")) + sorted(CASES.glob("healthy-multiterm-*")):
        meta = yaml.safe_load((d / "case.yaml").read_text())
        if d.name.startswith("metric-") and meta.get("family") != "metric-stuck":
            continue  # metric-on-one-shard-*: a distributed case, not a rough-map one
        expected = list(meta.get("expected") or [])
        out.append((d.name + "/train", d / "train.py", expected, list(meta.get("grads_args") or [])))
        if (d / "fixed.py").is_file():  # a healthy control has only train.py
            out.append((d.name + "/fixed", d / "fixed.py", [], list(meta.get("fixed_grads_args") or [])))
    return out


@pytest.mark.slow
@pytest.mark.parametrize("case,path,expected,gargs", _cases(), ids=[c[0] for c in _cases()])
def test_eval_case_findings(case: str, path: Path, expected: list[str], gargs: list[str]) -> None:
    """Each metric-* case shows its rough-map row; its fixed.py and the healthy controls show none."""
    ablate = gargs[gargs.index("--ablate") + 1] if "--ablate" in gargs else None
    rep = grads_script(path, steps=40, ablate=ablate, timeout=300)
    ids = [f.id for f in rep.findings if f.source == "grads"]
    if expected:
        assert expected[0] in ids, (case, ids, rep.notes)
        f = next(f for f in rep.findings if f.id == expected[0])
        assert f.evidence["rough_map_row"] and f.ref.endswith("#" + expected[0])
    else:
        stuck = {"loss-saturated", "structural-ceiling", "competing-losses", "same-basin"}
        if "/fixed" in case:  # the fixed script must not show its own bug
            broken = yaml.safe_load((path.parent / "case.yaml").read_text()).get("expected") or []
            stuck = set(broken) or stuck
        assert not stuck & set(ids), (case, ids)


def test_triage_includes_rough_map_findings_from_the_same_run() -> None:
    """triage decomposes the loss in its own probe run: a saturated term is named, its fix is not."""
    from traintriage.triage import triage_script

    case = CASES / "metric-loss-saturated-log1p-regression"
    rep = triage_script(case / "train.py", steps=20, timeout=120)
    sat = [f for f in rep.findings if f.id == "loss-saturated"]
    assert sat and sat[0].source == "grads", [(f.id, f.source) for f in rep.findings]
    assert sat[0].evidence["steps"] and sat[0].evidence["rough_map_row"]
    fixed = triage_script(case / "fixed.py", steps=20, timeout=120)
    assert "loss-saturated" not in {f.id for f in fixed.findings}


def test_triage_single_term_script_gets_no_rough_map_noise(tmp_path: Path) -> None:
    """One healthy term: the decomposition runs, but triage adds no rough-map finding."""
    from traintriage.triage import triage_script

    src = TWO_TERM.replace(", F.mse_loss(model[\"b\"](h), z)", "").replace(
        "ce, mse = terms(model, x, y, z)", "ce = terms(model, x, y, z)").replace("0.7 * ce + 2.5 * mse", "ce")
    assert "mse" not in src
    rep = triage_script(_write(tmp_path, src), steps=10, timeout=120)
    grads_ids = {f.id for f in rep.findings if f.source == "grads"}
    assert not grads_ids, grads_ids


def test_triage_names_a_term_that_never_reaches_the_loss(tmp_path: Path) -> None:
    """A second term computed every step but left out of the backpropagated sum is loss-saturated
    (disconnected): the metric it measures can never move."""
    from traintriage.triage import triage_script

    src = TWO_TERM.replace("loss = 0.7 * ce + 2.5 * mse", "loss = ce")
    rep = triage_script(_write(tmp_path, src), steps=10, timeout=120)
    sat = [f for f in rep.findings if f.id == "loss-saturated" and f.source == "grads"]
    assert sat and sat[0].evidence["term"] == "mse_loss" and sat[0].evidence["disconnected"] is True

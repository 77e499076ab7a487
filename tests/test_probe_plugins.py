"""The probe's checks as plug-ins: the registry, only/skip, the core's event dispatch, and a real probe run with
a check turned off (its recording half records nothing, its judging half judges nothing)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from traintriage.probe import detectors
from traintriage.probe.check import Check
from traintriage.probe.detectors import REGISTRY, UnknownCheckError, checks_config, recordings, selected

ROOT = Path(__file__).resolve().parents[1]
PROBE = ROOT / "tools" / "traintriage" / "probe"


def test_selected_keeps_only_and_drops_skip_by_catalogue_id_or_module_name():
    assert selected() == REGISTRY
    assert selected(only=["stale-batch", "label_leakage"]) == [m for m in REGISTRY if m in ("stale_batch",
                                                                                        "label_leakage")]
    assert "stale_batch" not in selected(skip=["stale-batch"])
    assert len(selected(skip=["stale-batch"])) == len(REGISTRY) - 1
    with pytest.raises(UnknownCheckError, match="no-such-check"):
        selected(skip=["no-such-check"])


def test_checks_config_is_empty_when_everything_is_on_and_lists_what_is_off():
    assert checks_config() == {}
    cfg = checks_config(skip=["stale-batch"])["checks"]
    assert cfg["off"] == ["stale-batch"] and "stale_batch" not in cfg["on"]


def test_recordings_follow_the_registry_and_drop_a_check_that_is_off():
    on = [c.id for c in recordings({})]
    assert "stale-batch" in on and "activations" in on  # a check's own recording and a shared one
    off = [c.id for c in recordings(checks_config(skip=["stale-batch"])["checks"])]
    assert "stale-batch" not in off and "activations" in off  # shared recordings run whatever only/skip say
    for c in recordings({}):
        assert isinstance(c, Check) and c.id


def test_every_recording_lives_next_to_its_detect_and_carries_its_id():
    for name in REGISTRY:
        mod = __import__(f"traintriage.probe.detectors.{name}", fromlist=["detect"])
        assert callable(mod.detect)
        rec = getattr(mod, "Recording", None)
        if rec is not None:
            assert rec.id == name.replace("_", "-")


def test_the_core_and_the_hooks_know_no_check_by_name():
    ids = list(REGISTRY) + [m.replace("_", "-") for m in REGISTRY]
    for f in ("core.py", "harness.py", "steps.py", "check.py"):
        src = (PROBE / f).read_text(encoding="utf-8")
        code = re.sub(r'"""[\s\S]*?"""|#[^\n]*', "", src)  # docstrings and comments may name examples
        named = [i for i in ids if re.search(rf"\b{re.escape(i)}\b", code)]
        assert not named, f"{f} names checks {named}"


def _recorder(tmp_path, checks):
    from traintriage.probe.core import Recorder

    cfg = {"mode": "observe", "steps": 5, "sandbox": str(tmp_path / "sb"), "evidence": str(tmp_path / "ev.jsonl")}
    return Recorder(cfg, checks=checks)


def test_the_core_dispatches_an_event_only_to_the_checks_that_override_it(tmp_path):
    import torch

    seen: list[tuple[str, str]] = []

    class Forwards(Check):
        id = "forwards"

        def forward(self, core, module, args, out):
            seen.append(("forward", type(module).__name__))

        def model_input(self, core, module, x, step):
            return {"probe_test_field": list(x.shape)}

    class Quiet(Check):
        id = "quiet"

    fw, quiet = Forwards(), Quiet()
    rec = _recorder(tmp_path, [fw, quiet])
    assert rec.subs["forward"] == [fw] and rec.subs["model_input"] == [fw]
    assert all(quiet not in subs for subs in rec.subs.values())
    model = torch.nn.Sequential(torch.nn.Linear(3, 2))
    x = torch.randn(4, 3)
    rec.fwd_pre(model, (x,))
    out = model(x)
    rec.fwd_post(model, (x,), out)
    rec.fh.close()
    assert seen == [("forward", "Sequential")]
    records = [json.loads(line) for line in (tmp_path / "ev.jsonl").read_text().splitlines()]
    inp = [r for r in records if r["kind"] == "input"]
    assert inp and inp[0]["probe_test_field"] == [4, 3]  # a check's fields land in the core's shared record


@pytest.mark.slow
def test_a_check_turned_off_records_nothing_and_judges_nothing():
    from traintriage.probe.runner import probe_with_records

    script = ROOT / "evals" / "cases" / "stale-batch-shadowed-vars" / "train.py"
    on, rec_on = probe_with_records(script, steps=12, timeout=120)
    off, rec_off = probe_with_records(script, steps=12, timeout=120, extra=checks_config(skip=["stale-batch"]))
    assert "stale-batch" in {f.id for f in on.findings}
    assert "stale-batch" not in {f.id for f in off.findings}
    traced = [r for r in rec_on if r.get("kind") == "input" and "loader_src" in r]
    assert traced  # the stale-batch recording traced the input to its DataLoader batch ...
    assert not [r for r in rec_off if r.get("kind") == "input" and ("loader_src" in r or "same_as_first" in r)]
    checks = [r for r in rec_off if r.get("kind") == "checks"]
    assert checks and checks[0]["off"] == ["stale-batch"]  # ... and is off in the child, not only in judging
    assert not [r for r in rec_on if r.get("kind") == "checks"]  # the default run writes what it always wrote
    assert detectors.selected(skip=["stale-batch"])  # the other checks still ran

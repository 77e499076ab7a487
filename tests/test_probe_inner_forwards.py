"""Which checks an inner module's forward calls (probe/core.py, Check.wants_inner): a check is left out of a
top-level forward's inner modules only where it said so at that forward's start; sampled steps add the
forward_scope "sampled" checks; the top-level forward itself always reaches every `forward` subscriber."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")


def _run(tmp_path, checks, forwards):  # noqa: ANN001, ANN202
    from torch.nn.modules import module as module_mod
    from traintriage.probe.core import Recorder

    rec = Recorder({"mode": "observe", "steps": 100, "evidence": str(tmp_path / "ev.jsonl"),
                    "sandbox": str(tmp_path)}, checks=checks)
    h1 = module_mod.register_module_forward_pre_hook(rec.fwd_pre)
    h2 = module_mod.register_module_forward_hook(rec.fwd_post)
    try:
        forwards(rec)
    finally:
        h1.remove()
        h2.remove()
        rec.fh.close()


def _checks():  # noqa: ANN202
    from traintriage.probe.check import Check

    class Seen(Check):
        def __init__(self, id_: str, scope: str, wants: bool) -> None:
            self.id, self.forward_scope, self.wants, self.seen = id_, scope, wants, []

        def wants_inner(self, core, top) -> bool:  # noqa: ANN001
            return self.wants

        def forward(self, core, module, args, out) -> None:  # noqa: ANN001
            self.seen.append((type(module).__name__, core.depth))

    return Seen("all-yes", "all", True), Seen("all-no", "all", False), Seen("sampled", "sampled", True), \
        Seen("roots", "roots", True)


def test_inner_forwards_reach_only_the_checks_that_want_them(tmp_path):
    yes, no, sampled, roots = _checks()
    net = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2))
    x = torch.randn(3, 4)

    def forwards(rec):  # noqa: ANN001, ANN202
        rec.sampling = False
        net(x)
        assert [d for _, d in yes.seen] == [1, 1, 1, 0]  # three inner modules, then the top-level forward
        assert no.seen == [("Sequential", 0)] and roots.seen == [("Sequential", 0)]
        assert sampled.seen == [("Sequential", 0)]  # not a sampled step: top-level only
        for c in (yes, no, sampled, roots):
            c.seen.clear()
        rec.sampling = True
        net(x)
        assert len(yes.seen) == 4 and len(sampled.seen) == 4
        assert no.seen == [("Sequential", 0)] and roots.seen == [("Sequential", 0)]
        no.wants = True  # asked again at the next top-level forward
        no.seen.clear()
        net(x)
        assert len(no.seen) == 4

    _run(tmp_path, [yes, no, sampled, roots], forwards)


def test_label_leakage_wants_inner_forwards_only_of_models_with_an_embedding():
    from traintriage.probe.detectors.label_leakage import FUTURE_CHECKS, Recording

    class Core:
        sampling = False

    chk = Recording()
    mlp = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.ReLU())
    lm = torch.nn.Sequential(torch.nn.Embedding(10, 4), torch.nn.Linear(4, 10))
    assert not chk.wants_inner(Core(), mlp)
    assert chk.wants_inner(Core(), lm)
    chk.future_checks = FUTURE_CHECKS  # it has made its checks: no more inner forwards
    assert not chk.wants_inner(Core(), lm)

"""Inner module forwards without the probe's global hooks (probe/quiet.py): on an unsampled step where no check
wants a model's inner modules, they take torch's fast path (no global forward hook in torch's dicts while they
run), the model's own end still reaches every check, and the global hooks are back, first, after the forward:
when it returns, when it raises, when the model calls itself, and after a BaseException at the next backward."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
nn = torch.nn


class Spy(nn.Module):
    """An inner module that notes how many global forward hooks torch holds while it runs."""

    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(4, 4)
        self.globals: list[int] = []
        self.fail: type[BaseException] | None = None

    def forward(self, x):  # noqa: ANN001, ANN201
        from torch.nn.modules import module as module_mod

        self.globals.append(len(module_mod._global_forward_hooks) + len(module_mod._global_forward_pre_hooks))
        if self.fail is not None:
            raise self.fail("planted")
        return self.lin(x)


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.spy = Spy()
        self.head = nn.Linear(4, 2)
        self.again = False

    def forward(self, x):  # noqa: ANN001, ANN201
        if self.again:  # calls itself once inside its own forward
            self.again = False
            x = self(x)[:, :1].expand(-1, 4)
        return self.head(torch.relu(self.spy(x)))


def _roots_check():  # noqa: ANN202
    from traintriage.probe.check import Check

    class Roots(Check):
        id, forward_scope = "roots", "roots"

        def __init__(self) -> None:
            self.seen: list = []

        def forward(self, core, module, args, out) -> None:  # noqa: ANN001
            if core.depth == 0:
                self.seen.append((type(module).__name__, out))

    return Roots()


@pytest.fixture
def probe(tmp_path):  # noqa: ANN201
    """A core with the harness's two global forward hooks and their Quiet, removed after the test."""
    from torch.nn.modules import module as module_mod
    from traintriage.probe.activations import Activations
    from traintriage.probe.core import Recorder
    from traintriage.probe.quiet import Quiet

    roots = _roots_check()
    rec = Recorder({"mode": "observe", "steps": 100, "evidence": str(tmp_path / "ev.jsonl"),
                    "sandbox": str(tmp_path)}, checks=[roots, Activations()])
    h1 = module_mod.register_module_forward_pre_hook(rec.fwd_pre)
    h2 = module_mod.register_module_forward_hook(rec.fwd_post)
    rec.quiet = Quiet(rec, h1.id, h2.id)
    rec.sampling = False
    try:
        yield rec, roots
    finally:
        rec.quiet.restore()
        h1.remove()
        h2.remove()
        rec.fh.close()


def _ours_first(rec) -> bool:  # noqa: ANN001
    from torch.nn.modules import module as module_mod

    return (next(iter(module_mod._global_forward_pre_hooks.values())) == rec.fwd_pre
            and next(iter(module_mod._global_forward_hooks.values())) == rec.fwd_post)


def _clean(rec, net) -> bool:  # noqa: ANN001
    return (rec.quiet.lifted is None and rec.depth == 0 and _ours_first(rec) and not net._forward_hooks
            and not net._forward_pre_hooks and not net._forward_hooks_always_called)


def test_inner_modules_run_without_global_hooks_on_unsampled_steps(probe, tmp_path):
    rec, roots = probe
    net, x = Net(), torch.randn(3, 4)
    out = net(x)
    assert net.spy.globals == [0]  # torch's fast path: no global forward hook while the inner module ran
    assert [name for name, _ in roots.seen] == ["Net"] and roots.seen[0][1] is out  # the model's end is seen
    assert _clean(rec, net)
    rec.sampling = True  # sampled step: the activation statistics read every module
    net(x)
    assert net.spy.globals == [0, 2] and len(roots.seen) == 2 and _clean(rec, net)
    rec.fh.flush()
    assert '"kind": "act"' in (tmp_path / "ev.jsonl").read_text()


def test_a_check_that_wants_inner_modules_keeps_the_hooks(probe):
    rec, _ = probe
    from traintriage.probe.check import Check

    class Inner(Check):
        id = "inner"

        def __init__(self) -> None:
            self.n = 0

        def forward(self, core, module, args, out) -> None:  # noqa: ANN001
            self.n += 1

    inner = Inner()
    rec.fwd_inner.append(inner)
    rec.subs["forward"].append(inner)
    net = Net()
    net(torch.randn(3, 4))
    assert net.spy.globals == [2] and inner.n == 4  # spy.lin, spy, head, then the model's own end
    assert _clean(rec, net)


def test_a_forward_that_raises_puts_the_hooks_back(probe):
    rec, roots = probe
    net, x = Net(), torch.randn(3, 4)
    net.spy.fail = ValueError
    with pytest.raises(ValueError, match="planted"):
        net(x)
    assert _clean(rec, net) and roots.seen == []  # a forward that raised has no end to judge
    net.spy.fail = None
    net(x)  # the next forward is a top-level one again
    assert [name for name, _ in roots.seen] == ["Net"] and net.spy.globals == [0, 0] and _clean(rec, net)


def test_a_base_exception_is_restored_at_the_next_backward(probe):
    rec, roots = probe
    net, x = Net(), torch.randn(3, 4)

    class Interrupt(BaseException):
        pass

    net.spy.fail = Interrupt  # torch runs its always-called hooks on Exception only
    with pytest.raises(Interrupt):
        net(x)
    assert rec.quiet.lifted is not None
    net.spy.fail = None
    rec.before_backward(torch.ones((), requires_grad=True))
    assert _clean(rec, net)
    net(x)
    assert [name for name, _ in roots.seen] == ["Net"]


def test_a_model_that_calls_itself_ends_once(probe):
    rec, roots = probe
    net = Net()
    net.again = True
    out = net(torch.randn(3, 4))
    assert net.spy.globals == [0, 0]
    assert [name for name, _ in roots.seen] == ["Net"] and roots.seen[0][1] is out and _clean(rec, net)


def test_the_models_own_hooks_run_after_ours(probe):
    rec, roots = probe
    net, x = Net(), torch.randn(3, 4)
    raw = []
    net.register_forward_pre_hook(lambda m, a: raw.append(len(roots.seen)))
    net.register_forward_hook(lambda m, a, o: o * 2)  # replaces the output
    out = net(x)
    assert raw == [0] and torch.equal(out, roots.seen[0][1] * 2)  # the core saw the forward's own output
    assert len(net._forward_hooks) == len(net._forward_pre_hooks) == 1 and rec.quiet.lifted is None


def test_not_lifted_where_the_inner_modules_matter(probe):
    rec, _ = probe
    net = nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.9), nn.Linear(4, 2))
    assert rec.quiet.allowed(net)
    rec.mode = "overfit"  # the core's hook makes every dropout layer the identity
    rec.quiet.ok.clear()
    assert not rec.quiet.allowed(net)
    x = torch.randn(64, 4)
    with torch.no_grad():
        assert torch.equal(net(x), net[2](net[0](x)))
    rec.mode = "observe"
    rec.quiet.ok.clear()
    assert not rec.quiet.allowed(nn.Linear(4, 4))  # nothing below it: no call to spare


@pytest.mark.slow  # torch.compile imports dynamo: ~3 CPU-s
def test_not_lifted_for_a_model_holding_a_compiled_module(probe):
    rec, _ = probe
    assert rec.quiet.allowed(nn.Sequential(nn.Linear(4, 4), nn.ReLU()))
    assert not rec.quiet.allowed(nn.Sequential(torch.compile(nn.Linear(4, 4)), nn.ReLU()))  # dynamo reads the dicts


def test_not_lifted_while_the_script_has_global_hooks_of_its_own(probe):
    rec, roots = probe
    from torch.nn.modules import module as module_mod

    net = Net()
    h = module_mod.register_module_forward_hook(lambda m, a, o: None)
    try:
        net(torch.randn(3, 4))
        assert net.spy.globals == [3] and len(roots.seen) == 1 and _clean(rec, net)
        assert list(module_mod._global_forward_hooks)[-1] == h.id  # theirs still after ours
    finally:
        h.remove()

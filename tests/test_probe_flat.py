"""Flat mirrors of many small parameters (probe/flat.py): the step record's update and parameter norms per group
are the same whether they come from a flat mirror or from the per-tensor foreach path they replaced."""

from __future__ import annotations

import json

import pytest

torch = pytest.importorskip("torch")


def test_flat_group_norms_equal_per_tensor_norms():
    from traintriage.probe.flat import Flat, fits, mirror

    g = torch.Generator().manual_seed(0)
    before = [torch.randn(s, generator=g) for s in [(16, 8), (16,), (4, 16), (4,), (3, 3, 2)]]
    after = [t + 1e-3 * torch.randn(t.shape, generator=g) for t in before]
    assert fits(before)
    a, b = Flat(before).load(before), Flat(after).load(after)
    sizes = [2, 3]  # two param groups: tensors 0-1, then 2-4
    upd = [x.item() for x in a.group_norms(sizes, b.flat)]
    par = [x.item() for x in b.group_norms(sizes)]
    for k, (lo, hi) in enumerate([(0, 2), (2, 5)]):
        ref_u = sum(float((x - y).norm()) ** 2 for x, y in zip(before[lo:hi], after[lo:hi], strict=True)) ** 0.5
        ref_w = sum(float(y.norm()) ** 2 for y in after[lo:hi]) ** 0.5
        assert upd[k] == pytest.approx(ref_u, rel=1e-5) and par[k] == pytest.approx(ref_w, rel=1e-6)
    assert all(torch.equal(v, t) for v, t in zip(b.views, after, strict=True))
    # the same shapes reuse the buffer; a changed shape, dtype or tensor count builds a new one
    assert mirror(a, after) is a
    assert mirror(a, [*after[:4], torch.zeros(3, 3, 3)]) is not a
    assert mirror(a, [t.double() for t in after]) is not a
    assert mirror(a, after[:3]) is not a


def test_fits_keeps_large_or_mixed_tensors_on_the_per_tensor_path():
    from traintriage.probe.flat import FLAT_MAX_MEAN_NUMEL, fits, mirror

    small = [torch.zeros(64, 64) for _ in range(10)]
    assert fits(small)
    assert not fits([torch.zeros(FLAT_MAX_MEAN_NUMEL + 1) for _ in range(3)])  # the bytes dominate: no extra copy
    assert not fits([torch.zeros(4), torch.zeros(4, dtype=torch.float64)])
    assert not fits([torch.zeros(4, dtype=torch.long)] * 3)
    assert not fits([torch.zeros(4)])
    assert mirror(None, [torch.zeros(4), torch.zeros(4).to_sparse()]) is None


def _steps(tmp_path, monkeypatch, flat_max: int) -> tuple[list[dict], bool]:
    """Four real Adam steps of a two-group model, recorded by the core's step hooks called as torch calls them."""
    import traintriage.probe.flat as flat
    from traintriage.probe.core import Recorder

    monkeypatch.setattr(flat, "FLAT_MAX_MEAN_NUMEL", flat_max)
    ev = tmp_path / f"ev{flat_max}.jsonl"
    rec = Recorder({"mode": "observe", "steps": 100, "evidence": str(ev), "sandbox": str(tmp_path)}, checks=[])
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 3))
    opt = torch.optim.Adam([{"params": net[0].parameters()}, {"params": net[2].parameters(), "lr": 1e-2}], lr=1e-3)
    x, y = torch.randn(32, 8), torch.randint(0, 3, (32,))
    for _ in range(4):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(net(x), y)
        rec.before_backward(loss)
        loss.backward()
        rec.after_backward()
        rec.opt_pre(opt, (), {})
        opt.step()
        rec.opt_post(opt, (), {})
    rec.fh.close()
    used = next(iter(rec.opts.values())).get("flat") is not None
    return [r for r in map(json.loads, ev.read_text().splitlines()) if r["kind"] == "step"], used


def test_step_record_is_the_same_through_a_flat_mirror(tmp_path, monkeypatch):
    flat, used = _steps(tmp_path, monkeypatch, 1 << 14)
    per, used_per = _steps(tmp_path, monkeypatch, 0)  # nothing fits: the per-tensor foreach path
    assert used and not used_per
    assert len(flat) == len(per) == 4
    for a, b in zip(flat, per, strict=True):
        for k in ("update_norm", "param_norm", "rel_update", "grad_norm", "grad_norm_at_step"):
            assert a[k] == pytest.approx(b[k], rel=1e-5), k
        for ga, gb in zip(a["groups"], b["groups"], strict=True):
            assert ga["update"] == pytest.approx(gb["update"], rel=1e-5)
            assert ga["param"] == pytest.approx(gb["param"], rel=1e-6)
        assert ("params" in a) == ("params" in b)  # per-parameter rows on the sampled steps only, both ways
        for ra, rb in zip(a.get("params", []), b.get("params", []), strict=True):
            assert ra["update"] == pytest.approx(rb["update"], rel=1e-5) and ra["param"] == pytest.approx(rb["param"])
    assert flat[0]["update_norm"] > 0 and "params" in flat[0] and "params" not in flat[3]


def test_total_norm_equals_the_per_tensor_norms_stacked():
    from traintriage.probe.flat import total_norm

    g = torch.Generator().manual_seed(0)
    ts = [torch.randn(s, generator=g) for s in [(16, 8), (16,), (4, 16), (3, 3, 2)]]
    ref = sum(float(t.double().norm()) ** 2 for t in ts) ** 0.5
    for flat in (True, False):
        got = total_norm(ts, flat)
        assert got.dtype == torch.float32 and got.item() == pytest.approx(ref, rel=1e-6)
        assert total_norm([t.double() for t in ts], flat).item() == pytest.approx(ref, rel=1e-6)
    big = [torch.full((64, 64), 300.0, dtype=torch.float16) for _ in range(4)]  # ||.|| = 38400 > half's max per 2
    assert total_norm(big, True).item() == pytest.approx(300.0 * 128, rel=1e-3)  # accumulated in float32


def test_an_optimizer_first_stepping_late_still_gets_gradient_rows(tmp_path):
    """Per-parameter gradient norms are taken at the backward only where the coming step records rows
    (Recorder.rows_next); a second optimizer first stepping on a later backward gets them measured at its step."""
    from torch.nn.modules import module as module_mod
    from traintriage.probe.core import Recorder

    ev = tmp_path / "ev.jsonl"
    rec = Recorder({"mode": "observe", "steps": 100, "evidence": str(ev), "sandbox": str(tmp_path)}, checks=[])
    torch.manual_seed(0)
    a, b = torch.nn.Linear(8, 8), torch.nn.Linear(8, 1)
    net = torch.nn.Sequential(a, b)  # the model (a root: its parameters are watched from its first forward)
    opt_a, opt_b = torch.optim.SGD(a.parameters(), lr=1e-2), torch.optim.SGD(b.parameters(), lr=1e-2)
    x, y = torch.randn(32, 8), torch.randn(32, 1)
    totals = []
    hooks = [module_mod.register_module_forward_pre_hook(rec.fwd_pre),
             module_mod.register_module_forward_hook(rec.fwd_post)]
    try:
        for step in range(6):
            opt_a.zero_grad()
            opt_b.zero_grad()
            loss = torch.nn.functional.mse_loss(net(x), y)
            rec.before_backward(loss)
            loss.backward()
            rec.after_backward()
            totals.append(rec.last_grad_norms[1] is not None)
            want = [float(p.grad.norm()) for p in b.parameters()]
            for opt in (opt_a, opt_b) if step == 5 else (opt_a,):
                rec.opt_pre(opt, (), {})
                opt.step()
                rec.opt_post(opt, (), {})
    finally:
        for h in hooks:
            h.remove()
        rec.fh.close()
    assert totals == [True, True, False, False, False, False]  # sampled steps 0-1 (opt_a's first two), then totals
    last = [r for r in map(json.loads, ev.read_text().splitlines()) if r["kind"] == "step"][-1]
    assert last["opt"] == 1 and last["step"] == 0
    assert [r["grad"] for r in last["params"]] == pytest.approx(want, rel=1e-5)


def test_norms_of_sparse_gradients_are_their_dense_norms():
    """nn.Embedding(sparse=True) gives sparse gradients, which torch cannot norm: foreach_norms and total_norm read
    them through their coalesced values (the same 2-norm), dense ones as before."""
    from traintriage.probe.flat import foreach_norms, total_norm

    dense = torch.arange(6.0).reshape(2, 3)
    sparse = torch.sparse_coo_tensor([[0, 2, 2]], [1.0, 2.0, 3.0], (5,), check_invariants=True)  # index 2 twice: uncoalesced
    with pytest.raises(NotImplementedError):
        torch._foreach_norm([dense, sparse])
    got = [float(x) for x in foreach_norms([dense, sparse])]
    assert got == pytest.approx([float(dense.norm()), float(sparse.to_dense().norm())])
    both = (float(dense.norm()) ** 2 + float(sparse.to_dense().norm()) ** 2) ** 0.5
    assert float(total_norm([dense, sparse], True)) == pytest.approx(both)
    assert float(total_norm([dense, sparse], False)) == pytest.approx(both)


SPARSE_EMBEDDING = """
import sys, torch, torch.nn as nn
torch.manual_seed(0)
emb = nn.Embedding(50, 8, sparse='--dense' not in sys.argv)
head = nn.Linear(8, 2)
sparse_opt = torch.optim.SparseAdam(list(emb.parameters()), lr=0.05) if emb.sparse else None
opt = torch.optim.Adam(list(head.parameters()) + ([] if emb.sparse else list(emb.parameters())), lr=0.05)
x = torch.randint(0, 50, (64, 5)); y = x[:, 0] % 2
for step in range(60):
    opt.zero_grad()
    if sparse_opt: sparse_opt.zero_grad()
    loss = nn.functional.cross_entropy(head(emb(x).mean(1)), y)
    loss.backward()
    opt.step()
    if sparse_opt: sparse_opt.step()
print('loss', loss.item())
"""


@pytest.mark.slow
def test_a_script_with_sparse_gradients_is_probed_not_crashed(tmp_path):
    """The probe crashed such a script in its gradient norms (NotImplementedError on SparseCPU), though it runs
    and learns on its own; now it is healthy, with the same gradient norms as its dense twin."""
    from traintriage.probe import run_probe

    p = tmp_path / "sparse_emb.py"
    p.write_text(SPARSE_EMBEDDING)
    sparse, dense = run_probe(p, steps=20), run_probe(p, steps=20, args=["--dense"])
    assert sparse.verdict == "healthy" and dense.verdict == "healthy", (sparse.notes, dense.notes)
    assert not [f for f in sparse.findings if f.severity == "error"]
    assert not any("crashed" in n for n in sparse.notes), sparse.notes

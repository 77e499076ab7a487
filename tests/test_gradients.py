"""gradients.decompose against a naive per-term torch.autograd reference, and the rough-map rows."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from traintriage.gradients import (
    COS_CONFLICT,
    classify_rough_map,
    decompose,
    read_decomposition,
)


def _two_head_model():
    torch.manual_seed(0)
    trunk = torch.nn.Linear(6, 8)
    head_a = torch.nn.Linear(8, 3)
    head_b = torch.nn.Linear(8, 1)
    model = torch.nn.ModuleDict({"trunk": trunk, "a": head_a, "b": head_b})
    x = torch.randn(16, 6)
    y = torch.randint(0, 3, (16,))
    z = torch.randn(16, 1)
    return model, x, y, z


def _terms(model, x, y, z):
    h = torch.tanh(model["trunk"](x))
    ce = F.cross_entropy(model["a"](h), y)
    mse = F.mse_loss(model["b"](h), z)
    return ce, mse


def test_matches_naive_per_term_reference():
    model, x, y, z = _two_head_model()
    ce, mse = _terms(model, x, y, z)
    loss = 0.7 * ce + 2.5 * mse
    named = list(model.named_parameters())
    d = decompose(loss, {"ce": ce, "mse": mse}, named)

    params = [p for _, p in named]
    ref = {}
    for name, weight in (("ce", 0.7), ("mse", 2.5)):
        ce2, mse2 = _terms(model, x, y, z)  # a fresh graph per term: the plain reference
        t = ce2 if name == "ce" else mse2
        g = torch.autograd.grad(weight * t, params, allow_unused=True)
        ref[name] = torch.cat([(gi if gi is not None else torch.zeros_like(p)).reshape(-1) for gi, p in zip(g, params, strict=True)])
    by = {t.name: t for t in d.terms}
    assert by["ce"].dloss_dterm == pytest.approx(0.7)
    assert by["mse"].dloss_dterm == pytest.approx(2.5)
    for name in ("ce", "mse"):
        assert by[name].effective_norm == pytest.approx(float(ref[name].norm()), rel=1e-5)
    cos = float(F.cosine_similarity(ref["ce"], ref["mse"], dim=0))
    assert d.cosines["ce|mse"] == pytest.approx(cos, abs=1e-5)
    assert d.parts_residual == pytest.approx(0.0, abs=1e-5)
    # per-module: the head 'b' receives gradient only from mse
    assert by["ce"].per_module.get("b", 0.0) == 0.0
    assert by["mse"].per_module["b"] > 0
    # the graph is still alive for the user's own backward
    loss.backward()
    assert model["trunk"].weight.grad is not None


def test_log1p_of_a_huge_error_is_saturated():
    w = torch.nn.Parameter(torch.tensor([300.0]))
    err = ((w * 10.0 - 1.0) ** 2).sum()  # ~9e6
    loss = torch.log1p(err)
    d = decompose(loss, {"err": err}, [("w", w)])
    (r,) = read_decomposition(d)
    assert d.terms[0].dloss_dterm == pytest.approx(1.0 / (1.0 + float(err.detach())), rel=1e-4)
    assert r.cause == "loss-saturated" and r.dloss_dterm == "~0"


def test_rotation_cannot_move_a_span_structural_ceiling():
    torch.manual_seed(1)
    u, _ = torch.linalg.qr(torch.randn(5, 2))
    target = torch.linalg.qr(torch.randn(5, 2))[0]
    theta = torch.nn.Parameter(torch.tensor(0.3))
    scale = torch.nn.Parameter(torch.ones(5))
    c, s = torch.cos(theta), torch.sin(theta)
    rot = torch.stack([torch.stack([c, -s]), torch.stack([s, c])])
    v = u @ rot  # a rotation inside span(U): the projector V V^T does not depend on theta
    span_gap = ((v @ v.T - target @ target.T) ** 2).sum()
    other = ((scale - 2.0) ** 2).sum()  # a second, healthy term on another parameter
    loss = span_gap + other
    d = decompose(loss, {"span_gap": span_gap, "other": other}, [("theta", theta), ("scale", scale)])
    readings = {r.term: r for r in read_decomposition(d)}
    assert readings["span_gap"].cause == "structural-ceiling"
    assert readings["other"].cause is None


def test_opposing_terms_compete():
    w = torch.nn.Parameter(torch.tensor([0.0, 0.0]))
    a = ((w - 1.0) ** 2).sum()
    b = ((w + 1.0) ** 2).sum()
    d = decompose(a + b, {"a": a, "b": b}, [("w", w)])
    assert d.cosines["a|b"] == pytest.approx(-1.0)
    assert d.module_conflicts == {"w": ["a|b"]}
    assert {r.cause for r in read_decomposition(d)} == {"competing-losses"}


def test_ablation_rows():
    common = dict(dloss_dterm=1.0, effective_norm=1.0, dterm_dparam_norm=1.0, max_effective_norm=1.0,
                  max_dterm_dparam_norm=1.0, min_cosine=0.3, other_norm_ratio=1.0)
    # moved from 2.0 to 0.5 with or without the term: same basin
    r = classify_rough_map("aux", metric_on=0.50, metric_off=0.51, metric_init=2.0, **common)
    assert r.cause == "same-basin" and r.same_with_term_off is True
    # never moved from its start, with or without the term: structural
    r = classify_rough_map("aux", metric_on=1.0, metric_off=1.0, metric_init=1.0, **common)
    assert r.cause == "structural-ceiling"
    # the term matters and nothing opposes it: healthy
    r = classify_rough_map("aux", metric_on=0.1, metric_off=0.9, metric_init=2.0, **common)
    assert r.cause is None and r.same_with_term_off is False
    # negative cosine below the threshold with a comparable term: competing
    r = classify_rough_map("aux", **{**common, "min_cosine": COS_CONFLICT - 0.2})
    assert r.cause == "competing-losses"
    # a conflict with a negligible term does not count
    r = classify_rough_map("aux", **{**common, "min_cosine": -0.9, "other_norm_ratio": 0.01})
    assert r.cause is None


def test_no_trainable_params_is_an_error():
    w = torch.tensor([1.0])
    with pytest.raises(ValueError, match="no trainable"):
        decompose(w.sum(), {}, [("w", w)])


def test_nonfinite_safe_values_are_numbers():
    w = torch.nn.Parameter(torch.tensor([1.0]))
    t = (w * 2).sum()
    d = decompose(t, {"t": t}, [("w", w)])
    assert all(math.isfinite(x) for x in (d.whole_norm, d.terms[0].effective_norm))

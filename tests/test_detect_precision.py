"""Issue 12: no false error on healthy scripts whose mechanism a check misread (real child processes).

pinn_like.py: loss_fn(target, prediction) (a symmetric loss, arguments swapped), a PDE residual from
autograd.grad, an empty validation split forwarded with grad on and never backpropagated (its loss is nan).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from traintriage.probe import run_probe

SCRIPTS = Path(__file__).parent / "probe_scripts"


@pytest.mark.slow
def test_pinn_look_alike_runs_clean_under_the_probe():
    rep = run_probe(SCRIPTS / "pinn_like.py", steps=20)
    assert rep.verdict != "crashed", rep.notes  # max() on the empty validation batch must not raise
    errors = [(f.id, f.message) for f in rep.findings if f.severity == "error"]
    assert errors == []  # no label-leakage from the swapped target, no non-finite-loss from the empty val loss
    assert rep.verdict == "healthy"


def test_chance_follows_the_loss_reduction():
    from traintriage.probe.evidence import chance_loss

    bce = {"fn": "binary_cross_entropy", "n_targets": 1000}
    assert chance_loss([{**bce, "reduction": "mean"}])[0] == pytest.approx(0.6931, rel=1e-3)
    assert chance_loss([{**bce, "reduction": "sum"}])[0] == pytest.approx(693.1, rel=1e-3)
    assert chance_loss([{**bce, "reduction": "none"}]) == (None, None)  # the script reduces: chance unknown
    ce = {"fn": "cross_entropy", "num_classes": 10, "n_targets": 64, "reduction": "sum"}
    assert chance_loss([ce])[0] == pytest.approx(64 * 2.3026, rel=1e-3)


@pytest.mark.slow
@pytest.mark.parametrize("args", [[], ["--legacy"]])
def test_summed_vae_loss_is_not_bad_init(args):
    # a sum over 64x784 pixels starts at ~N ln 2, which is chance for a sum, not 50000x chance
    rep = run_probe(SCRIPTS / "vae_sum.py", steps=20, args=args)
    assert [f.id for f in rep.findings if f.id == "bad-init"] == []
    assert rep.verdict != "broken"
    assert any("*ln(2)" in n for n in rep.notes)  # the chance the overfit note compares with is N*ln(2)


def _lr_ev(losses):
    from test_probe_detectors import ev_with, step

    rel = [0.01] * len(losses)
    k = max(range(len(losses)), key=lambda i: losses[i])
    rel[k] = 0.28  # the step into the spike moved the weights by 28 % of their norm
    return ev_with(steps=[step(i, x, rel=r, lr=0.1) for i, (x, r) in enumerate(zip(losses, rel, strict=True))])


def _lr_sev(losses):
    from traintriage.probe.detectors import lr_too_high

    return [f.severity for f in lr_too_high.detect(_lr_ev(losses))]


def test_one_catapult_spike_that_recovers_is_a_warning():
    # SGD momentum on one replayed batch: the loss falls, one spike at step 25 (past mid-run), back below
    # the start and chance and still falling when the run ends (the overfit check has not passed yet)
    fall = [1.6 - 0.02 * i for i in range(24)]
    ls = fall + [6.0, 1.59, 1.58, 1.57, 1.55, 1.53, 1.5, 1.48, 1.45, 1.42, 1.4, 1.38, 1.35, 1.3, 1.25, 1.2]
    assert _lr_sev(ls) == ["warning"]


def test_spikes_that_return_or_a_collapse_stay_errors():
    fall = [1.6 - 0.02 * i for i in range(20)]
    twice = fall + [6.0, 1.5, 1.45, 1.4, 5.0, 1.4, 1.38, 1.36, 1.34, 1.3]
    assert _lr_sev(twice) == ["error"]
    collapse = fall + [6.0] + [1.61] * 10  # back to chance (ln 5) and flat: dead, not recovering
    assert _lr_sev(collapse) == ["error"]


def _outlier_ev(opt_cls, emb_update):
    from test_probe_detectors import ev_with

    # five weight tensors; the embedding's gradient/weight ratio is 140x the median's
    rows = [{"name": f"layer{i}.weight", "grad": 0.01, "param": 1.0, "update": 1e-3, "requires_grad": True}
            for i in range(5)]
    rows.append({"name": "dec.embedding.weight", "grad": 1.4, "param": 1.0, "update": emb_update,
                 "requires_grad": True})
    ev = ev_with(losses=[1.6] * 20)  # flat: the overfit check fails, which makes a plain outlier an error
    ev["steps"][0]["params"] = rows
    ev["optimizers"][0]["cls"] = opt_cls
    return ev


def test_gradient_outlier_under_adam_is_judged_on_the_applied_update():
    from traintriage.probe.detectors import module_gradient_outlier as mgo

    # Adam normalised the step: the embedding moved like the rest -> no error
    assert [f.severity for f in mgo.detect(_outlier_ev("Adam", 1.2e-3))] == ["info"]
    # Adam, but the update itself is the outlier (140x the median update) -> still an error
    assert [f.severity for f in mgo.detect(_outlier_ev("Adam", 0.14))] == ["error"]
    # SGD: the gradient's scale is the step's scale -> an error
    assert [f.severity for f in mgo.detect(_outlier_ev("SGD", 0.14))] == ["error"]


def _game_ev(losses, names=(["G.0.weight", "G.2.weight"], ["D.0.weight", "D.2.weight"])):
    from test_probe_detectors import ev_with, step
    from traintriage.probe.evidence import overfit_summary

    ev = ev_with(steps=[step(i, x, rel=1e-7, lr=2e-4) for i, x in enumerate(losses)])
    ev["optimizers"] = [{"index": i, "cls": "Adam", "defaults": {}, "groups": [{"lr": 2e-4, "names": n}]}
                        for i, n in enumerate(names)]
    ev["steps_all"] = ev["steps"] + [{**s, "opt": 1} for s in ev["steps"]]
    ev["overfit"] = overfit_summary(ev)
    return ev


def test_a_game_of_two_optimizers_is_not_a_one_batch_overfit():
    from traintriage.probe.detectors import lr_too_low

    gan = _game_ev([0.69] * 20)  # D holds ln 2: the equilibrium, not a failure to learn
    assert gan["overfit"]["passed"] is None and gan["overfit"]["not_applicable"]
    assert [f.severity for f in lr_too_low.detect(gan)] == ["warning"]  # tiny steps stay visible, not an error
    shared = _game_ev([0.69] * 20, names=(["net.0.weight"], ["net.0.weight", "head.weight"]))
    assert shared["overfit"]["passed"] is False  # two optimizers over one parameter set: one objective, judged
    assert [f.severity for f in lr_too_low.detect(shared)] == ["error"]
    falling = _game_ev([2.0 * 0.8**i for i in range(20)])  # several independent models that learn: still passed
    assert falling["overfit"]["passed"] is True


def test_a_game_with_a_negative_loss_is_judged_on_its_updates_alone():
    """A WGAN-style game loss starts below 0 (no ratio to read): weights moving 1e-7 of their norm a step are
    still lr-too-low, as a warning (the lr-x1e-4 mutant of a 1-D GAN got no finding); a healthy update is none."""
    from test_probe_detectors import ev_with, step
    from traintriage.probe.detectors import lr_too_low

    slow = _game_ev([-0.755 + 0.001 * (i % 3) for i in range(20)])
    assert slow["overfit"]["ratio"] is None and slow["overfit"]["not_applicable"]
    assert [(f.severity, f.evidence["loss_ratio"]) for f in lr_too_low.detect(slow)] == [("warning", None)]
    healthy = _game_ev([-0.755 + 0.001 * (i % 3) for i in range(20)])
    healthy["steps"] = ev_with(steps=[step(i, -0.755, rel=1e-3, lr=2e-4) for i in range(20)])["steps"]
    assert lr_too_low.detect(healthy) == []


@pytest.mark.slow
def test_lbfgs_closure_evaluations_are_its_steps():
    rep = run_probe(SCRIPTS / "lbfgs_closure.py", steps=20)
    assert [f.id for f in rep.findings if f.severity == "error"] == []  # no step-order "never stepped"
    assert rep.verdict != "broken"
    assert any("inside LBFGS.step(closure)" in n for n in rep.notes)
    assert not any("no optimizer.step() was seen" in n or "FAILED" in n for n in rep.notes)


def test_one_target_is_no_padding_evidence():
    from traintriage.probe.detectors import padding_in_loss

    call = {"fn": "cross_entropy", "num_classes": 50, "target_float": False, "target_top_value": 3,
            "target_top_frac": 1.0, "ignore_index": -100, "step": 0}
    # a per-time-step decoder call with batch 1: its single target is 100 % of the targets
    assert padding_in_loss.detect({"loss_calls": [{**call, "target_shape": [1]}]}) == []
    # the same share over 8x16 targets is padding counted by the loss
    assert [f.severity for f in padding_in_loss.detect({"loss_calls": [{**call, "target_shape": [8, 16]}]})] \
        == ["error"]


@pytest.mark.slow
def test_generator_loss_on_a_detached_fake_is_loss_detached():
    """G's loss scores fake.detach(): G's optimizer steps and its parameters never get a gradient, while D's do.
    The fix gets no loss-detached; an optimizer holding a copy of G (G trained, its optimizer's copy idle) is
    params-not-in-optimizer, not loss-detached."""
    script = SCRIPTS / "gan_detach.py"
    rep = run_probe(script, steps=20, args=["--detach-g"])
    assert rep.top_ids(1) == ["loss-detached"], [(f.id, f.severity) for f in rep.findings]
    assert rep.findings[0].evidence["optimizer"] == 1 and rep.findings[0].evidence["n_params"] == 4
    fixed = run_probe(script, steps=20)
    assert "loss-detached" not in [f.id for f in fixed.findings]
    copy = run_probe(script, steps=20, args=["--stale-copy"])
    ids = [f.id for f in copy.findings if f.severity == "error"]
    assert "loss-detached" not in ids and "params-not-in-optimizer" in ids, ids


@pytest.mark.slow
def test_a_step_before_backward_whose_gradients_are_wiped_is_step_order_not_nan():
    """D steps before its backward and zero_grad(set_to_none) wipes the gradient before the next step: every D
    step finds no gradient and no loss. A step with no backward has no loss to read, which is not a NaN loss;
    the fixed order gets neither finding."""
    script = SCRIPTS / "gan_detach.py"
    rep = run_probe(script, steps=20, args=["--step-first"])
    errors = [f.id for f in rep.findings if f.severity == "error"]
    assert rep.top_ids(1) == ["step-order"] and "non-finite-loss" not in errors, errors
    fixed = run_probe(script, steps=20)
    assert not {"step-order", "non-finite-loss"} & {f.id for f in fixed.findings}

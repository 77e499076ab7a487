"""Each probe detector against a plain reference: hand-built evidence with the bug, and its fixed twin.

These are fast (no subprocess); tests/test_probe_scripts.py runs the same bugs through real scripts.
"""

from __future__ import annotations

import importlib
import math

import pytest
from traintriage.probe.detectors import REGISTRY, detector_ids, run_detectors
from traintriage.probe.evidence import overfit_summary


def step(i, loss, rel=1e-3, lr=1e-3, **kw):
    s = {"opt": 0, "step": i, "loss": loss, "n_backward": 1, "micro_grad_norms": [1.0], "grad_norm": 1.0,
         "grad_norm_at_step": 1.0, "grads_none": 0, "n_params": 4, "pre_backward_grad_norm": None,
         "update_norm": rel, "param_norm": 1.0, "rel_update": rel, "bwd_since_step": 1, "zero_after_bwd": 0,
         "zero_since_step": 1, "groups": [{"lr": lr, "update": rel, "param": 1.0, "rel_update": rel}],
         "modes": [{"root": "Net", "training": True, "mode_dependent": 1, "mode_dependent_eval": 0}]}
    s.update(kw)
    return s


def ev_with(losses=None, steps=None, pinned=True, **kw):
    losses = losses if losses is not None else [2.0 * 0.8**i for i in range(20)]
    ev = {"mode": "overfit", "status": "stopped", "pinned": pinned, "roots": [{"cls": "Net", "n_params": 100,
          "n_trainable": 100}], "optimizers": [{"index": 0, "cls": "AdamW", "defaults": {}, "groups": [
          {"lr": 1e-3, "weight_decay": 0.0, "n_params": 4, "n_frozen": 0, "n_1d": 2}]}],
          "backwards": [{"numel": 1, "has_grad_fn": True, "requires_grad": True}],
          "params": {"n_root_trainable": 4, "n_with_grad": 4, "n_orphans": 0, "n_unused": 0, "n_optimizer_params": 4,
                     "numel_trainable": 100},
          "loss_calls": [{"fn": "cross_entropy", "num_classes": 5, "input_min": -3.0, "input_max": 3.0,
                          "rowsum_dev": 2.0, "target_float": False, "target_top_value": 1, "target_top_frac": 0.25,
                          "target_n_unique": 5, "pred_top_value": 1, "pred_top_frac": 0.3, "ignore_index": -100,
                          "step": 0}],
          "acts": [], "inputs": [{"step": 0, "float": True, "mean": 0.1, "std": 1.0, "absmax": 4.0,
                                  "fingerprint": [1.0, 2.0], "shape": [32, 20]}],
          "schedulers": [], "loaders": [{"index": 0, "len": 16, "batches": 40, "iters": 3}], "end": {}}
    ev["steps"] = steps if steps is not None else [step(i, x) for i, x in enumerate(losses)]
    ev["losses"] = [s["loss"] for s in ev["steps"]]
    ev["steps_all"] = ev["steps"]
    ev.update(kw)
    ev["overfit"] = overfit_summary(ev)
    return ev


def ids(ev, severity=("error", "warning")):
    findings, notes = run_detectors(ev)
    assert not notes, notes
    return [f.id for f in findings if f.severity in severity]


def test_healthy_reference_has_no_finding():
    assert ids(ev_with()) == []


FLAT = [1.6] * 20


def _bug(id_):
    """Evidence carrying exactly one bug, keyed by the catalogue id it must produce."""
    e = ev_with
    if id_ == "no-trainable-params":
        return e(roots=[{"cls": "Net", "n_params": 100, "n_trainable": 0}], params={"n_root_trainable": 0})
    if id_ == "params-not-in-optimizer":
        return e(params={"n_root_trainable": 6, "n_with_grad": 6, "n_orphans": 2, "orphans": ["head.weight", "head.bias"],
                         "orphan_numel": 50, "numel_trainable": 100, "n_unused": 0, "n_optimizer_params": 4})
    if id_ == "loss-detached":
        return e(FLAT, backwards=[{"numel": 1, "has_grad_fn": False, "requires_grad": True, "is_leaf": True}],
                 params={"n_root_trainable": 4, "n_with_grad": 0})
    if id_ == "step-order":
        return e(steps=[step(i, 1.6, rel=0.0, grad_norm_at_step=0.0, grads_none=4, zero_after_bwd=1) for i in range(20)])
    if id_ == "missing-zero-grad":
        return e(steps=[step(i, 1.6 - 0.01 * i, pre_backward_grad_norm=float(i + 1), zero_since_step=0) for i in range(20)])
    if id_ == "wrong-train-eval-mode":
        return e(steps=[step(i, 2.0 * 0.8**i, modes=[{"root": "Net", "training": False, "mode_dependent": 2}])
                        for i in range(20)])
    if id_ == "non-finite-loss":
        return e([1.6, 1.5, None, None])
    if id_ == "lr-too-high":
        return e(steps=[step(i, 1.6 * 1.5**i, rel=0.3) for i in range(20)])
    if id_ == "lr-too-low":
        return e(steps=[step(i, 1.6 - 1e-6 * i, rel=1e-7) for i in range(20)])
    if id_ == "adam-coupled-weight-decay":
        return e(optimizers=[{"index": 0, "cls": "Adam", "defaults": {}, "groups": [{"weight_decay": 0.1, "n_params": 4}]}])
    if id_ == "decay-on-norm-and-bias":
        return e(optimizers=[{"index": 0, "cls": "AdamW", "defaults": {}, "groups": [
            {"weight_decay": 0.5, "n_params": 4, "n_1d": 2, "names_1d": ["ln.weight", "fc.bias"]}]}])
    if id_ == "scheduler-misuse":
        return e(steps=[step(i, 1.6 - 0.001 * i, lr=1e-3 * 0.1 ** (i // 3)) for i in range(20)])
    if id_ == "grad-accum-not-scaled":
        return e(steps=[step(i, 2.0 * 0.8**i, n_backward=4, loss_fn_sum=4 * 2.0 * 0.8**i,
                                 loss_fn_calls=4) for i in range(20)])
    calls = {
        "double-softmax": {"fn": "cross_entropy", "num_classes": 5, "input_min": 0.01, "input_max": 0.6, "rowsum_dev": 1e-7},
        "sigmoid-bceloss": {"fn": "binary_cross_entropy_with_logits", "input_min": 0.2, "input_max": 0.9,
                            "target_min": 0.0, "target_max": 1.0, "producer": "Sigmoid"},
        "nll-without-log-softmax": {"fn": "nll_loss", "num_classes": 5, "input_min": -2.0, "input_max": 3.0,
                                    "logsumexp_absmax": 3.5, "rowsum_dev": 2.0},
        "ce-target-form": {"fn": "cross_entropy", "num_classes": 5, "input_min": -1.0, "input_max": 1.0, "rowsum_dev": 1.0,
                           "target_float": True, "target_rowsum_dev": 0.4, "target_min": 0.1, "target_max": 1.0},
        "wrong-loss-formula": {"fn": "mse_loss", "input_shape": [32, 1], "target_shape": [32], "shape_mismatch": True,
                               "broadcast_shape": [32, 32], "target_std": 1.0, "target_mean": 0.0},
        "padding-in-loss": {"fn": "cross_entropy", "num_classes": 32, "target_float": False, "target_top_value": 0,
                            "target_top_frac": 0.6, "ignore_index": -100, "input_min": -1, "input_max": 1, "rowsum_dev": 1,
                            "target_shape": [368]},
        "unnormalized-targets": {"fn": "mse_loss", "target_mean": 3e5, "target_std": 2e4, "target_absmax": 4e5},
        "label-leakage": {"fn": "cross_entropy", "leak": {"column": 3, "corr": 1.0, "equal": True, "n_features": 20}},
        "class-imbalance-collapse": {"fn": "cross_entropy", "num_classes": 3, "target_float": False, "target_top_value": 0,
                                     "target_top_frac": 0.85, "target_n_unique": 3, "pred_top_value": 0,
                                     "pred_top_frac": 1.0, "step": 19},
    }
    if id_ in calls:
        c = {"step": 0, **calls[id_]}
        return e(FLAT if id_ in ("unnormalized-targets", "class-imbalance-collapse") else None, loss_calls=[c])
    if id_ == "frozen-param-in-optimizer":
        s = [step(i, 2.0 * 0.8**i) for i in range(20)]
        s[1]["params"] = [{"name": "backbone.0.weight", "requires_grad": False, "update": 0.01, "param": 1.0, "dim": 2,
                           "numel": 64, "grad": None}]
        return e(steps=s)
    if id_ == "frozen-bn-stats-drift":
        return e(bn={"layers": [{"name": "backbone.1", "frozen_affine": True, "training": True, "drift": 0.3}]})
    if id_ == "dead-relu":
        return e(FLAT, acts=[{"act": "relu", "layer": "body.1", "step": 0, "dead_frac": 0.95, "units": 64}])
    if id_ == "saturated-activations":
        return e(FLAT, acts=[{"act": "tanh", "layer": "body.1", "step": 0, "saturated_frac": 0.8}])
    rows = [{"name": f"body.{i}.weight", "dim": 2, "numel": 100, "grad": g, "param": 1.0, "requires_grad": True}
            for i, g in enumerate([1e-9, 1e-6, 1e-3, 1.0])]
    if id_ == "vanishing-gradients":
        s = [step(i, 1.6) for i in range(20)]
        s[0]["params"] = rows
        return e(steps=s)
    if id_ == "module-gradient-outlier":
        s = [step(i, 1.6) for i in range(20)]
        s[0]["params"] = [dict(r, grad=1.0) for r in rows] + [{"name": "mel_scale", "dim": 1, "numel": 80, "grad": 500.0,
                                                                "param": 1.0, "requires_grad": True}]
        return e(steps=s)
    if id_ == "exploding-gradients":
        return e(steps=[step(i, 1.6, grad_norm=10.0**i) for i in range(8)])
    if id_ == "bad-init":
        return e([30.0 * 0.8**i for i in range(20)])
    if id_ == "unnormalized-inputs":
        return e(inputs=[{"step": 0, "float": True, "mean": 120.0, "std": 70.0, "absmax": 255.0, "shape": [32, 784]}])
    if id_ == "stale-batch":
        return e(loaders=[{"index": 0, "len": 16, "batches": 1, "iters": 1}])
    if id_ == "spectral-norm-uninitialized":
        recs = [{"kind": "specnorm", "layer": "0", "n": 0, "step": s, "estimate": 0.05, "sigma": 1.1, "ratio": 22.0,
                 "train_forwards": 0, "measured": s + 1} for s in range(3)]
        return e(records={"specnorm": recs})
    if id_ == "attention-mask-inverted":
        recs = [{"kind": "attnmask", "via": "nn.MultiheadAttention", "step": 0, "rows": 32, "keys": 16,
                 "match": "inverted", "pad": 0, "side": "end", "allowed_frac": 0.4, "fully_masked_rows": 0}]
        return e(records={"attnmask": recs})
    if id_ == "attention-softmax-wrong-axis":
        recs = [{"kind": "softmaxuse", "step": 0, "right": False, "dim": 2, "contracted": 3, "shape": [8, 4, 16, 16],
                 "operand": 0, "sum_dev": 0.8}]
        return e(records={"softmaxuse": recs})
    if id_ == "positional-encoding-unused":
        recs = [{"kind": "posblind", "step": 0, "dead": ["pos"], "seq_len": 12, "per_token": False,
                 "rel_diff": 3e-7, "blind": True}]
        return e(records={"posblind": recs})
    if id_ == "dropout-too-high":
        recs = [{"kind": "dropgap", "step": s, "clean": c, "noisy": 1.5, "p_max": 0.75, "calls": 3}
                for s, c in ((0, 1.4), (10, 0.6), (15, 0.4))]
        return e(records={"dropgap": recs})
    if id_ in DISTRIBUTED:  # two ranks' records (probe/ddp_record.py), merged as probe/ranks.py does
        return e(world_size=2, ranks=[{"rank": r, "by": DISTRIBUTED[id_](r)} for r in (0, 1)])
    raise KeyError(id_)


def _ddp(r, **kw):
    return [{"step": s, "rank": r, "params": 1.0 + s, "grads": 1.0, "ddp": True, "backward": 1, "backward_synced": 1,
             **kw} for s in range(4)]


DISTRIBUTED = {
    "replicas-out-of-sync": lambda r: {"ddp": [dict(x, params=x["params"] + r) for x in _ddp(r)]},
    "grad-allreduce-not-averaged": lambda r: {"ddp": _ddp(r, reduced=1, reduced_pre=1.0 + r, reduced_post=3.0)},
    "no-sync-never-synced": lambda r: {"ddp": _ddp(r, backward_synced=0)},
    "sampler-epoch-not-set": lambda r: {"sampler": [{"index": 0, "iter": i, "epoch": 0, "fp": 11, "shuffle": True,
                                                     "n": 8, "head": [1, 0]} for i in range(2)]},
    "unused-branch-untrained": lambda r: {"ddp": [dict(x, find_unused=True) for x in _ddp(r) * 3],
                                          "params": [{"n_with_grad": 4, "unused": ["module.aux.weight"], "n_unused": 1}]},
}


@pytest.mark.parametrize("id_", detector_ids())
def test_detector_fires_on_its_bug(id_):
    found = ids(_bug(id_))
    assert id_ in found, found


@pytest.mark.parametrize("id_", detector_ids())
def test_detector_alone_on_reference(id_):
    """Only the registered module for id_ decides; the healthy reference must not trigger it."""
    mod = importlib.import_module(f"traintriage.probe.detectors.{id_.replace('-', '_')}")
    assert [f for f in mod.detect(ev_with()) if f.severity != "info"] == []
    found = mod.detect(_bug(id_))
    assert found and found[0].id == id_ and found[0].evidence, found
    assert found[0].ref.endswith(f"#{id_}")


def test_registry_ids_are_catalogue_ids():
    from traintriage.catalogue import load_catalogue

    cat = load_catalogue()
    missing = [i for i in detector_ids() if i not in cat]
    assert not missing, missing


def test_registry_has_no_duplicates():
    assert len(REGISTRY) == len(set(REGISTRY))


def test_overfit_summary_chance_and_ratio():
    of = ev_with([1.6, 0.8, 0.4, 0.2, 0.1])["overfit"]
    assert of["chance"] == pytest.approx(math.log(5)) and of["passed"] is True
    assert of["ratio"] == pytest.approx((0.4 + 0.2 + 0.1) / 3 / 1.6)
    assert ev_with(FLAT)["overfit"]["passed"] is False


def test_crash_mapping():
    from traintriage.probe.evidence import crash_findings

    def crash(msg, trainable=10):
        return {"crash": {"type": "RuntimeError", "message": msg}, "roots": [{"n_trainable": trainable}]}

    assert crash_findings(crash("element 0 of tensors does not require grad and does not have a grad_fn"))[0].id == \
        "loss-detached"
    assert crash_findings(crash("element 0 of tensors does not require grad and does not have a grad_fn", 0))[0].id == \
        "no-trainable-params"
    assert crash_findings(crash("Target 5 is out of bounds."))[0].id == "ce-target-form"
    assert crash_findings(crash("Error(s) in loading state_dict for Net:\n size mismatch for fc.weight"))[0].id == \
        "state-dict-shape-mismatch"
    assert crash_findings(crash("mat1 and mat2 shapes cannot be multiplied")) == []


def _pad_call(**pad):
    p = {"pad_id": 0, "side": "right", "pad_frac": 0.7, "target_at_pad": 0, "target_at_pad_frac": 1.0,
         "ignored_frac": 0.0, "rows_padded": 30, "rows": 32, **pad}
    return {"fn": "cross_entropy", "num_classes": 5, "target_float": False, "target_top_value": 0,
            "target_top_frac": 0.7, "ignore_index": -100, "step": 0, "pad": p}


def test_padding_from_input_tokens_with_few_classes():
    """A 5-tag tagger: too few classes for the frequency rule, but the input tokens show the padding."""
    assert "padding-in-loss" in ids(ev_with(loss_calls=[_pad_call()]))
    # the same padding, its targets set to ignore_index: healthy
    assert ids(ev_with(loss_calls=[_pad_call(target_at_pad=-100, ignored_frac=1.0)])) == []
    # little padding: not worth an alarm
    assert ids(ev_with(loss_calls=[_pad_call(pad_frac=0.03)])) == []


def _masked_call(ignored: int, ignore_index: int = -1, n: int = 352):
    return {"fn": "cross_entropy", "num_classes": 10, "target_float": False, "target_top_value": 3,
            "target_top_frac": 0.12, "ignore_index": ignore_index, "step": 0, "target_shape": [n],
            "n_targets": n - ignored, "target_min": -1 if ignored else 0, "target_max": 9}


def test_an_ignore_index_no_target_ever_holds_is_a_mask_never_applied():
    """Issue 12: prompt labels left unmasked in a minGPT-style loss (ignore_index=-1, no label is ever -1)."""
    bug = ev_with(loss_calls=[_masked_call(0) for _ in range(4)])
    (f,) = [f for f in run_detectors(bug)[0] if f.id == "padding-in-loss"]
    assert f.severity == "warning" and "ignore_index=-1" in f.message and "1408 targets" in f.message
    # the fix: the prompt positions are -1 in every batch
    assert "padding-in-loss" not in ids(ev_with(loss_calls=[_masked_call(160) for _ in range(4)]))
    # look-alikes: some batches have nothing to mask; PyTorch's default ignore_index (no intent stated);
    # too few batches to say "never"
    some = [_masked_call(0), _masked_call(0), _masked_call(40), _masked_call(0)]
    assert "padding-in-loss" not in ids(ev_with(loss_calls=some))
    assert "padding-in-loss" not in ids(ev_with(loss_calls=[_masked_call(0, -100) for _ in range(4)]))
    assert "padding-in-loss" not in ids(ev_with(loss_calls=[_masked_call(0) for _ in range(2)]))


def test_pad_check_reads_padding_from_tokens():
    import torch
    from traintriage.probe.detectors.padding_in_loss import _pad_check

    torch.manual_seed(0)
    toks = torch.randint(1, 20, (8, 10))
    tags = torch.randint(1, 5, (8, 10))
    for i in range(8):
        toks[i, 3 + i % 5:] = 0
        tags[i, 3 + i % 5:] = 0
    got = _pad_check(toks, tags.reshape(-1), -100)
    assert got["pad_id"] == 0 and got["side"] == "right" and got["target_at_pad"] == 0 and got["ignored_frac"] == 0
    assert got["pad_frac"] == pytest.approx(float((toks == 0).float().mean()))
    tags[toks == 0] = -100
    assert _pad_check(toks, tags, -100)["ignored_frac"] == 1.0
    # no padding: a fixed-length batch whose last column is arbitrary tokens
    assert _pad_check(torch.randint(1, 20, (8, 10)), tags, -100) is None


@pytest.mark.parametrize(("id_", "phrase"), [
    ("lr-too-low", r"by only 1e-05 % of their norm \(\|\|ΔW\|\|/\|\|W\|\| = 1e-07; healthy is about 0.1 %"),
    ("lr-too-high", r"by 30 % of their norm \(\|\|ΔW\|\|/\|\|W\|\| = 0.3; healthy is about 0.1 %"),
    ("dead-relu", r"^95 % of the 64 units of the ReLU at 'body.1' output 0"),
])
def test_messages_say_numbers_with_their_unit(id_, phrase):
    """Issue 19: 'moved the weights by 1 of their norm' and '55% of the units of 3' left the reader to guess."""
    import re

    (f,) = [f for f in run_detectors(_bug(id_))[0] if f.id == id_]
    assert re.search(phrase, f.message), f.message

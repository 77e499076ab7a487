"""In the child process: install hooks, run the user's unmodified script, stop after N optimizer steps.

Run as ``python -m traintriage.probe.harness CONFIG.json``. The config names the script, its argv, the
mode (``overfit`` replays the first batch of every DataLoader; ``observe`` changes nothing the script
sees), the number of optimizer steps, the evidence file and, optionally, which checks are on (`checks`).
Evidence is written as JSON lines, flushed record by record, so whatever was measured before a hang or a
kill survives it; the parent (runner.py) turns the records into one evidence dict and the detectors turn
that into findings.

This module only installs the hooks; each one calls the core (core.py: `Recorder`), which keeps the shared
per-step context and hands the event to the checks subscribed to it (detectors/<check>.py: `Recording`).

Order matters (DESIGN.md): every hook is installed before any user code runs, so a model built or
compiled by the script is already instrumented. We never register global *backward* module hooks: they
break modules that modify their input in place (``nn.ReLU(inplace=True)``); gradients are read from
``param.grad`` right after ``torch.autograd.backward`` returns instead.
"""

from __future__ import annotations

import json
import os
import runpy
import sys
import traceback
from typing import Any

from traintriage.probe.check import StopProbe, _tolist
from traintriage.probe.core import Recorder
from traintriage.probe.quiet import Quiet

__all__ = ["Recorder", "StopProbe", "install", "main"]

# -------------------------------------------------------------------- install
LOSS_FUNCTIONS = ("cross_entropy", "nll_loss", "binary_cross_entropy", "binary_cross_entropy_with_logits",
                  "mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss", "kl_div", "poisson_nll_loss",
                  "gaussian_nll_loss")


def install(rec: Recorder) -> None:
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
    import torch.optim as optim
    from torch.nn.modules import module as module_mod
    from torch.optim import lr_scheduler

    import traintriage.probe.state as state

    state.recorder = rec
    if rec.cfg.get("checks"):  # only/skip turned some checks off: the parent's judging skips them too
        rec.emit("checks", on=[c.id for c in rec.checks], off=rec.cfg["checks"].get("off", []))

    # 1. global module forward hooks (forward, never backward); lifted for the inner modules of a model's forward
    # that no check reads (probe/quiet.py)
    h_pre = module_mod.register_module_forward_pre_hook(rec.fwd_pre)
    h_post = module_mod.register_module_forward_hook(rec.fwd_post)
    rec.quiet = Quiet(rec, h_pre.id, h_post.id)

    # 2. global optimizer step hooks
    from torch.optim import optimizer as optimizer_mod

    optimizer_mod.register_optimizer_step_pre_hook(rec.opt_pre)
    optimizer_mod.register_optimizer_step_post_hook(rec.opt_post)

    # 3. torch.autograd.backward (Tensor.backward calls it through the module attribute)
    orig_backward = torch.autograd.backward

    def backward(tensors: Any, *a: Any, **k: Any) -> Any:
        rec.before_backward(tensors)
        if rec.cfg.get("grads"):  # traintriage grads: decompose while the graph is alive (probe/grads_record.py)
            from traintriage.probe import grads_record

            grads_record.child_hook(rec, tensors)
        out = orig_backward(tensors, *a, **k)
        rec.after_backward()
        return out

    backward.__wrapped__ = orig_backward  # type: ignore[attr-defined]
    torch.autograd.backward = backward

    if rec.cfg.get("grads"):  # traintriage grads: name the loss's terms where the script makes them
        from traintriage.probe import grads_record

        grads_record.install(rec)

    # 4. class-level wrappers
    orig_opt_zero = optim.Optimizer.zero_grad

    def opt_zero_grad(self: Any, set_to_none: bool = True) -> Any:
        rec.on_zero_grad("optimizer", set_to_none)
        return orig_opt_zero(self, set_to_none)

    optim.Optimizer.zero_grad = opt_zero_grad
    orig_mod_zero = nn.Module.zero_grad

    def mod_zero_grad(self: Any, set_to_none: bool = True) -> Any:
        rec.on_zero_grad("module", set_to_none)
        return orig_mod_zero(self, set_to_none)

    nn.Module.zero_grad = mod_zero_grad
    # GradScaler.unscale_ rewrites the gradients without bumping their version counters: the step's gradient
    # norm must be measured again after it (core.Recorder.grads_unchanged)
    from torch.amp import grad_scaler

    orig_unscale = grad_scaler.GradScaler.unscale_

    def unscale_(self: Any, optimizer: Any) -> Any:
        rec.grads_touched = True
        return orig_unscale(self, optimizer)

    grad_scaler.GradScaler.unscale_ = unscale_
    orig_train = nn.Module.train

    def train(self: Any, mode: bool = True) -> Any:
        if rec.depth == 0:
            rec.on_train(self, mode)
        return orig_train(self, mode)

    nn.Module.train = train
    for cls in (lr_scheduler.LRScheduler, lr_scheduler.ReduceLROnPlateau):
        orig_step = cls.__dict__.get("step")
        if orig_step is None:
            continue

        def make(orig: Any) -> Any:
            def step(self: Any, *a: Any, **k: Any) -> Any:
                rec.on_sched_step(self)
                return orig(self, *a, **k)

            return step

        cls.step = make(orig_step)

    # 5. loss functions: nn.*Loss modules call these through `F.`, so one patch covers both
    for fname in LOSS_FUNCTIONS:
        orig = getattr(F, fname, None)
        if orig is None:
            continue

        def make_loss(name: str, fn: Any) -> Any:
            def loss(input: Any, target: Any = None, *a: Any, **k: Any) -> Any:  # noqa: A002
                out = fn(input, target, *a, **k)
                rec.loss_call(name, input, target, k, out)
                if rec.cfg.get("grads"):  # traintriage grads --ablate: this term's contribution -> 0
                    from traintriage.probe import grads_record

                    out = grads_record.ablate_hook(rec, name, out)
                return out

            loss.__wrapped__ = fn  # type: ignore[attr-defined]
            loss._traintriage_hook = True  # type: ignore[attr-defined]  # probe/term_trace.py calls fn
            loss.__name__ = name
            return loss

        setattr(F, fname, make_loss(fname, orig))

    # 6. DataLoader: count batches; in overfit mode replay the first batch
    from torch.utils.data import DataLoader

    orig_iter = DataLoader.__iter__

    def dl_iter(self: Any) -> Any:
        return rec.loader_iter(self, orig_iter(self))

    DataLoader.__iter__ = dl_iter

    # 7. what single checks patch for themselves (e.g. stale-batch watches torch.stack)
    for c in rec.checks:
        c.child_install(rec)

    # 8. keep the user's files untouched: writes go to the probe's folder (sandbox.py refuses the rest)
    from traintriage.probe.fs_redirect import redirect_writes

    redirect_writes(rec.sandbox)

    # 8. distributed: the script's own all_reduce and DistributedSampler epochs (probe/ddp_record.py)
    __import__("traintriage.probe.ddp_record", fromlist=["install"]).install(rec)


def main(argv: list[str]) -> None:
    with open(argv[0], encoding="utf-8") as f:
        cfg = json.load(f)
    sys.dont_write_bytecode = True  # no __pycache__ in the user's tree
    from traintriage.probe.launch import child_rank, rank_evidence

    rank = child_rank(cfg)  # under torchrun: each rank writes its own evidence file
    if rank:
        cfg["evidence"] = str(rank_evidence(cfg["evidence"], rank))
    rec = Recorder(cfg)
    script = cfg["script"]
    try:
        install(rec)
        __import__("traintriage.probe.overrides", fromlist=["install"]).install(cfg)  # --lr-scale, --optimizer-impl
    except Exception:  # noqa: BLE001
        rec.emit("harness-error", error=traceback.format_exc(limit=5))
        raise
    sys.argv = [script, *cfg.get("args", [])]
    sys.path.insert(0, os.path.dirname(os.path.abspath(script)))
    rec.emit("start", script=script, mode=rec.mode, steps=rec.max_steps, torch=__import__("torch").__version__,
             rank=rank)
    status, extra = "finished", {}
    try:
        runpy.run_path(script, run_name="__main__")
    except StopProbe:
        status = "stopped"
    except SystemExit as e:
        code = e.code
        status, extra = "exit", {"exit_code": code if isinstance(code, (int, type(None))) else str(code)}
    except BaseException as e:  # noqa: BLE001 - the user's crash is evidence, not our failure
        if rec.stopped:
            status = "stopped"  # StopProbe wrapped by the user's code or a library
        else:
            status = "crashed"
            extra = {"crash": _crash(e, script)}
    if rec.n_steps_all == 0 and rec.n_backward and not rec.manual_losses:  # backward() without any step()
        try:
            rec.emit("manual", backward=rec.n_backward, losses=[float(x) for x in _tolist(rec.step_losses)])
        except Exception:  # noqa: BLE001 - evidence, not a reason to lose the end record
            pass
    rec.finish(status, **extra)
    rec.fh.flush()
    sys.stdout.flush()
    sys.stderr.flush()
    # do not wait for the script's non-daemon threads or atexit hooks (W&B, MLflow); under torchrun a crashed
    # rank exits non-zero so that the launcher ends the other ranks (they would wait at the next collective)
    os._exit(1 if rank is not None and status == "crashed" else 0)


def _crash(e: BaseException, script: str) -> dict[str, Any]:
    tb = traceback.extract_tb(e.__traceback__)
    script_abs = os.path.abspath(script)
    user = [f for f in tb if os.path.abspath(f.filename) == script_abs]
    where = f"{os.path.basename(user[-1].filename)}:{user[-1].lineno}" if user else None
    return {"type": type(e).__name__, "message": str(e)[:2000], "where": where,
            "line": user[-1].line if user else None,
            "traceback": "".join(traceback.format_exception(type(e), e, e.__traceback__, limit=-8))[-4000:]}


if __name__ == "__main__":
    main(sys.argv[1:])

"""The probe's core, in the child process: the per-step context and the dispatch of hook events to the checks.

harness.install() patches torch once (module forward hooks, autograd.backward, optimizer step hooks,
zero_grad, train(), scheduler step, the loss functions, DataLoader.__iter__) and every patch calls one method
of the `Recorder` here. The Recorder keeps what many checks read (the step counter, which steps are
sampled, the models and optimizers seen, the parameters and their names, the last model input, the
DataLoaders) and writes the records several detectors share; then it hands the event to the checks that
subscribed to it (probe/check.py: `Check`), in registry order. It knows no check by name: the list comes
from `detectors.recordings(cfg["checks"])`.

Cost per optimizer step (probe/steps.py): the gradients' total norm per backward (probe/flat.py: total_norm; one
``torch._foreach_norm`` over them before a step that records per-parameter rows), a copy
of the parameters before and after the step (into flat mirrors where the tensors are many and small,
probe/flat.py; per-group norms are then whole-buffer ops) and one device sync (``tolist`` of a single stacked
vector). Activation, loss-input and per-tensor statistics are taken only on sampled steps; an inner module's
forward calls only the checks that asked for that top-level forward's inner modules (Check.wants_inner), and
where none asked, on an unsampled step, the inner modules run without the global hooks (probe/quiet.py).
"""

from __future__ import annotations

import collections
import json
import time
from typing import Any

from traintriage.probe.check import (
    LOSS_CALLS_SAMPLED,
    STAT_MAX_ELEMS,
    Check,
    StopProbe,
    _finite,
    _first_tensor,
    _is_tensor,
    _json_default,
    _loss_cls,
    _plain,
    _stack_float,
    _strong,
    _tolist,
)
from traintriage.probe.flat import fits, foreach_norms, total_norm
from traintriage.probe.loaders import LOADER_TRACK_BATCHES, _CountingIter, _ReplayIter
from traintriage.probe.loss_stats import SYMMETRIC_LOSSES, _loss_stats
from traintriage.probe.steps import OptimizerSteps

# Keep the event sequence (F forward, B backward, Z zero_grad, S step, L scheduler) of the first steps.
EVENT_LOG_CHARS = 120


class Recorder(OptimizerSteps):
    """The probe's core: the per-step context every check reads (steps, sampling, models, optimizers, loaders,
    the last model input), the records several checks share (root, input, loss, backward, optimizer, step,
    params, scheduler, loaders, end), and the dispatch of each hook's event to the checks subscribed to it."""

    def __init__(self, cfg: dict[str, Any], checks: Any = None) -> None:
        if checks is None:
            from traintriage.probe.detectors import recordings

            checks = recordings(cfg.get("checks") or {})
        self.cfg = cfg
        self.mode = cfg.get("mode", "overfit")
        self.max_steps = int(cfg.get("steps", 40))
        self.sandbox = cfg["sandbox"]
        self.fh = open(cfg["evidence"], "a", buffering=1, encoding="utf-8")  # line-buffered
        self.t0 = time.perf_counter()
        self.n_steps = 0  # optimizer steps of the primary optimizer (the first one to step)
        self.n_steps_all = 0
        self.primary: int | None = None
        self.n_backward = 0
        self.bwd_since_step = 0
        self.zero_since_bwd = 0  # zero_grad calls after the last backward
        self.zero_since_step = 0
        self.depth = 0
        self.roots: dict[int, Any] = {}  # id -> weakref to top-level modules seen in forward
        self.root_order: list[int] = []
        self.opts: dict[int, dict[str, Any]] = {}
        self.tracked: list[Any] = []  # parameters we watch (roots' params + optimizer params)
        self.tracked_flat = False
        self.tracked_dirty = True
        self.names: dict[int, str] = {}
        self.ever_grad: set[int] = set()
        self.last_grad_norms: Any = None  # (param list, 0-d tensors) after the last backward
        self.grads_seen: Any = None  # (gradients, their version counters) the last norms were measured on
        self.grads_touched = False  # GradScaler.unscale_ ran since the last backward (harness.install)
        self.micro_totals: list[Any] = []  # total grad norm after each backward since the last step
        self.mode_deps: dict[int, list] = {}  # root id -> its dropout/BatchNorm layers (steps.py: _modes)
        self.pre_bwd_norm: Any = None
        self.step_losses: list[Any] = []
        self.loss_meta: dict[str, Any] = {}
        self.terms: list[dict[str, Any]] = []
        self.last_terms: list[dict[str, Any]] = []
        self.events = ""
        self.sampling = True  # step 0 is sampled
        self.loss_calls: dict[str, int] = {}
        self.last_loss_call: Any = None  # (fn, input, target, kwargs) of the latest loss call, until its backward
        self.mod_names: dict[int, str] = {}
        self.loaders: dict[int, dict[str, Any]] = {}
        self.last_input: Any = None
        self.sched_before_opt = 0
        self.sched_calls = 0
        self.scheds: dict[int, dict[str, Any]] = {}
        self.train_calls: list[bool] = []
        self.manual_losses: list[Any] = []
        self.stopped = False
        self.in_step: str | None = None  # the class of the optimizer whose step() is running (steps.py)
        self.checks = list(checks)
        # per event, the checks that override it (an event nobody subscribes to costs one empty loop)
        self.subs = {e: [c for c in self.checks if getattr(type(c), e) is not getattr(Check, e)] for e in Check.EVENTS}
        # the `forward` subscribers for an inner module's forward, off and on sampled steps (Check.forward_scope)
        self.fwd_inner = [c for c in self.subs["forward"] if c.forward_scope == "all"]
        self.fwd_sampled = [c for c in self.subs["forward"] if c.forward_scope == "sampled"]
        self.fwd_inner_now: list[Check] = []  # the inner-forward subscribers of the current top-level forward
        self.quiet: Any = None  # probe/quiet.py: set by harness.install, which owns the global forward hooks

    # ---------------------------------------------------------------- output
    def emit(self, kind: str, **rec: Any) -> None:
        rec["kind"] = kind
        rec["t"] = round(time.perf_counter() - self.t0, 4)
        try:
            self.fh.write(json.dumps(rec, default=_json_default) + "\n")
        except (TypeError, ValueError) as e:  # never let evidence kill the user's run
            self.fh.write(json.dumps({"kind": "harness-error", "error": repr(e)}) + "\n")

    def event(self, c: str) -> None:
        if len(self.events) < EVENT_LOG_CHARS:
            self.events += c

    # ---------------------------------------------------------------- parameters
    def _refresh_tracked(self) -> None:
        if not self.tracked_dirty:
            return
        seen: dict[int, Any] = {}
        multi = len(self.root_order) > 1
        for i, rid in enumerate(self.root_order):
            m = self.roots[rid]()
            if m is None:
                continue
            prefix = f"{type(m).__name__}{i}." if multi else ""
            for n, p in m.named_parameters():
                if id(p) not in seen:
                    seen[id(p)] = p
                    self.names.setdefault(id(p), prefix + n)
            for n, sub in m.named_modules():
                self.mod_names.setdefault(id(sub), (prefix + n) if n else (prefix.rstrip(".") or type(m).__name__))
        for o in self.opts.values():
            for gi, g in enumerate(o["ref"]().param_groups if o["ref"]() else []):
                for pi, p in enumerate(g["params"]):
                    if id(p) not in seen:
                        seen[id(p)] = p
                        self.names.setdefault(id(p), f"opt{o['index']}.group{gi}.param{pi}")
        self.tracked = list(seen.values())
        self.tracked_flat = fits(self.tracked)  # their gradients' total norm through one flat copy (probe/flat.py)
        self.tracked_dirty = False

    def name(self, p: Any) -> str:
        return self.names.get(id(p), f"param@{id(p):x}")

    # ---------------------------------------------------------------- forward hooks
    def fwd_pre(self, module: Any, args: Any) -> None:
        if self.depth == 0:
            self._top_forward(module, args)
        self.depth += 1

    def _top_forward(self, module: Any, args: Any) -> None:
        """A top-level forward starts: a model's (a module with parameters, not a loss) is recorded and its
        checks told; for any, which checks get its inner module forwards (Check.wants_inner; sampled steps add
        the forward_scope "sampled" ones). A model's forward whose inner modules nobody reads runs them without
        the global hooks (probe/quiet.py)."""
        model = not isinstance(module, _loss_cls()) and next(module.parameters(), None) is not None
        if model:
            rid = id(module)
            if rid not in self.roots:
                self.roots[rid] = _strong(module)  # kept alive: finish() reads them after the script returns
                self.root_order.append(rid)
                self.tracked_dirty = True
                self.emit("root", index=len(self.root_order) - 1, cls=type(module).__name__,
                          training=module.training, n_params=sum(p.numel() for p in module.parameters()),
                          n_trainable=sum(p.numel() for p in module.parameters() if p.requires_grad))
            self.event("F")
            x = _first_tensor(args)
            if x is not None:
                self._on_model_input(module, x)
            for c in self.subs["root_forward"]:
                c.root_forward(self, module)
        now = []
        for c in self.fwd_inner:
            try:
                if c.wants_inner(self, module):
                    now.append(c)
            except Exception as e:  # noqa: BLE001 - a check's question must never break the user's forward
                self.emit("harness-error", error=f"{c.id}: {e!r}")
                now.append(c)
        self.fwd_inner_now = now
        if model and not now and self.quiet is not None and not (self.sampling and self.fwd_sampled) \
                and self.quiet.allowed(module):
            self.quiet.lift(module)

    def fwd_post(self, module: Any, args: Any, out: Any) -> Any:
        self.depth = max(0, self.depth - 1)
        if self.depth == 0:
            subs = self.subs["forward"]
        else:
            subs = [*self.fwd_sampled, *self.fwd_inner_now] if self.sampling else self.fwd_inner_now
        for c in subs:
            try:
                c.forward(self, module, args, out)
            except Exception as e:  # noqa: BLE001 - a check's statistic must never break the user's forward
                self.emit("harness-error", error=f"{c.id}: {e!r}")
        if self.mode == "overfit" and module.training and isinstance(module, _dropout_cls()):
            # Overfit check: dropout would keep one batch from being memorised; make it the identity
            # without touching module.training, so the script's own train/eval mode stays visible.
            return args[0] if args else out
        return None

    def _on_model_input(self, module: Any, x: Any) -> None:
        import torch

        if isinstance(x, torch.Tensor) and x.numel() == 0:
            # an empty batch (a script forwarding an empty validation split) has no statistics: reductions such
            # as max() raise on it, and the probe must never break a run that works without it
            return
        self.last_input = x
        step = self.n_steps
        if not (self.sampling or step < 3) or not isinstance(x, torch.Tensor):
            return
        with torch.no_grad():
            flat = x.detach().reshape(-1)[:STAT_MAX_ELEMS]
            is_float = flat.is_floating_point()
            f = flat.float()
            vals = _tolist([f.mean(), f.std() if f.numel() > 1 else f.mean() * 0, f.abs().max(), f.min(),
                            f.sum(), (f * torch.arange(f.numel(), device=f.device, dtype=f.dtype) % 7).sum()])
        base = x._base if x._base is not None else None
        extra: dict[str, Any] = {}
        for c in self.subs["model_input"]:
            extra.update(c.model_input(self, module, x, step))
        self.emit("input", step=step, shape=list(x.shape), dtype=str(x.dtype), float=is_float,
                  mean=_finite(vals[0]), std=_finite(vals[1]), absmax=_finite(vals[2]), min=_finite(vals[3]),
                  fingerprint=[round(vals[4], 6), round(vals[5], 6)],
                  base_shape=list(base.shape) if base is not None else None, root=type(module).__name__, **extra)

    def _held(self) -> set[int]:
        """Ids of the parameters any optimizer holds (its param groups now)."""
        held: set[int] = set()
        for o in self.opts.values():
            opt = o["ref"]()
            for g in opt.param_groups if opt is not None else []:
                held.update(id(p) for p in g["params"])
        return held

    # ---------------------------------------------------------------- losses
    def on_term(self, name: str, value: Any, source: str = "term") -> None:
        if _is_tensor(value):
            self.terms.append({"name": name, "source": source, "tensor": value})

    def loss_call(self, fn: str, inp: Any, target: Any, kwargs: dict[str, Any], out: Any) -> None:
        import torch

        if getattr(out, "requires_grad", False) and not (_is_tensor(inp) and inp.numel() == 0):
            # a loss computed under no_grad, or over an empty batch (an empty validation split: the mean of
            # nothing is nan), can never be a training term of the loss that is backpropagated
            self.on_term(fn, out, source="loss")
            if self.cfg.get("grads") and self.terms:  # grads: a constant target marks a real/fake half (GAN)
                self.terms[-1]["target_const"] = _const_value(target)
        self.last_loss_call = (fn, inp, target, kwargs)
        n = self.loss_calls.get(fn, 0)
        self.loss_calls[fn] = n + 1
        if n >= LOSS_CALLS_SAMPLED and not self.sampling:
            return
        if not isinstance(inp, torch.Tensor) or not isinstance(target, torch.Tensor):
            return
        swapped = fn in SYMMETRIC_LOSSES and target.requires_grad and not inp.requires_grad
        if swapped:
            # loss_fn(target, prediction): the same value for a symmetric loss, so the script is right; the
            # prediction is the argument autograd tracks, and every check must read it as the input
            inp, target = target, inp
        try:
            rec = _loss_stats(fn, inp, target, kwargs)
        except Exception as e:  # noqa: BLE001 - statistics must never break the user's run
            rec = {"stats_error": repr(e)}
        if swapped:
            rec["args_swapped"] = True
        for c in self.subs["loss"]:
            c.loss(self, fn, n, inp, target, rec)
        if _is_tensor(out) and out.numel() == 1:
            rec["value"] = _finite(float(out.detach()))
            rec["requires_grad"] = bool(out.requires_grad)  # False: evaluated, never backpropagated
        rec["n_elements"] = int(inp.numel())  # 0: a loss over an empty batch (its mean is nan by definition)
        self.emit("loss", fn=fn, step=self.n_steps, call=n, **rec)

    # ---------------------------------------------------------------- backward
    def before_backward(self, tensors: Any) -> None:
        import torch

        if self.quiet is not None:
            self.quiet.restore()  # a forward left by a BaseException that skipped torch's always-called hooks
        self.depth = 0
        self.event("B")
        t = tensors[0] if isinstance(tensors, (list, tuple)) and tensors else tensors
        if isinstance(t, torch.Tensor):
            if t.numel() == 1:
                self.step_losses.append(t.detach().reshape(()))
            if self.n_backward < 3 or self.sampling:
                self.loss_meta = {"requires_grad": bool(t.requires_grad), "has_grad_fn": t.grad_fn is not None,
                                  "is_leaf": bool(t.is_leaf), "numel": int(t.numel()),
                                  "grad_fn": type(t.grad_fn).__name__ if t.grad_fn is not None else None}
                self.emit("backward", n=self.n_backward, step=self.n_steps, **self.loss_meta)
            for c in self.subs["backward_pre"]:
                c.backward_pre(self, t)
        self._refresh_tracked()
        if self.bwd_since_step == 0 and self.n_steps_all > 0:
            # First backward of a new step: gradients left over from the last step mean nobody zeroed them.
            left = [p.grad for p in self.tracked if p.grad is not None]
            if left:
                self.pre_bwd_norm = _stack_float(foreach_norms(left)).norm()
            else:
                self.pre_bwd_norm = None

    def after_backward(self) -> None:
        import torch

        self.n_backward += 1
        self.bwd_since_step += 1
        self.last_loss_call = None
        self.zero_since_bwd = 0
        for c in self.subs["backward"]:
            c.backward(self)
        # each gradient read once and kept (every `p.grad` read after a backward wraps a new Python object), and
        # its version counter read at once, while the tensors' headers are still in cache: read after the norm
        # pass below, 600 of them cost as much as half of it
        every = [p.grad for p in self.tracked]
        ps = [p for p, g in zip(self.tracked, every, strict=True) if g is not None]
        grads = [g for g in every if g is not None]
        versions = [g._version for g in grads]
        self.ever_grad.update(map(id, ps))
        self.grads_touched = False
        if ps:
            if self.rows_next():  # the coming step records per-parameter rows: a norm per gradient (one pass)
                each = foreach_norms(grads)
                self.last_grad_norms = (ps, each)
                self.micro_totals.append(_stack_float(each).norm())
            else:  # the total alone (probe/flat.py: one flat copy and one norm for many small gradients)
                self.last_grad_norms = (ps, None)
                self.micro_totals.append(total_norm(grads, self.tracked_flat))
            self.grads_seen = (grads, versions)
        else:
            self.grads_seen = None
        if not ps:
            self.last_grad_norms = ([], [])
            self.micro_totals.append(torch.zeros(()))
        if self.n_steps_all == 0 and self.n_backward >= self.max_steps + 3:
            # No optimizer.step() after this many backward passes: a manual update loop (or none at all).
            self.manual_losses = [float(x) for x in _tolist(self.step_losses[-self.max_steps:])]
            # inside step(closure) (LBFGS: each closure evaluation is one backward of its line search and
            # iterations) the evaluations are the optimizer's own steps, not gradients thrown away
            self.emit("manual", backward=self.n_backward, losses=self.manual_losses, inside_step=self.in_step)
            self.stopped = True
            raise StopProbe()

    def grads_unchanged(self, grads: list) -> bool:
        """Whether `grads` are the very gradients the last backward's norms were measured on, untouched since
        (same tensors, same version counters: clipping, in-place scaling and zeroing bump them; GradScaler's
        unscale_ does not, so the harness flags it). Then the step's gradient norm is the last micro total and
        one pass over the gradients is saved. A write through `.data` bypasses the version counter too: such
        a change made between backward() and step() is not seen in grad_norm_at_step."""
        seen = self.grads_seen
        if seen is None or self.bwd_since_step == 0 or self.grads_touched or not self.micro_totals:
            return False
        prev, versions = seen
        return (len(prev) == len(grads) and all(a is b for a, b in zip(prev, grads, strict=True))
                and [g._version for g in grads] == versions)

    # ---------------------------------------------------------------- zero_grad / train / scheduler
    def on_zero_grad(self, who: str, set_to_none: Any) -> None:
        self.event("Z")
        self.zero_since_bwd += 1
        self.zero_since_step += 1

    def on_train(self, module: Any, mode: bool) -> None:
        if len(self.train_calls) < 50:
            self.train_calls.append(bool(mode))

    def on_sched_step(self, sched: Any) -> None:
        if getattr(sched, "_step_count", 1) == 0:
            return  # the scheduler's own initial step inside __init__
        self.event("L")
        self.sched_calls += 1
        opt = getattr(sched, "optimizer", None)
        st = self.opts.get(id(opt)) if opt is not None else None
        if st is None or st["steps"] == 0:
            self.sched_before_opt += 1
        if id(sched) not in self.scheds:
            cfg = {k: _plain(v) for k, v in vars(sched).items()
                   if not k.startswith("_") and k not in ("optimizer", "base_lrs", "last_epoch") and _plain(v) is not None}
            self.scheds[id(sched)] = {"cls": type(sched).__name__, "config": cfg}
            self.emit("scheduler", cls=type(sched).__name__, config=cfg,
                      base_lrs=[_plain(x) for x in getattr(sched, "base_lrs", [])],
                      opt_steps_before=(st["steps"] if st else 0))

    # ---------------------------------------------------------------- DataLoader
    def loader_iter(self, loader: Any, real_iter: Any) -> Any:
        info = self.loaders.get(id(loader))
        if info is None:
            try:
                length = len(loader)
            except TypeError:
                length = None
            info = {"index": len(self.loaders), "iters": 0, "batches": 0, "len": length,
                    "workers": int(getattr(loader, "num_workers", 0) or 0),
                    "batch_size": getattr(loader, "batch_size", None), "first": None,
                    "per_iter_max": 0, "first_fps": [], "_recent": collections.deque(maxlen=LOADER_TRACK_BATCHES)}
            self.loaders[id(loader)] = info
        info["iters"] += 1
        self.emit("loader", index=info["index"], iters=info["iters"], batches=info["batches"], len=info["len"],
                  workers=info["workers"], batch_size=info["batch_size"], per_iter_max=info["per_iter_max"],
                  first_fps=info["first_fps"])
        if self.mode != "overfit":
            return _CountingIter(real_iter, info)
        return _ReplayIter(real_iter, info)

    def finish(self, status: str, **extra: Any) -> None:
        # when the run ended, on the host-wide monotonic clock: comparable across the ranks of a torchrun probe
        # (each rank's "t" counts from its own start), so probe/ranks.py can tell which rank failed first
        ended_at = time.monotonic()
        if self.quiet is not None:
            self.quiet.restore()
        try:
            if self.n_steps >= 1 or self.n_steps_all >= 1:
                self._params_summary()
        except Exception as e:  # noqa: BLE001
            self.emit("harness-error", error=repr(e))
        for c in self.subs["finish"]:
            try:
                c.finish(self)
            except Exception as e:  # noqa: BLE001 - one check's failure must not lose the end record
                self.emit("harness-error", error=f"{c.id}: {e!r}")
        self.emit("loaders", loaders=[{k: v for k, v in i.items() if k != "first" and not k.startswith("_")}
                                      for i in self.loaders.values()])
        self.emit("end", status=status, n_steps=self.n_steps, n_steps_all=self.n_steps_all,
                  n_backward=self.n_backward, sched_calls=self.sched_calls, sched_before_opt=self.sched_before_opt,
                  train_calls=self.train_calls, events=self.events, loss_calls=self.loss_calls, ended_at=ended_at,
                  **extra)


def _const_value(t: Any) -> float | None:
    """The single value of a tensor whose elements are all equal (a GAN's `valid` / `fake` labels), else None."""
    import torch

    if not isinstance(t, torch.Tensor) or t.numel() == 0 or t.is_complex():
        return None
    flat = t.detach().reshape(-1)
    v = flat[0]
    return float(v) if bool((flat == v).all()) else None


def _dropout_cls() -> type:
    import torch.nn as nn

    return nn.modules.dropout._DropoutNd

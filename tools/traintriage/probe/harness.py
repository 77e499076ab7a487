"""In the child process: install hooks, run the user's unmodified script, stop after N optimizer steps.

Run as ``python -m traintriage.probe.harness CONFIG.json``. The config names the script, its argv, the
mode (``overfit`` replays the first batch of every DataLoader; ``observe`` changes nothing the script
sees), the number of optimizer steps, and the evidence file. Evidence is written as JSON lines, flushed
record by record, so whatever was measured before a hang or a kill survives it; the parent
(runner.py) turns the records into one evidence dict and the detectors turn that into findings.

Order matters (DESIGN.md): every hook is installed before any user code runs, so a model built or
compiled by the script is already instrumented. We never register global *backward* module hooks: they
break modules that modify their input in place (``nn.ReLU(inplace=True)``); gradients are read from
``param.grad`` right after ``torch.autograd.backward`` returns instead.

Cost per optimizer step: a few ``torch._foreach_*`` calls over the parameters, one copy of the
parameters into a preallocated buffer (for the update norm), and one device sync (``tolist`` of a
single stacked vector). Activation and loss-input statistics are taken only on sampled steps.
"""

from __future__ import annotations

import builtins
import collections
import io
import json
import math
import os
import runpy
import shutil
import sys
import time
import traceback
import weakref
from typing import Any

# Steps on which activation / loss-input statistics are sampled (plus the last step). Sampling keeps the
# per-step overhead to the foreach norms; the first steps show the init, the last one the trained state.
ACT_SAMPLE_STEPS = (0, 1)
# How many calls of each loss function get full input/target statistics; later calls only on sampled steps.
LOSS_CALLS_SAMPLED = 3
# At most this many elements go into a statistics reduction for one tensor (a cheap, bounded sample).
STAT_MAX_ELEMS = 1 << 20
# Values this close to a saturating activation's bound count as saturated: SageMaker Debugger's
# tanh/sigmoid saturation rule uses 97.5 % of the range as its default bound.
SATURATION_BOUND = 0.975
# Keep the event sequence (F forward, B backward, Z zero_grad, S step, L scheduler) of the first steps.
EVENT_LOG_CHARS = 120
# Evaluation passes (forwards of a trained model with autograd off) in training mode: the BatchNorm running
# statistics are compared before/after on this many such passes per interval between optimizer steps, over at
# most this many BatchNorm layers each (one clone and one device sync per sampled pass; the rest are counted).
EVAL_FWD_SAMPLED = 4
EVAL_FWD_BN = 8
# Frozen tensors held by an optimizer that are checked for being constant (all elements equal) at its first step.
FROZEN_CONST_MAX = 500
# stale-batch: the real first batch of this many fresh iterators per DataLoader is fingerprinted, so a loop that
# builds a new iterator every step over an unshuffled loader shows the same first batch each time (in overfit
# mode too: the fingerprint is taken from the real iterator, not from the replayed batch).
LOADER_FP_ITERS = 4
# stale-batch: the last this-many batches each DataLoader handed out are remembered (weak references) so the
# model's input can be traced to the batch it came from, and a batch fed again steps later is recognised.
LOADER_TRACK_BATCHES = 8


def _strong(obj: Any) -> Any:
    """A callable returning obj, used where a weakref would die with the script's locals."""
    return lambda: obj


def _loss_cls() -> type:
    import torch.nn as nn

    return nn.modules.loss._Loss


class StopProbe(BaseException):
    """Raised from the optimizer step post-hook after N steps; a BaseException so `except Exception`
    in the user's script cannot swallow it."""


def _is_tensor(x: Any) -> bool:
    import torch

    return isinstance(x, torch.Tensor)


def _first_tensor(obj: Any, depth: int = 0) -> Any:
    import torch

    if isinstance(obj, torch.Tensor):
        return obj
    if depth > 3:
        return None
    if isinstance(obj, (list, tuple)):
        for o in obj:
            t = _first_tensor(o, depth + 1)
            if t is not None:
                return t
    if isinstance(obj, dict):
        for o in obj.values():
            t = _first_tensor(o, depth + 1)
            if t is not None:
                return t
    return None


def _tolist(ts: list) -> list[float]:
    """One sync for a list of 0-d tensors (per device)."""
    import torch

    if not ts:
        return []
    dev = ts[0].device
    if all(t.device == dev for t in ts):
        return torch.stack([t.float() for t in ts]).tolist()
    return [float(t) for t in ts]


def _finite(x: float) -> float | None:
    return x if math.isfinite(x) else None


class Recorder:
    def __init__(self, cfg: dict[str, Any]) -> None:
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
        self.tracked_dirty = True
        self.names: dict[int, str] = {}
        self.ever_grad: set[int] = set()
        self.last_grad_norms: Any = None  # (param list, 0-d tensors) after the last backward
        self.micro_totals: list[Any] = []  # total grad norm after each backward since the last step
        self.pre_bwd_norm: Any = None
        self.step_losses: list[Any] = []
        self.loss_meta: dict[str, Any] = {}
        self.terms: list[dict[str, Any]] = []
        self.last_terms: list[dict[str, Any]] = []
        self.events = ""
        self.sampling = True  # step 0 is sampled
        self.loss_calls: dict[str, int] = {}
        self.act_layers: dict[str, dict[str, Any]] = {}
        self.act_order: list[str] = []
        self.mod_names: dict[int, str] = {}
        self.loaders: dict[int, dict[str, Any]] = {}
        self.input_fps: list[Any] = []
        self.last_input: Any = None
        self.last_out: Any = None  # the last root module's output that carries a graph (wrong-loss-formula)
        self.lossgrad_done = 0  # backward passes whose output-to-loss gradient was measured
        self.lossgrad_tries = 0
        self.first_input: dict[str, Any] | None = None  # first model input traced to a DataLoader batch
        self.last_embed: Any = None  # (token ids, embedding output) of the last nn.Embedding on [batch, time] ids
        self.future_checks = 0
        self.sched_before_opt = 0
        self.sched_calls = 0
        self.scheds: dict[int, dict[str, Any]] = {}
        self.bn_state: list[dict[str, Any]] = []  # BatchNorm layers of the roots, frozen/train-mode per step
        self.bn_roots_seen = 0
        self.ef_roots: dict[int, dict[str, Any]] = {}  # root id -> trained?, dropout/BN layers (evaluation passes)
        self.ef_interval: dict[str, Any] = _new_interval()
        self.ef_pending: Any = None  # (root id, [(bn, running_mean before)]) of a sampled evaluation pass
        self.train_calls: list[bool] = []
        self.manual_losses: list[Any] = []
        self.stopped = False

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
        self.tracked_dirty = False

    def name(self, p: Any) -> str:
        return self.names.get(id(p), f"param@{id(p):x}")

    # ---------------------------------------------------------------- forward hooks
    def fwd_pre(self, module: Any, args: Any) -> None:
        if self.depth == 0 and not isinstance(module, _loss_cls()) and next(module.parameters(), None) is not None:
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
            if self.opts:
                self._eval_forward(module)
        self.depth += 1

    def fwd_post(self, module: Any, args: Any, out: Any) -> Any:
        self.depth = max(0, self.depth - 1)
        import torch.nn as nn

        if self.depth == 0 and self._lossgrad_wanted() and not isinstance(module, _loss_cls()):
            o = _first_tensor(out)
            self.last_out = o if o is not None and o.requires_grad and o.is_floating_point() else None
        if self.ef_pending is not None and self.depth == 0 and self.ef_pending[0] == id(module):
            self._eval_forward_done()

        if self.sampling and isinstance(out, __import__("torch").Tensor):
            self._act_stats(module, out)
        if (isinstance(module, nn.Embedding) and self.future_checks < FUTURE_CHECKS and args and _is_tensor(args[0])
                and args[0].dim() == 2 and _is_tensor(out) and out.requires_grad):
            self.last_embed = (args[0], out)  # label-leakage: can a position's output see its answer token?
        if self.mode == "overfit" and module.training and isinstance(module, nn.modules.dropout._DropoutNd):
            # Overfit check: dropout would keep one batch from being memorised; make it the identity
            # without touching module.training, so the script's own train/eval mode stays visible.
            return args[0] if args else out
        return None

    def _on_model_input(self, module: Any, x: Any) -> None:
        import torch

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
        try:
            extra = self._stale_check(module, x, step)
        except Exception as e:  # noqa: BLE001 - evidence must never break the user's run
            extra = {"stale_error": repr(e)}
        self.emit("input", step=step, shape=list(x.shape), dtype=str(x.dtype), float=is_float,
                  mean=_finite(vals[0]), std=_finite(vals[1]), absmax=_finite(vals[2]), min=_finite(vals[3]),
                  fingerprint=[round(vals[4], 6), round(vals[5], 6)],
                  base_shape=list(base.shape) if base is not None else None, root=type(module).__name__, **extra)

    def _stale_check(self, module: Any, x: Any, step: int) -> dict[str, Any]:
        """Is the model's input the very tensor a DataLoader handed out steps ago, unwritten since?

        Identity, not content: in overfit mode every replayed batch is a fresh clone, so the only way the model
        sees the same memory on two steps is that the script kept the tensor and fed it again.
        """
        import torch

        if not self.loaders or not torch.is_grad_enabled() or x.numel() == 0:
            return {}
        total = sum(i["batches"] for i in self.loaders.values())
        fi = self.first_input
        if fi is None:
            src = _loader_source(self.loaders.values(), x)
            if src is None:
                return {"loader_batches": total}
            self.first_input = {"x": x, "version": x._version, "key": _tensor_key(x), "root": id(module),
                                "step": step}
            return {"loader_src": src, "loader_batches": total, "stale_ref": True}
        if fi["root"] != id(module) or step <= fi["step"]:
            return {"loader_batches": total}
        same = _tensor_key(x) == fi["key"] and fi["x"]._version == fi["version"]
        return {"loader_batches": total, "same_as_first": same, "first_step": fi["step"]}

    def _held(self) -> set[int]:
        """Ids of the parameters any optimizer holds (its param groups now)."""
        held: set[int] = set()
        for o in self.opts.values():
            opt = o["ref"]()
            for g in opt.param_groups if opt is not None else []:
                held.update(id(p) for p in g["params"])
        return held

    def _eval_forward(self, module: Any) -> None:
        """A top-level forward with autograd off (an evaluation pass) of a model an optimizer trains: count it
        per interval between optimizer steps, with the dropout/BatchNorm layers it ran in training mode."""
        import torch
        import torch.nn as nn

        if torch.is_grad_enabled():
            return
        info = self.ef_roots.get(id(module))
        if info is None or info["n_opts"] != len(self.opts):
            held = self._held()
            info = {"n_opts": len(self.opts),
                    "trained": any(p.requires_grad and id(p) in held for p in module.parameters()),
                    "layers": [s for s in module.modules() if isinstance(s, (nn.modules.dropout._DropoutNd,
                                                                             nn.modules.batchnorm._BatchNorm))]}
            self.ef_roots[id(module)] = info
        if not info["trained"] or not info["layers"]:
            return
        drop = [s for s in info["layers"] if isinstance(s, nn.modules.dropout._DropoutNd) and s.training
                and float(getattr(s, "p", 0.0) or 0.0) > 0]
        bn = [s for s in info["layers"] if isinstance(s, nn.modules.batchnorm._BatchNorm) and s.training
              and s.track_running_stats and s.running_mean is not None]
        iv = self.ef_interval
        iv["n"] += 1
        if not drop and not bn:
            iv["n_eval_mode"] += 1
            return
        iv["n_train_mode"] += 1
        iv["root"] = iv["root"] or type(module).__name__
        iv["dropout_active"] = max(iv["dropout_active"], len(drop))
        iv["bn_updating"] = max(iv["bn_updating"], len(bn))
        iv["bn_cumulative"] = max(iv["bn_cumulative"], sum(1 for b in bn if b.momentum is None))
        if bn and iv["sampled"] < EVAL_FWD_SAMPLED:
            iv["sampled"] += 1
            self.ef_pending = (id(module), [(b, b.running_mean.detach().clone()) for b in bn[:EVAL_FWD_BN]])

    def _eval_forward_done(self) -> None:
        """After a sampled evaluation pass: how far it moved the BatchNorm running means (relative)."""
        import torch

        _, pairs = self.ef_pending
        self.ef_pending = None
        with torch.no_grad():
            rel = [(b.running_mean.detach().float() - s.float()).norm() / (s.float().norm() + 1e-8) for b, s in pairs]
            vals = _tolist(rel)
        if vals:
            self.ef_interval["bn_change"] = max(self.ef_interval["bn_change"], max(_finite(v) or 0.0 for v in vals))

    def _eval_interval_end(self, trailing: bool = False) -> None:
        iv = self.ef_interval
        if iv["n"]:
            self.emit("evalfwd", step=self.n_steps, trailing=trailing,
                      **{k: v for k, v in iv.items() if k != "sampled"})
        self.ef_interval = _new_interval()
        self.ef_pending = None

    def _act_stats(self, module: Any, out: Any) -> None:
        import torch
        import torch.nn as nn

        kind = None
        if isinstance(module, (nn.ReLU, nn.ReLU6, nn.LeakyReLU)):
            kind = "relu"
        elif isinstance(module, (nn.Tanh, nn.Hardtanh)):
            kind = "tanh"
        elif isinstance(module, nn.Sigmoid):
            kind = "sigmoid"
        elif isinstance(module, (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)):
            kind = "linear"
        if kind is None or out.numel() == 0 or not out.is_floating_point():
            return
        name = self.mod_names.get(id(module)) or f"{type(module).__name__}@{id(module):x}"
        key = f"{name}:{self.n_steps}"
        if key in self.act_layers:
            return
        with torch.no_grad():
            o = out.detach()
            if kind == "relu":
                # a unit is dead on this batch when it is <= 0 for every sample (dim 0 = batch)
                units = o.reshape(o.shape[0], -1) if o.dim() > 1 else o.reshape(1, -1)
                if o.dim() >= 3:  # conv maps: a channel is dead when all positions in all samples are off
                    units = o.transpose(0, 1).reshape(o.shape[1], -1).t()
                dead = (units > 0).sum(0) == 0
                vals = _tolist([dead.float().mean(), (o > 0).float().mean()])
                stat = {"dead_frac": vals[0], "active_frac": vals[1], "units": int(units.shape[1])}
            elif kind in ("tanh", "sigmoid"):
                f = o.float()
                if kind == "tanh":
                    sat = (f.abs() > SATURATION_BOUND).float().mean()
                else:
                    sat = ((f > SATURATION_BOUND) | (f < 1 - SATURATION_BOUND)).float().mean()
                stat = {"saturated_frac": _tolist([sat])[0]}
            else:
                f = o.float().reshape(-1)[:STAT_MAX_ELEMS]
                vals = _tolist([f.std() if f.numel() > 1 else f.abs().mean(), f.abs().mean()])
                stat = {"std": _finite(vals[0]), "absmean": _finite(vals[1])}
        self.act_layers[key] = {}
        self.emit("act", step=self.n_steps, layer=name, cls=type(module).__name__, act=kind, **stat)

    # ---------------------------------------------------------------- losses
    def on_term(self, name: str, value: Any, source: str = "term") -> None:
        if _is_tensor(value):
            self.terms.append({"name": name, "source": source, "tensor": value})

    def loss_call(self, fn: str, inp: Any, target: Any, kwargs: dict[str, Any], out: Any) -> None:
        import torch

        self.on_term(fn, out, source="loss")
        n = self.loss_calls.get(fn, 0)
        self.loss_calls[fn] = n + 1
        if n >= LOSS_CALLS_SAMPLED and not self.sampling:
            return
        if not isinstance(inp, torch.Tensor) or not isinstance(target, torch.Tensor):
            return
        try:
            rec = _loss_stats(fn, inp, target, kwargs)
        except Exception as e:  # noqa: BLE001 - statistics must never break the user's run
            rec = {"stats_error": repr(e)}
        if self.last_input is not None and n < LOSS_CALLS_SAMPLED:
            try:
                leak = _leak_check(self.last_input, target)
                if leak:
                    rec["leak"] = leak
            except Exception as e:  # noqa: BLE001
                rec["leak_error"] = repr(e)
            if fn in ("cross_entropy", "nll_loss") and self.last_embed is not None and self.future_checks < FUTURE_CHECKS \
                    and "leak" not in rec:
                self.future_checks += 1
                try:
                    leak = _answer_visible(*self.last_embed, inp, target, rec.get("ignore_index"))
                    if leak:
                        rec["leak"] = leak
                except Exception as e:  # noqa: BLE001
                    rec["leak_error"] = repr(e)
            if fn in ("cross_entropy", "nll_loss"):
                try:
                    pad = _pad_check(self.last_input, target, rec.get("ignore_index"))
                    if pad:
                        rec["pad"] = pad
                except Exception as e:  # noqa: BLE001
                    rec["pad_error"] = repr(e)
        if _is_tensor(out) and out.numel() == 1:
            rec["value"] = _finite(float(out.detach()))
        self.emit("loss", fn=fn, step=self.n_steps, call=n, **rec)

    # ---------------------------------------------------------------- backward
    def before_backward(self, tensors: Any) -> None:
        import torch

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
            if self.last_out is not None and self._lossgrad_wanted() and t.numel() == 1 and t.requires_grad:
                self._loss_grad_check(t)
        self._refresh_tracked()
        if self.bwd_since_step == 0 and self.n_steps_all > 0:
            # First backward of a new step: gradients left over from the last step mean nobody zeroed them.
            left = [p.grad for p in self.tracked if p.grad is not None]
            if left:
                self.pre_bwd_norm = torch.stack([g.float() for g in torch._foreach_norm(left)]).norm()
            else:
                self.pre_bwd_norm = None

    def _lossgrad_wanted(self) -> bool:
        return self.lossgrad_done < LOSSGRAD_CHECKS and self.lossgrad_tries < LOSSGRAD_TRIES

    def _loss_grad_check(self, loss: Any) -> None:
        """How the loss responds to the model's output (wrong-loss-formula): d(loss)/d(out) per sample, and
        the change of every sample's gradient when one output element of sample 0 moves (a Hessian-vector product).
        A per-sample loss (MSE, L1, CE) leaves the other samples' gradients alone; a loss of the batch-mean
        error gives every sample the same gradient and moves them all together. Graph kept for the real backward."""
        import torch

        out, self.last_out = self.last_out, None
        self.lossgrad_tries += 1
        if out.dim() < 1 or out.shape[0] < LOSSGRAD_MIN_BATCH or out.numel() > LOSSGRAD_MAX_ELEMS:
            return
        rec: dict[str, Any] = {"step": self.n_steps, "n": self.n_backward, "shape": list(out.shape)}
        try:
            with torch.enable_grad():
                try:
                    (g,) = torch.autograd.grad(loss, out, retain_graph=True, create_graph=True, allow_unused=True)
                except RuntimeError:  # an op between output and loss without double backward: first order only
                    (g,) = torch.autograd.grad(loss, out, retain_graph=True, allow_unused=True)
                if g is None:
                    return  # the loss does not use this output
                self.lossgrad_done += 1
                rec.update(_grad_structure(out, g))
                if g.requires_grad and rec.get("grad_max_row_norm"):
                    v = torch.zeros_like(out)
                    v.view(-1)[0] = 1.0  # one element of sample 0 (a whole row would vanish for shift-invariant CE)
                    (h,) = torch.autograd.grad(g, out, grad_outputs=v, retain_graph=True, allow_unused=True)
                    if h is not None:
                        hn = h.detach().float().reshape(out.shape[0], -1).norm(dim=1).tolist()
                        own, others = hn[0], sum(hn[1:]) / (len(hn) - 1)
                        rec.update(hvp_own=_finite(own), hvp_others=_finite(others),
                                   coupling=_finite(others / own) if own > 0 else None)
            rec["loss"] = _finite(float(loss.detach()))
            t = self._batch_target(out)
            if t is not None:  # the handbook's reference: the library losses on the same output and target
                with torch.no_grad():
                    d = out.detach().float().reshape(t.shape) - t.to(out.device).float()
                    v = _tolist([(d * d).mean(), d.abs().mean()])
                rec.update(target_shape=list(t.shape), ref_mse=_finite(v[0]), ref_l1=_finite(v[1]))
        except Exception as e:  # noqa: BLE001 - measurement must never break the user's run
            rec["error"] = f"{type(e).__name__}: {e}"[:300]
        self.emit("lossgrad", **rec)

    def _batch_target(self, out: Any) -> Any:
        """The target of a hand-written loss, when the model's input came from a DataLoader batch: the one
        other floating tensor of that batch with as many elements (and rows) as the output; else None."""
        x = self.last_input
        if x is None or not self.loaders or not _is_tensor(x):
            return None
        xptr = x.untyped_storage().data_ptr()
        for info in self.loaders.values():
            recent = [(ref(), n) for ref, n in info.get("_recent", [])]  # batch tensors handed out lately
            batch = next((n for t, n in reversed(recent) if t is not None and t.device == x.device
                          and t.untyped_storage().data_ptr() == xptr), None)
            if batch is None:
                continue
            cands = [t for t, n in recent if t is not None and n == batch and t.is_floating_point() and t.dim() >= 1
                     and t.untyped_storage().data_ptr() != xptr and t.numel() == out.numel()
                     and t.shape[0] == out.shape[0]]
            return cands[0] if len(cands) == 1 else None
        return None

    def after_backward(self) -> None:
        import torch

        self.n_backward += 1
        self.bwd_since_step += 1
        self.zero_since_bwd = 0
        self.last_embed = None
        ps = [p for p in self.tracked if p.grad is not None]
        for p in ps:
            self.ever_grad.add(id(p))
        if ps:
            norms = torch._foreach_norm([p.grad for p in ps])
            self.last_grad_norms = (ps, norms)
            self.micro_totals.append(torch.stack([g.float() for g in norms]).norm())
        else:
            self.last_grad_norms = ([], [])
            self.micro_totals.append(torch.zeros(()))
        if self.n_steps_all == 0 and self.n_backward >= self.max_steps + 3:
            # No optimizer.step() after this many backward passes: a manual update loop (or none at all).
            self.manual_losses = [float(x) for x in _tolist(self.step_losses[-self.max_steps:])]
            self.emit("manual", backward=self.n_backward, losses=self.manual_losses)
            self.stopped = True
            raise StopProbe()

    # ---------------------------------------------------------------- optimizer
    def _register_opt(self, opt: Any) -> dict[str, Any]:
        st = {"ref": _strong(opt), "index": len(self.opts), "steps": 0, "prev": None}
        self.opts[id(opt)] = st
        self.tracked_dirty = True
        self._refresh_tracked()
        groups = []
        for g in opt.param_groups:
            ps = g["params"]
            info = {k: _plain(v) for k, v in g.items() if k != "params" and _plain(v) is not None}
            info.update(
                n_params=len(ps), numel=sum(p.numel() for p in ps),
                n_frozen=sum(1 for p in ps if not p.requires_grad),
                frozen_const=self._constant_frozen(ps),
                frozen_names=[self.name(p) for p in ps if not p.requires_grad][:10],
                n_1d=sum(1 for p in ps if p.dim() <= 1),
                names_1d=[self.name(p) for p in ps if p.dim() <= 1][:10],
                names=[self.name(p) for p in ps][:20],
            )
            groups.append(info)
        self.emit("optimizer", index=st["index"], cls=type(opt).__name__, module=type(opt).__module__,
                  defaults={k: _plain(v) for k, v in opt.defaults.items() if _plain(v) is not None},
                  groups=groups)
        self.ef_roots = {}  # which roots are trained may have changed
        return st

    def _constant_frozen(self, ps: list) -> list[dict[str, Any]]:
        """Frozen tensors (requires_grad=False) in this group whose elements are all equal (zeros, ones): an
        untouched initial value, not pretrained weights."""
        import torch

        frozen = [p for p in ps if not p.requires_grad and p.numel() > 1 and p.is_floating_point()][:FROZEN_CONST_MAX]
        if not frozen:
            return []
        with torch.no_grad():
            mm = _tolist([t for p in frozen for t in torch.aminmax(p.detach().reshape(-1).float())])
        out = []
        for i, p in enumerate(frozen):
            lo, hi = mm[2 * i], mm[2 * i + 1]
            if lo == hi:
                out.append({"name": self.name(p), "value": _finite(lo), "numel": p.numel(), "shape": list(p.shape)})
        return out[:20]

    def _bn_track(self, held: set[int]) -> None:
        """At each optimizer step: the BatchNorm layers whose affine parameters no optimizer trains (they do not
        require grad, or no param group holds them) inside a model whose other parameters are trained, and
        whether they are in training mode, where every forward rewrites their running statistics. Their
        statistics are snapshot the first step that is seen; _bn_report compares them at the end."""
        import torch.nn as nn

        if len(self.root_order) != self.bn_roots_seen:
            self.bn_roots_seen = len(self.root_order)
            known = {id(r["ref"]()): r for r in self.bn_state}
            for rid in self.root_order:
                m = self.roots[rid]()
                for sub in m.modules() if m is not None else []:
                    if not isinstance(sub, nn.modules.batchnorm._BatchNorm) or sub.running_mean is None \
                            or sub.running_var is None:
                        continue
                    if id(sub) not in known:
                        known[id(sub)] = {"ref": weakref.ref(sub), "roots": [], "steps_frozen": 0,
                                          "steps_frozen_train": 0, "snap": None}
                        self.bn_state.append(known[id(sub)])
                    if rid not in known[id(sub)]["roots"]:
                        known[id(sub)]["roots"].append(rid)  # a backbone called alone, then inside the full model
        if not self.bn_state:
            return
        trained_root: dict[int, bool] = {}
        for r in self.bn_state:
            m = r["ref"]()
            affine = [p for p in (getattr(m, "weight", None), getattr(m, "bias", None)) if p is not None] \
                if m is not None else []
            if not affine or any(p.requires_grad and id(p) in held for p in affine):
                continue
            for rid in r["roots"]:
                if rid not in trained_root:
                    root = self.roots[rid]()
                    trained_root[rid] = root is not None and any(p.requires_grad and id(p) in held
                                                                 for p in root.parameters())
            if not any(trained_root[rid] for rid in r["roots"]):
                continue  # a teacher / EMA copy nobody trains: its mode is its own business
            r["steps_frozen"] += 1
            if m.training:
                r["steps_frozen_train"] += 1
                if r["snap"] is None:
                    nbt = m.num_batches_tracked
                    r["snap"] = (m.running_mean.detach().clone(), m.running_var.detach().clone(),
                                 int(nbt) if nbt is not None else None)

    def _bn_report(self) -> None:
        import torch

        rows = []
        for r in self.bn_state:
            m = r["ref"]()
            if m is None:
                continue
            row: dict[str, Any] = {"name": self.mod_names.get(id(m), type(m).__name__),
                                   "frozen_affine": r["steps_frozen"] > 0,
                                   "training": (r["steps_frozen_train"] > 0) if r["steps_frozen"] else bool(m.training),
                                   "steps_frozen": r["steps_frozen"], "steps_frozen_train": r["steps_frozen_train"],
                                   "momentum": m.momentum, "drift": None}
            if r["snap"] is not None:
                mean0, var0, nbt0 = r["snap"]
                with torch.no_grad():
                    d = _tolist([(m.running_mean.float() - mean0.float()).norm() / (mean0.float().norm() + 1e-8),
                                 (m.running_var.float() - var0.float()).norm() / (var0.float().norm() + 1e-8)])
                row.update(drift=_finite(d[0]), var_drift=_finite(d[1]))
                if nbt0 is not None and m.num_batches_tracked is not None:
                    row["updates"] = int(m.num_batches_tracked) - nbt0
            rows.append(row)
        rows.sort(key=lambda x: (not x["frozen_affine"], -(x.get("drift") or 0.0)))
        if rows:
            self.emit("bn", layers=rows[:50], n=len(rows), n_frozen=sum(1 for x in rows if x["frozen_affine"]))

    def opt_pre(self, opt: Any, args: Any, kwargs: Any) -> None:
        import torch

        st = self.opts.get(id(opt)) or self._register_opt(opt)
        if self.primary is None:
            self.primary = id(opt)
        self.event("S")
        ps = [p for g in opt.param_groups for p in g["params"]]
        st["params"] = ps
        st["group_sizes"] = [len(g["params"]) for g in opt.param_groups]
        st["flags"] = {"bwd_since_step": self.bwd_since_step, "zero_after_bwd": self.zero_since_bwd,
                       "zero_since_step": self.zero_since_step}
        with torch.no_grad():
            cur = [p.detach() for p in ps]
            if st["prev"] is None or len(st["prev"]) != len(cur):
                st["prev"] = [c.clone() for c in cur]
            else:
                torch._foreach_copy_(st["prev"], cur)
            with_grad = [p.grad for p in ps if p.grad is not None]
            st["n_grad_none"] = len(ps) - len(with_grad)
            st["step_grad"] = (torch.stack([g.float() for g in torch._foreach_norm(with_grad)]).norm()
                               if with_grad else torch.zeros(()))
        held = self._held()
        st["modes"] = self._modes(held)
        self._bn_track(held)

    def _modes(self, held: set[int]) -> list[dict[str, Any]]:
        """Each model's training flag and its dropout/BatchNorm layers; `trained`: an optimizer trains some of
        its parameters (a frozen backbone called on its own may sit in eval mode on purpose)."""
        import torch.nn as nn

        out = []
        for rid in self.root_order:
            m = self.roots[rid]()
            if m is None:
                continue
            dep = [s for s in m.modules() if isinstance(s, (nn.modules.dropout._DropoutNd,
                                                             nn.modules.batchnorm._BatchNorm))]
            out.append({"root": type(m).__name__, "training": bool(m.training), "mode_dependent": len(dep),
                        "mode_dependent_eval": sum(1 for s in dep if not s.training),
                        "trained": any(p.requires_grad and id(p) in held for p in m.parameters())})
        return out

    def opt_post(self, opt: Any, args: Any, kwargs: Any) -> None:
        import torch

        st = self.opts[id(opt)]
        st["steps"] += 1
        self.n_steps_all += 1
        ps = st["params"]
        sample = self.sampling or st["steps"] <= 2
        with torch.no_grad():
            cur = [p.detach() for p in ps]
            torch._foreach_sub_(st["prev"], cur)  # prev := before - after = -update
            upd = torch._foreach_norm(st["prev"]) if ps else []
            pn = torch._foreach_norm(cur) if ps else []
            gp, gn = self.last_grad_norms if self.last_grad_norms is not None else ([], [])
            losses = self.step_losses
            vec = [*upd, *pn, st["step_grad"], *self.micro_totals, *losses,
                   self.pre_bwd_norm if self.pre_bwd_norm is not None else torch.full((), -1.0),
                   *(gn if sample else [])]
            vals = _tolist(vec)
        k = len(ps)
        upd_v, pn_v = vals[:k], vals[k:2 * k]
        i = 2 * k
        step_grad = vals[i]
        i += 1
        micro = vals[i:i + len(self.micro_totals)]
        i += len(self.micro_totals)
        loss_v = vals[i:i + len(losses)]
        i += len(losses)
        pre_bwd = vals[i]
        i += 1
        gnorm_v = vals[i:] if sample else []
        # per group: ||update||, ||param||, relative update, lr actually applied, effective lr ratio
        groups = []
        j = 0
        for gi, g in enumerate(opt.param_groups):
            n = st["group_sizes"][gi] if gi < len(st["group_sizes"]) else len(g["params"])
            u = math.sqrt(sum(x * x for x in upd_v[j:j + n]))
            w = math.sqrt(sum(x * x for x in pn_v[j:j + n]))
            lr = g.get("lr")
            lr = float(lr) if lr is not None else None
            groups.append({"lr": lr, "update": u, "param": w, "rel_update": u / w if w > 0 else None})
            j += n
        rec: dict[str, Any] = {
            "opt": st["index"], "step": st["steps"] - 1,
            "loss": _finite(sum(loss_v) / len(loss_v)) if loss_v else None,
            "loss_first": _finite(loss_v[0]) if loss_v else None,
            "n_backward": len(micro), "micro_grad_norms": [_finite(m) for m in micro[:16]],
            "grad_norm": _finite(micro[-1]) if micro else None, "grad_norm_at_step": _finite(step_grad),
            "grads_none": st["n_grad_none"], "n_params": k,
            "pre_backward_grad_norm": _finite(pre_bwd) if pre_bwd >= 0 else None,
            "update_norm": math.sqrt(sum(x * x for x in upd_v)), "param_norm": math.sqrt(sum(x * x for x in pn_v)),
            "groups": groups, "modes": st["modes"], **st["flags"],
        }
        if rec["param_norm"] > 0:
            rec["rel_update"] = rec["update_norm"] / rec["param_norm"]
        if sample:
            rec["params"] = self._per_param(ps, upd_v, pn_v, gp, gnorm_v)
        if self.terms:
            rec["terms"] = self._term_values()
            fn_vals = [t["value"] for t in self.last_terms if t["source"] == "loss" and t["value"] is not None]
            rec["loss_fn_sum"], rec["loss_fn_calls"] = sum(fn_vals), len(fn_vals)
        self.emit("step", **rec)
        # reset per-step state
        self.micro_totals = []
        self.step_losses = []
        self.bwd_since_step = 0
        self.zero_since_step = 0
        self.pre_bwd_norm = None
        if id(opt) == self.primary:
            self._eval_interval_end()
            self.n_steps += 1
            self.sampling = self.n_steps in ACT_SAMPLE_STEPS or self.n_steps == self.max_steps - 1
            if self.n_steps == 1:
                self._params_summary()
            if self.n_steps >= self.max_steps:
                self.stopped = True
                raise StopProbe()

    def _term_values(self) -> list[dict[str, Any]]:
        ts = [t for t in self.terms if t["tensor"].numel() == 1]
        vals = _tolist([t["tensor"].detach().reshape(()) for t in ts])
        self.last_terms = [{"name": t["name"], "source": t["source"], "value": _finite(v)} for t, v in zip(ts, vals)]
        self.terms = []
        return self.last_terms[:12]

    def _per_param(self, ps: list, upd_v: list, pn_v: list, gp: list, gnorm_v: list) -> list[dict[str, Any]]:
        grad_of = {id(p): g for p, g in zip(gp, gnorm_v)}
        rows = []
        for p, u, w in zip(ps, upd_v, pn_v):
            rows.append({"name": self.name(p), "numel": p.numel(), "dim": p.dim(), "requires_grad": p.requires_grad,
                         "grad": _finite(grad_of[id(p)]) if id(p) in grad_of else None,
                         "update": _finite(u), "param": _finite(w)})
        # params with gradients that no optimizer holds
        held = {id(p) for o in self.opts.values() for p in o.get("params", [])}
        for p, g in zip(gp, gnorm_v):
            if id(p) not in held:
                rows.append({"name": self.name(p), "numel": p.numel(), "dim": p.dim(), "requires_grad": True,
                             "grad": _finite(g), "update": None, "param": None, "orphan": True})
        return rows[:400]

    def _params_summary(self) -> None:
        self._refresh_tracked()
        held = {id(p) for o in self.opts.values() for p in o.get("params", [])}
        root_params = []
        for rid in self.root_order:
            m = self.roots[rid]()
            if m is not None:
                root_params += list(m.parameters())
        orphans = [p for p in root_params if id(p) in self.ever_grad and id(p) not in held]
        unused = [p for o in self.opts.values() for p in o.get("params", [])
                  if p.requires_grad and id(p) not in self.ever_grad]
        self.emit("params", n_root_params=len(root_params),
                  n_root_trainable=sum(1 for p in root_params if p.requires_grad),
                  numel_root=sum(p.numel() for p in root_params),
                  numel_trainable=sum(p.numel() for p in root_params if p.requires_grad),
                  n_optimizer_params=len(held), n_with_grad=len(self.ever_grad),
                  orphans=[self.name(p) for p in orphans][:20], n_orphans=len(orphans),
                  orphan_numel=sum(p.numel() for p in orphans),
                  unused=[self.name(p) for p in unused][:20], n_unused=len(unused),
                  unused_numel=sum(p.numel() for p in unused),
                  n_optimizers=len(self.opts), events=self.events)

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
        try:
            if self.n_steps >= 1 or self.n_steps_all >= 1:
                self._params_summary()
            self._bn_report()
            self._eval_interval_end(trailing=True)
        except Exception as e:  # noqa: BLE001
            self.emit("harness-error", error=repr(e))
        self.emit("loaders", loaders=[{k: v for k, v in i.items() if k != "first" and not k.startswith("_")}
                                      for i in self.loaders.values()])
        self.emit("end", status=status, n_steps=self.n_steps, n_steps_all=self.n_steps_all,
                  n_backward=self.n_backward, sched_calls=self.sched_calls, sched_before_opt=self.sched_before_opt,
                  train_calls=self.train_calls, events=self.events, loss_calls=self.loss_calls, **extra)


def _handed_out(info: dict[str, Any], n_from_iter: int, batch: Any, real: Any = None) -> Any:
    """Book-keeping for one batch a DataLoader iterator hands out (n_from_iter: its index in this iterator).

    `real` is the batch the real iterator produced (differs from `batch` when overfit mode replays)."""
    info["batches"] += 1
    info["per_iter_max"] = max(info.get("per_iter_max", 0), n_from_iter + 1)
    if n_from_iter == 0 and len(info["first_fps"]) < LOADER_FP_ITERS:
        info["first_fps"].append(_batch_fp(batch if real is None else real))
    for t in _tensors(batch):
        info["_recent"].append((weakref.ref(t), info["batches"]))
    return batch


def _tensors(obj: Any, depth: int = 0, out: list | None = None) -> list:
    """The tensors in a batch (tuple/list/dict/namedtuple nesting), at most 8."""
    import torch

    out = [] if out is None else out
    if len(out) >= 8 or depth > 3:
        return out
    if isinstance(obj, torch.Tensor):
        out.append(obj)
    elif isinstance(obj, (list, tuple)):
        for o in obj:
            _tensors(o, depth + 1, out)
    elif isinstance(obj, dict):
        for o in obj.values():
            _tensors(o, depth + 1, out)
    return out


def _batch_fp(batch: Any) -> list[Any] | None:
    """Content fingerprint of a batch: shape, sum and a position-weighted sum of each of its first 4 tensors."""
    import torch

    ts = _tensors(batch)[:4]
    if not ts:
        return None
    try:
        with torch.no_grad():
            parts = []
            for t in ts:
                f = t.detach().reshape(-1)[:STAT_MAX_ELEMS].float()
                w = (torch.arange(f.numel(), device=f.device) % 7).float()
                parts += [f.sum(), (f * w).sum()]
            vals = _tolist(parts)
    except Exception:  # noqa: BLE001 - sparse/nested/meta tensors: no fingerprint
        return None
    return [[list(t.shape) for t in ts], [float(f"{v:.7g}") for v in vals]]


def _tensor_key(x: Any) -> tuple:
    """Which memory a tensor views: storage address, offset, shape, strides, dtype, device."""
    return (x.untyped_storage().data_ptr(), x.storage_offset(), tuple(x.shape), tuple(x.stride()), str(x.dtype),
            str(x.device))


def _loader_source(infos: Any, x: Any) -> dict[str, Any] | None:
    """The DataLoader batch whose memory x views (a batch tensor still alive: its address cannot be reused)."""
    ptr = x.untyped_storage().data_ptr()
    if not ptr:
        return None
    for info in infos:
        for ref, n in reversed(info["_recent"]):
            t = ref()
            if t is not None and t.device == x.device and t.untyped_storage().data_ptr() == ptr:
                return {"loader": info["index"], "batch": n}
    return None


def _new_interval() -> dict[str, Any]:
    """Counters of the evaluation passes between two optimizer steps (see Recorder._eval_forward)."""
    return {"n": 0, "n_eval_mode": 0, "n_train_mode": 0, "root": None, "dropout_active": 0, "bn_updating": 0,
            "bn_cumulative": 0, "bn_change": 0.0, "sampled": 0}


class _CountingIter:
    def __init__(self, it: Any, info: dict[str, Any]) -> None:
        self.it, self.info, self.n = it, info, 0

    def __iter__(self) -> Any:
        return self

    def __next__(self) -> Any:
        b = next(self.it)
        _handed_out(self.info, self.n, b)
        self.n += 1
        return b

    def __len__(self) -> int:
        return len(self.it)


class _ReplayIter:
    """Overfit mode: yield the loader's first batch (a fresh clone each time) for one epoch's length."""

    def __init__(self, it: Any, info: dict[str, Any]) -> None:
        self.it, self.info, self.i = it, info, 0

    def __iter__(self) -> Any:
        return self

    def __len__(self) -> int:
        return self.info["len"] if self.info["len"] is not None else len(self.it)

    def __next__(self) -> Any:
        info = self.info
        real = None
        if info["len"] is not None:
            if self.i >= info["len"]:
                raise StopIteration
            if info["first"] is None:
                info["first"] = real = next(self.it)
                self.it = None  # shuts the workers of the real iterator down
            elif self.i == 0 and self.it is not None and len(info["first_fps"]) < LOADER_FP_ITERS:
                # what this fresh iterator would really have handed out (stale-batch: the same first batch
                # from every new iterator of an unshuffled loader), then shut its workers down
                try:
                    real = next(self.it)
                except Exception:  # noqa: BLE001 - a failing real fetch only costs the fingerprint
                    real = None
                self.it = None
        else:  # no len(): keep the epoch as long as the real iterator's, but hand out the first batch
            b = real = next(self.it)
            if info["first"] is None:
                info["first"] = b
        out = _clone(info["first"])
        _handed_out(info, self.i, out, real if real is not None else info["first"])
        self.i += 1
        return out


def _clone(obj: Any) -> Any:
    import torch

    if isinstance(obj, torch.Tensor):
        return obj.clone()
    if isinstance(obj, tuple) and hasattr(obj, "_fields"):
        return type(obj)(*(_clone(o) for o in obj))
    if isinstance(obj, (list, tuple)):
        return type(obj)(_clone(o) for o in obj)
    if isinstance(obj, dict):
        return type(obj)((k, _clone(v)) for k, v in obj.items())
    return obj


def _plain(v: Any) -> Any:
    """JSON-friendly view of an optimizer/scheduler setting; None for things we don't report."""
    if isinstance(v, bool) or v is None:
        return v
    if isinstance(v, (int, float, str)):
        return v if not isinstance(v, float) or math.isfinite(v) else str(v)
    if isinstance(v, (list, tuple)) and len(v) <= 16 and all(isinstance(x, (int, float, bool, str)) for x in v):
        return list(v)
    if _is_tensor(v) and v.numel() == 1:
        return float(v)
    return None


def _json_default(o: Any) -> Any:
    if _is_tensor(o) and o.numel() == 1:
        return float(o)
    return repr(o)


# -------------------------------------------------------------------- loss-input statistics
# Autograd nodes that only move, select or re-type values: a loss input's producer is looked up through them
# (squeeze(-1), view, [:, 0], .float() leave a sigmoid's output a sigmoid's output).
PASS_THROUGH_OPS = {"Squeeze", "Unsqueeze", "View", "UnsafeView", "Reshape", "ReshapeAlias", "Select", "Slice",
                    "Expand", "Permute", "Transpose", "T", "Clone", "ToCopy", "Alias", "Index", "Contiguous"}
# How many pass-through nodes are followed before giving up (a bounded walk).
PRODUCER_DEPTH = 8


def _producer(t: Any) -> str | None:
    """The op that computed `t` (its autograd node without the Backward suffix), through pass-through ops:
    'Sigmoid', 'Addmm', 'Softmax', ... None for a tensor without a graph."""
    node = getattr(t, "grad_fn", None)
    for _ in range(PRODUCER_DEPTH):
        if node is None:
            return None
        name = type(node).__name__
        name = name[:name.rfind("Backward")] if "Backward" in name else name
        nxt = [f for f, _ in node.next_functions if f is not None]
        if name not in PASS_THROUGH_OPS or len(nxt) != 1:
            return name
        node = nxt[0]
    return None


# The model's output reaching a loss is analysed on the first backward passes only (the loss's structure does
# not change between steps): d(loss)/d(output) plus one Hessian-vector product, on the output-to-loss part of
# the graph only. Outputs larger than this (LM logits) are skipped: the formula bugs this looks for are in
# hand-written regression losses, and the extra copies would cost memory.
LOSSGRAD_CHECKS = 2
# Backward passes tried at most (an output the loss does not use, a batch too small): the check stays bounded.
LOSSGRAD_TRIES = 8
LOSSGRAD_MAX_ELEMS = 1 << 22
LOSSGRAD_MIN_BATCH = 4


def _grad_structure(out: Any, g: Any) -> dict[str, Any]:
    """Per-sample structure of d(loss)/d(out), rows = dim 0 (the batch)."""
    import torch

    with torch.no_grad():
        b = out.shape[0]
        gr = g.detach().float().reshape(b, -1)
        o = out.detach().float().reshape(b, -1)
        rn = gr.norm(dim=1)
        spread = (gr - gr.mean(0, keepdim=True)).norm(dim=1).max()
        a = gr.abs()
        am = a.mean(1)
        ok = am > 0
        elem_cv = (a[ok].std(1) / am[ok]).mean() if gr.shape[1] > 1 and bool(ok.any()) else torch.zeros(())
        v = _tolist([rn.max(), rn.mean(), rn.std() / rn.mean().clamp_min(1e-30), spread, elem_cv, a.mean(),
                     (o - o.mean(0, keepdim=True)).norm(dim=1).mean(), o.norm(dim=1).mean()])
    rec: dict[str, Any] = {"batch": int(b), "features": int(gr.shape[1]), "grad_max_row_norm": _finite(v[0]),
                           "grad_row_norm_mean": _finite(v[1]), "out_spread": _finite(v[6]),
                           "out_row_norm": _finite(v[7])}
    if v[0] and math.isfinite(v[0]) and v[0] > 0:
        rec.update(grad_row_norm_cv=_finite(v[2]), grad_row_spread=_finite(v[3] / v[0]),
                   grad_elem_cv=_finite(v[4]) if gr.shape[1] > 1 else None, grad_elem_absmean=_finite(v[5]))
    return rec


def _loss_stats(fn: str, inp: Any, target: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
    import torch

    with torch.no_grad():
        x = inp.detach()
        t = target.detach()
        rec: dict[str, Any] = {"input_shape": list(x.shape), "target_shape": list(t.shape),
                               "input_dtype": str(x.dtype), "target_dtype": str(t.dtype),
                               "target_float": t.is_floating_point(), "producer": _producer(inp)}
        xf = x.float()
        if fn in ("cross_entropy", "nll_loss") and x.dim() >= 1:
            cdim = 1 if x.dim() >= 2 else 0
            rows = xf.movedim(cdim, -1).reshape(-1, x.shape[cdim])[:4096]
            rec["num_classes"] = int(x.shape[cdim])
            s = rows.sum(-1)
            lse = torch.logsumexp(rows, -1)
            v = _tolist([rows.min(), rows.max(), (s - 1).abs().max(), lse.abs().max(), lse.mean(),
                         rows.std() if rows.numel() > 1 else rows.sum() * 0])
            rec.update(input_min=_finite(v[0]), input_max=_finite(v[1]), rowsum_dev=_finite(v[2]),
                       logsumexp_absmax=_finite(v[3]), logsumexp_mean=_finite(v[4]), input_std=_finite(v[5]))
            eps = float(kwargs.get("label_smoothing", 0.0) or 0.0)
            if eps > 0 and fn == "cross_entropy":
                c = x.shape[cdim]
                hi, lo = 1 - eps + eps / c, eps / c
                rec["loss_floor"] = float(-(hi * math.log(hi) + (c - 1) * lo * math.log(lo)))
                rec["label_smoothing"] = eps  # detectors/double_softmax.py: the floor moves with it
            ii = kwargs.get("ignore_index", -100)
            rec["ignore_index"] = int(ii) if ii is not None else None
            if not t.is_floating_point():
                tt = t.reshape(-1)
                if tt.numel():
                    ids, counts = torch.unique(tt, return_counts=True)
                    top = int(counts.argmax())
                    rec.update(target_min=int(tt.min()), target_max=int(tt.max()), target_n_unique=int(ids.numel()),
                               target_top_value=int(ids[top]), target_top_frac=float(counts[top]) / tt.numel())
                    pred = rows.argmax(-1)
                    pids, pcounts = torch.unique(pred, return_counts=True)
                    ptop = int(pcounts.argmax())
                    rec.update(pred_top_value=int(pids[ptop]), pred_top_frac=float(pcounts[ptop]) / pred.numel(),
                               pred_n_unique=int(pids.numel()))
                    keep = tt != rec["ignore_index"]
                    if keep.any() and rows.shape[0] == tt.shape[0]:
                        rec["accuracy"] = float((pred[keep[: pred.shape[0]]] == tt[keep]).float().mean())
                        minority = keep & (tt != rec["target_top_value"])
                        if minority.any():  # recall on every class but the majority one
                            rec["minority_recall"] = float((pred[minority] == tt[minority]).float().mean())
                            rec["minority_n"] = int(minority.sum())
            else:
                tv = t.float()
                rec.update(target_min=float(tv.min()), target_max=float(tv.max()))
                if t.shape == x.shape:
                    tr = tv.movedim(cdim, -1).reshape(-1, x.shape[cdim])
                    rec["target_rowsum_dev"] = float((tr.sum(-1) - 1).abs().max())
                    if rec["target_rowsum_dev"] < 1e-3 and float(tr.min()) >= 0:
                        # soft targets: the lowest reachable loss is their entropy, not 0
                        rec["loss_floor"] = float(-(tr * tr.clamp_min(1e-12).log()).sum(-1).mean())
        elif fn in ("binary_cross_entropy_with_logits", "binary_cross_entropy"):
            v = _tolist([xf.min(), xf.max(), xf.mean()])
            rec.update(input_min=_finite(v[0]), input_max=_finite(v[1]), input_mean=_finite(v[2]))
            tv = t.float()
            rec.update(target_min=float(tv.min()), target_max=float(tv.max()), target_mean=float(tv.mean()))
            if t.shape != x.shape:
                rec["shape_mismatch"] = True
            elif fn == "binary_cross_entropy":
                # BCELoss clamps log(p) at -100: an element at exactly 0 or 1 on the wrong side of its target adds
                # the clamped loss 100 and no gradient (PyTorch docs, BCELoss)
                bound = (xf >= 1) | (xf <= 0)
                wrong = ((xf >= 1) & (tv < 0.5)) | ((xf <= 0) & (tv > 0.5))
                v = _tolist([bound.float().mean(), wrong.float().mean()])
                rec.update(at_bound_frac=_finite(v[0]), clamped_wrong_frac=_finite(v[1]))
        else:  # regression losses
            tv = t.float().reshape(-1)[:STAT_MAX_ELEMS]
            v = _tolist([tv.mean(), tv.std() if tv.numel() > 1 else tv.sum() * 0, tv.abs().max(),
                         xf.mean(), xf.std() if xf.numel() > 1 else xf.sum() * 0])
            rec.update(target_mean=_finite(v[0]), target_std=_finite(v[1]), target_absmax=_finite(v[2]),
                       input_mean=_finite(v[3]), input_std=_finite(v[4]))
            if t.shape != x.shape:
                rec["shape_mismatch"] = True
                try:
                    rec["broadcast_shape"] = list(torch.broadcast_shapes(x.shape, t.shape))
                except RuntimeError:
                    pass
            elif x.is_floating_point() and x.numel():
                # predictions at exactly 0 (a ReLU clamp on the output): no gradient flows back from them,
                # whatever the target there; dead_relu reads the share stuck at 0 where the target is not 0
                xs, ts = xf.reshape(-1)[:STAT_MAX_ELEMS], t.float().reshape(-1)[:STAT_MAX_ELEMS]
                z = xs == 0
                v = _tolist([xs.min(), z.float().mean(), (z & (ts != 0)).float().mean(), (ts < 0).float().mean()])
                rec.update(input_min=_finite(v[0]), input_zero_frac=v[1], zero_pred_nonzero_target_frac=v[2],
                           target_neg_frac=v[3])
    return rec


# Pearson |r| at or above this between a target and one input column means the target is (a linear
# function of) an input feature; real features rarely exceed 0.99 with the label by chance.
LEAK_CORR = 0.995


def _leak_check(x: Any, target: Any) -> dict[str, Any] | None:
    """Is the target (or a near-linear function of it) one of the model input's columns?"""
    import torch

    with torch.no_grad():
        if not isinstance(x, torch.Tensor) or x.dim() != 2 or not x.is_floating_point():
            return None
        t = target.detach()
        if t.dim() == 2 and t.shape[1] == 1:
            t = t[:, 0]
        if t.dim() != 1 or t.shape[0] != x.shape[0] or x.shape[0] < 8:
            return None
        xf = x.detach().float()
        tf = t.float()
        xc = xf - xf.mean(0, keepdim=True)
        tc = tf - tf.mean()
        denom = xc.norm(dim=0) * tc.norm()
        if float(tc.norm()) == 0:
            return None
        r = (xc * tc[:, None]).sum(0) / denom.clamp_min(1e-12)
        r = torch.nan_to_num(r, 0.0)
        j = int(r.abs().argmax())
        rj = float(r[j])
        equal = bool(torch.equal(xf[:, j], tf))
        if equal or abs(rj) >= LEAK_CORR:
            return {"kind": "column", "column": j, "corr": rj, "equal": equal, "n_features": int(x.shape[1])}
        return _separating_column(xf, tf)


# Class targets count as categorical up to this many distinct values.
LEAK_MAX_CLASSES = 32
# A single column separating the classes of a batch by thresholds is chance only for tiny classes: for a
# random column and binary labels the probability is 2 / C(n, n_minority), ~3e-6 at 64 rows and 4 minority
# rows. Below this minority count no conclusion is drawn.
LEAK_MIN_CLASS_ROWS = 4


def _separating_column(xf: Any, tf: Any) -> dict[str, Any] | None:
    """Does one input column alone sort the batch into its classes (each class in its own interval)?

    That is a single-feature classifier with 100 % accuracy: the column encodes the label (a value recorded
    after the outcome, an id that is the class). Deepchecks' feature-label correlation check flags the same
    thing as leakage by predictive power of one feature.
    """
    import torch

    if not bool(torch.all(tf == tf.round())):
        return None
    classes, inv, counts = torch.unique(tf, return_inverse=True, return_counts=True)
    c = classes.numel()
    if c < 2 or c > LEAK_MAX_CLASSES or int(counts.min()) < LEAK_MIN_CLASS_ROWS:
        return None
    f = xf.shape[1]
    big = torch.finfo(xf.dtype).max
    lo = torch.full((c, f), big, dtype=xf.dtype).scatter_reduce(0, inv[:, None].expand(-1, f), xf, "amin")
    hi = torch.full((c, f), -big, dtype=xf.dtype).scatter_reduce(0, inv[:, None].expand(-1, f), xf, "amax")
    order = lo.argsort(0)  # per column, classes by their lowest value
    lo_s, hi_s = lo.gather(0, order), hi.gather(0, order)
    gaps = lo_s[1:] - hi_s[:-1]  # > 0 everywhere: the classes' intervals do not overlap
    sep = (gaps > 0).all(0) & (hi.amax(0) > lo.amin(0))
    if not bool(sep.any()):
        return None
    # margin: the narrowest gap between neighbouring classes over the pooled within-class std of the column
    mean = torch.zeros(c, f, dtype=xf.dtype).index_add_(0, inv, xf) / counts[:, None].to(xf.dtype)
    within = ((xf - mean[inv]) ** 2).sum(0) / max(1, xf.shape[0] - c)
    ratio = gaps.amin(0) / within.sqrt().clamp_min(1e-12)
    ratio = torch.where(sep, ratio, torch.full_like(ratio, -1.0))
    j = int(ratio.argmax())
    return {"kind": "separating-column", "column": j, "n_features": f, "n_classes": c, "rows": int(xf.shape[0]),
            "minority_rows": int(counts.min()), "n_separating": int(sep.sum()),
            "gap": float(gaps[:, j].amin()), "gap_over_within_std": min(float(ratio[j]), 1e6),
            "intervals": {str(float(classes[k])): [float(lo[k, j]), float(hi[k, j])] for k in range(min(c, 8))}}


# How many times per run the answer-visibility check (one extra gradient through the model) runs.
FUTURE_CHECKS = 2
# The target is read from the input tokens at a fixed offset when at least this share of (row, position)
# pairs match there (a shifted next-token target matches at offset 1 everywhere).
LEAK_TOKEN_MATCH = 0.95
# Offsets from a prediction's own position to the token it must produce that are checked (0: unshifted,
# 1: next token, up to 4: multi-token heads).
LEAK_MAX_SHIFT = 4
# The prediction "sees" its answer when the gradient of its logits on the answer position's embedding is at
# least this fraction of the largest per-position gradient. A causal mask or a unidirectional RNN makes it
# exactly 0 (masked softmax weights are exactly 0 in float32); 1e-4 leaves room for finite -1e4 masks.
LEAK_GRAD_FRAC = 1e-4


def _answer_visible(tokens: Any, emb: Any, logits: Any, target: Any, ignore_index: Any) -> dict[str, Any] | None:
    """Sequence label leakage, measured by autograd: can the prediction at a position read its own answer?

    tokens [B, T] are the ids an nn.Embedding turned into emb [B, T, D]; logits/target are what the cross-entropy
    got. When the target at (b, r) equals tokens[b, r + s] for a fixed shift s, the gradient of the logits at
    row r with respect to emb at position r + s says whether the model can look at that token: zero under a
    causal mask or a unidirectional RNN, non-zero when the mask is missing (or the targets are not shifted).
    """
    import torch

    if not (_is_tensor(logits) and logits.requires_grad and _is_tensor(target)) or target.is_floating_point():
        return None
    b, t_len = tokens.shape
    tgt = target.detach()
    if tgt.numel() % b or logits.dim() < 1 or t_len < 4:
        return None
    length = tgt.numel() // b
    if length > t_len or length < 4:
        return None
    cdim = 1 if logits.dim() >= 2 else 0
    v = logits.shape[cdim]
    if logits.numel() != tgt.numel() * v:
        return None
    rows = logits.movedim(cdim, -1).reshape(-1, v)
    tok = tokens.detach()
    best = None
    with torch.no_grad():
        for layout in ("batch-major", "time-major"):
            tg = tgt.reshape(b, length) if layout == "batch-major" else tgt.reshape(length, b).t()
            keep = tg != (ignore_index if ignore_index is not None else -100)
            if int(keep.sum()) < 8:
                continue
            for s in range(0, LEAK_MAX_SHIFT + 1):
                span = min(length, t_len - s)  # target positions whose answer lies inside the input
                kp = keep[:, :span]
                if 2 * span < length or int(kp.sum()) < 8:
                    break
                match = float(((tg[:, :span] == tok[:, s:s + span]) & kp).sum()) / float(kp.sum())
                if match >= LEAK_TOKEN_MATCH and (best is None or match > best[2]):
                    best = (layout, s, match, tg, keep)
    if best is None:
        return None
    layout, s, match, tg, keep = best
    r0 = min(length // 2, t_len - s - 1)
    r_ix = torch.arange(b) * length + r0 if layout == "batch-major" else r0 * b + torch.arange(b)
    sel = rows[r_ix.to(rows.device)]  # [B, V]: the predictions at position r0 of every sequence
    gen = torch.Generator(device="cpu").manual_seed(0)  # never touches the script's RNG
    proj = torch.randn(v, generator=gen).to(device=sel.device, dtype=sel.dtype)
    (g,) = torch.autograd.grad((sel * proj).sum(), emb, retain_graph=True, allow_unused=True)
    if g is None:
        return None
    per_pos = g.detach().float().reshape(b, t_len, -1).norm(dim=(0, 2))  # gradient reaching each position
    top = float(per_pos.max())
    if top <= 0:
        return None
    ans = r0 + s
    frac = float(per_pos[ans]) / top
    if frac < LEAK_GRAD_FRAC:
        return None
    after = float(per_pos[r0 + 1:].max()) / top if r0 + 1 < t_len else 0.0
    return {"kind": "answer-visible", "shift": s, "match": round(match, 4), "position": r0, "answer_position": ans,
            "grad_frac_at_answer": frac, "grad_frac_after": after, "seq_len": t_len, "layout": layout}


# A token id counts as padding when, in this share of the rows or more, it fills a contiguous run at the end
# (right padding) or the start (left padding) of the row: what pad_sequence / tokenizers' padding produce.
# A few rows may break the pattern (a real token that happens to equal the pad id).
PAD_RUN_ROWS = 0.95


def _pad_check(x: Any, target: Any, ignore_index: Any) -> dict[str, Any] | None:
    """Padding read from the model's own input tokens: where the input is padded, what does the target hold?

    x is the model's input ([batch, time] integer token ids); the target must have one entry per input
    position. Returns the pad id, the padded share of positions and the targets found there.
    """
    import torch

    with torch.no_grad():
        if not isinstance(x, torch.Tensor) or x.dim() != 2 or x.is_floating_point() or x.dtype == torch.bool:
            return None
        t = target.detach()
        if t.is_floating_point() or t.numel() != x.numel() or x.shape[0] < 2 or x.shape[1] < 2:
            return None
        x = x.detach()
        t = t.reshape(x.shape)
        for side, col in (("right", x[:, -1]), ("left", x[:, 0])):
            ids, counts = torch.unique(col, return_counts=True)
            p = int(ids[int(counts.argmax())])
            mask = x == p
            # right padding: once a row is padded it stays padded (mask never goes 1 -> 0 along time)
            steps = mask[:, 1:].int() - mask[:, :-1].int()
            ok = (steps >= 0).all(1) if side == "right" else (steps <= 0).all(1)
            lengths = mask.sum(1)
            if float(ok.float().mean()) < PAD_RUN_ROWS or torch.unique(lengths).numel() < 2:
                continue  # not a run at one end, or every row padded the same: a fixed token, not padding
            at_pad = t[mask]
            if at_pad.numel() == 0:
                continue
            vals, vcounts = torch.unique(at_pad, return_counts=True)
            top = int(vcounts.argmax())
            ignored = float((at_pad == ignore_index).float().mean()) if ignore_index is not None else 0.0
            return {"pad_id": p, "side": side, "pad_frac": float(mask.float().mean()),
                    "target_at_pad": int(vals[top]), "target_at_pad_frac": float(vcounts[top]) / at_pad.numel(),
                    "ignored_frac": ignored, "rows_padded": int((lengths > 0).sum()), "rows": int(x.shape[0])}
    return None


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

    import traintriage._probe_state as state

    state.recorder = rec

    # 1. global module forward hooks (forward, never backward)
    module_mod.register_module_forward_pre_hook(rec.fwd_pre)
    module_mod.register_module_forward_hook(rec.fwd_post)

    # 2. global optimizer step hooks
    from torch.optim import optimizer as optimizer_mod

    optimizer_mod.register_optimizer_step_pre_hook(rec.opt_pre)
    optimizer_mod.register_optimizer_step_post_hook(rec.opt_post)

    # 3. torch.autograd.backward (Tensor.backward calls it through the module attribute)
    orig_backward = torch.autograd.backward

    def backward(tensors: Any, *a: Any, **k: Any) -> Any:
        rec.before_backward(tensors)
        if rec.cfg.get("grads"):  # traintriage grads: decompose while the graph is alive (grads_probe.py)
            from traintriage import grads_probe

            grads_probe.child_hook(rec, tensors)
        out = orig_backward(tensors, *a, **k)
        rec.after_backward()
        return out

    backward.__wrapped__ = orig_backward  # type: ignore[attr-defined]
    torch.autograd.backward = backward

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
                    from traintriage import grads_probe

                    out = grads_probe.ablate_hook(rec, name, out)
                return out

            loss.__wrapped__ = fn  # type: ignore[attr-defined]
            loss.__name__ = name
            return loss

        setattr(F, fname, make_loss(fname, orig))

    # 6. DataLoader: count batches; in overfit mode replay the first batch
    from torch.utils.data import DataLoader

    orig_iter = DataLoader.__iter__

    def dl_iter(self: Any) -> Any:
        return rec.loader_iter(self, orig_iter(self))

    DataLoader.__iter__ = dl_iter

    # 7. keep the user's files untouched
    _sandbox_writes(rec.sandbox)


def _sandbox_writes(sandbox: str) -> None:
    """Redirect writes outside temp dirs into the sandbox: open(), os.makedirs/mkdir, torch.save,
    TensorBoard's SummaryWriter. W&B and MLflow are pointed at the sandbox through their env vars by
    the runner."""
    import torch

    # Only the probe's own folder is exempt: the user's project may itself live under /tmp.
    roots = {os.path.realpath(os.path.dirname(sandbox)), "/dev", "/proc", "/sys"}
    mirror = os.path.join(sandbox, "fs")
    real_makedirs = os.makedirs
    real_open = builtins.open

    def outside(path: str) -> bool:
        rp = os.path.realpath(path)
        return not any(rp == r or rp.startswith(r + os.sep) for r in roots)

    def redirect(path: Any) -> Any:
        try:
            p = os.fspath(path)
        except TypeError:
            return path
        if isinstance(p, bytes) or not outside(p):
            return path
        target = os.path.join(mirror, os.path.abspath(p).lstrip(os.sep))
        real_makedirs(os.path.dirname(target), exist_ok=True)
        return target

    def for_read(path: Any) -> Any:
        try:
            p = os.fspath(path)
        except TypeError:
            return path
        if isinstance(p, bytes):
            return path
        target = os.path.join(mirror, os.path.abspath(p).lstrip(os.sep))
        return target if os.path.exists(target) else path

    def is_write(mode: str) -> bool:
        return any(c in mode for c in "wax+")

    def sb_open(file: Any, mode: str = "r", *a: Any, **k: Any) -> Any:
        if isinstance(file, int):
            return real_open(file, mode, *a, **k)
        if not is_write(mode):
            return real_open(for_read(file), mode, *a, **k)
        target = redirect(file)
        if target is not file and ("a" in mode or "+" in mode) and not os.path.exists(target):
            try:
                if os.path.isfile(file):  # appending/updating: start from a copy of the user's file
                    shutil.copyfile(file, target)
            except (OSError, TypeError):
                pass
        return real_open(target, mode, *a, **k)

    builtins.open = sb_open
    io.open = sb_open

    def sb_makedirs(name: Any, *a: Any, **k: Any) -> Any:
        return real_makedirs(redirect(name), *a, **k)

    real_mkdir = os.mkdir

    def sb_mkdir(path: Any, *a: Any, **k: Any) -> Any:
        return real_mkdir(redirect(path), *a, **k)

    os.makedirs = sb_makedirs
    os.mkdir = sb_mkdir
    real_save = torch.save

    def sb_save(obj: Any, f: Any, *a: Any, **k: Any) -> Any:
        return real_save(obj, redirect(f), *a, **k)

    torch.save = sb_save
    real_load = torch.load

    def sb_load(f: Any, *a: Any, **k: Any) -> Any:
        return real_load(for_read(f), *a, **k)

    torch.load = sb_load
    try:  # TensorBoard via torch: point the writer into the sandbox
        from torch.utils import tensorboard as tb

        real_init = tb.SummaryWriter.__init__

        def sw_init(self: Any, log_dir: Any = None, *a: Any, **k: Any) -> None:
            real_init(self, os.path.join(sandbox, "tensorboard", os.path.basename(str(log_dir or "runs"))), *a, **k)

        tb.SummaryWriter.__init__ = sw_init
    except Exception:  # noqa: BLE001 - tensorboard not installed: nothing to redirect
        pass


def main(argv: list[str]) -> None:
    with open(argv[0], encoding="utf-8") as f:
        cfg = json.load(f)
    sys.dont_write_bytecode = True  # no __pycache__ in the user's tree
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
    rec.emit("start", script=script, mode=rec.mode, steps=rec.max_steps, torch=__import__("torch").__version__)
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
    rec.finish(status, **extra)
    rec.fh.flush()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)  # do not wait for the script's non-daemon threads or atexit hooks (W&B, MLflow)


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

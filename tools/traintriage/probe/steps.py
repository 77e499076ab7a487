"""The optimizer-step record, part of the core (probe/core.py): what every optimizer step did, measured once
and shared by all checks (loss, gradient norms per backward, update and parameter norms per group and, on
sampled steps, per parameter; each model's training flag), plus the optimizer and parameter summaries.

Cost per step: the parameters copied before and after the step into preallocated flat mirrors when they are
many small tensors (probe/flat.py: the per-group update and parameter norms are then a few whole-buffer ops),
else one foreach copy, subtraction and norm call over them; per-tensor norms (update, parameter and, measured
after the backward, gradient: `rows_next`) on sampled steps only; one device sync (``tolist`` of a single
stacked vector).
"""

from __future__ import annotations

import math
from typing import Any

from traintriage.probe.check import StopProbe, _finite, _plain, _stack_float, _strong, _tolist
from traintriage.probe.flat import Flat, foreach_norms, mirror

# Steps on which activation / loss-input statistics are sampled (plus the last step). Sampling keeps the
# per-step overhead to the foreach norms; the first steps show the init, the last one the trained state.
ACT_SAMPLE_STEPS = (0, 1)
# Frozen tensors held by an optimizer that are checked for being constant (all elements equal) at its first step.
FROZEN_CONST_MAX = 500


class OptimizerSteps:
    """Mixin of the core Recorder: the optimizer pre/post step hooks and the records they write."""

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
        for c in self.subs["optimizer_added"]:
            c.optimizer_added(self, opt)
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

    def opt_pre(self, opt: Any, args: Any, kwargs: Any) -> None:
        import torch

        if self.quiet is not None:
            self.quiet.restore()  # a forward left by a BaseException that skipped torch's always-called hooks
        st = self.opts.get(id(opt)) or self._register_opt(opt)
        if self.primary is None:
            self.primary = id(opt)
        self.in_step = type(opt).__name__  # a closure optimizer (LBFGS) runs backward() inside its step
        self.event("S")
        ps = [p for g in opt.param_groups for p in g["params"]]
        st["params"] = ps
        st["group_sizes"] = [len(g["params"]) for g in opt.param_groups]
        st["flags"] = {"bwd_since_step": self.bwd_since_step, "zero_after_bwd": self.zero_since_bwd,
                       "zero_since_step": self.zero_since_step}
        with torch.no_grad():  # (no_grad: the foreach ops take the parameters themselves, no detach() each)
            # the parameters before the step: a flat mirror for many small tensors (probe/flat.py), else a clone each
            st["flat"] = mirror(st.get("flat"), ps)
            if st["flat"] is not None:
                st["flat"].load(ps)
            elif st["prev"] is None or len(st["prev"]) != len(ps):
                st["prev"] = [p.detach().clone() for p in ps]
            else:
                torch._foreach_copy_(st["prev"], ps)
            with_grad = [p.grad for p in ps if p.grad is not None]
            st["n_grad_none"] = len(ps) - len(with_grad)
            if not with_grad:
                st["step_grad"] = torch.zeros(())
            elif self.grads_unchanged(with_grad):  # measured after the backward, untouched since
                st["step_grad"] = self.micro_totals[-1]
            else:  # clipped, unscaled, another optimizer's subset, or no backward since the last step
                st["step_grad"] = _stack_float(foreach_norms(with_grad)).norm()
        held = self._held()
        st["modes"] = self._modes(held)
        for c in self.subs["step_pre"]:
            c.step_pre(self, opt, held)

    def rows_next(self) -> bool:
        """Whether the coming optimizer step may record per-parameter rows (`opt_post`: sampled steps and each
        optimizer's first two): the step now, the primary's next one (another optimizer may step on this
        backward after the primary did), or an optimizer that has stepped fewer than twice (or none yet)."""
        n = self.n_steps + 1
        return self.sampling or n in ACT_SAMPLE_STEPS or n == self.max_steps - 1 or not self.opts \
            or any(o["steps"] < 2 for o in self.opts.values())

    def _modes(self, held: set[int]) -> list[dict[str, Any]]:
        """Each model's training flag and its dropout/BatchNorm layers; `trained`: an optimizer trains some of
        its parameters (a frozen backbone called on its own may sit in eval mode on purpose). Which layers a
        model has is looked up again on sampled steps only (a walk over every module per step costs as much as
        the foreach norms on a 600-module model); their training flags are read every step."""
        import torch.nn as nn

        out = []
        for rid in self.root_order:
            m = self.roots[rid]()
            if m is None:
                continue
            dep = None if self.sampling else self.mode_deps.get(rid)
            if dep is None:  # walked on sampled steps and for a new root; the flags are read live every step
                dep = self.mode_deps[rid] = [s for s in m.modules() if isinstance(s, (
                    nn.modules.dropout._DropoutNd, nn.modules.batchnorm._BatchNorm))]
            out.append({"root": type(m).__name__, "training": bool(m.training), "mode_dependent": len(dep),
                        "mode_dependent_eval": sum(1 for s in dep if not s.training),
                        "trained": any(p.requires_grad and id(p) in held for p in m.parameters())})
        return out

    def opt_post(self, opt: Any, args: Any, kwargs: Any) -> None:
        import torch

        self.in_step = None
        st = self.opts[id(opt)]
        st["steps"] += 1
        self.n_steps_all += 1
        ps = st["params"]
        sample = self.sampling or st["steps"] <= 2
        sizes = st["group_sizes"]
        with torch.no_grad():
            gp, gn = self.last_grad_norms if self.last_grad_norms is not None else ([], [])
            if sample and gn is None:  # the backward measured the total only (rows_next did not foresee this step)
                grads = self.grads_seen[0] if self.grads_seen is not None else [p.grad for p in gp]
                gp, gn = (gp, foreach_norms(grads)) if all(g is not None for g in grads) else ([], [])
            gn = gn if sample else []
            losses = self.step_losses
            norms: list = []  # per group ||update||, ||param||; per tensor (sampled steps) ||update||, ||param||
            per: list = []
            fl = st.get("flat")
            if ps and fl is not None:  # flat: a few whole-buffer ops (probe/flat.py)
                cur = st.get("cur")
                if cur is None or st.get("cur_of") is not fl:  # laid out like the mirror of the parameters before
                    # (built with it: opt_pre keeps a mirror only while it matches the parameters, so one built
                    # alongside it matches them too, without comparing 600 shapes again)
                    cur = st["cur"] = Flat(ps)
                    st["cur_of"] = fl
                cur.load(ps)
                # ||before - after|| read from both buffers (torch.dist: no difference buffer written), ||after||
                norms = [*fl.group_norms(sizes, cur.flat), *cur.group_norms(sizes)]
                if sample:
                    fl.flat.sub_(cur.flat)  # prev := before - after = -update
                    per = list(torch._foreach_norm([*fl.views, *cur.views]))
            elif ps:
                torch._foreach_sub_(st["prev"], ps)
                per = list(torch._foreach_norm([*st["prev"], *ps]))  # ||update||, ||param||: one call
            # one vector, one sync for the whole step: [group norms, per-tensor norms, grad norms (sampled steps),
            # step grad norm, micro-step totals, losses, pre-backward norm]
            vec = [_stack_float([*norms, *per, *gn])] if norms or per or gn else []
            vals = _tolist([*vec, st["step_grad"], *self.micro_totals, *losses,
                            self.pre_bwd_norm if self.pre_bwd_norm is not None else torch.full((), -1.0)])
        k = len(ps)
        i = len(norms)
        grp_u, grp_w = vals[:i // 2], vals[i // 2:i]
        upd_v, pn_v = vals[i:i + len(per) // 2], vals[i + len(per) // 2:i + len(per)]
        i += len(per)
        gnorm_v = vals[i:i + len(gn)]
        i += len(gn)
        step_grad = vals[i]
        i += 1
        micro = vals[i:i + len(self.micro_totals)]
        i += len(self.micro_totals)
        loss_v = vals[i:i + len(losses)]
        i += len(losses)
        pre_bwd = vals[i]
        if not norms:  # per-tensor path: the groups' norms from the tensors'
            j = 0
            for n in sizes:
                grp_u.append(math.sqrt(sum(x * x for x in upd_v[j:j + n])))
                grp_w.append(math.sqrt(sum(x * x for x in pn_v[j:j + n])))
                j += n
        # per group: ||update||, ||param||, relative update, lr actually applied
        groups = []
        for gi, g in enumerate(opt.param_groups):
            u = grp_u[gi] if gi < len(grp_u) else 0.0
            w = grp_w[gi] if gi < len(grp_w) else 0.0
            lr = g.get("lr")
            lr = float(lr) if lr is not None else None
            groups.append({"lr": lr, "update": u, "param": w, "rel_update": u / w if w > 0 else None})
        rec: dict[str, Any] = {
            "opt": st["index"], "step": st["steps"] - 1,
            "loss": _finite(sum(loss_v) / len(loss_v)) if loss_v else None,
            "loss_first": _finite(loss_v[0]) if loss_v else None,
            "n_backward": len(micro), "micro_grad_norms": [_finite(m) for m in micro[:16]],
            "grad_norm": _finite(micro[-1]) if micro else None, "grad_norm_at_step": _finite(step_grad),
            "grads_none": st["n_grad_none"], "n_params": k,
            "pre_backward_grad_norm": _finite(pre_bwd) if pre_bwd >= 0 else None,
            "update_norm": math.sqrt(sum(x * x for x in grp_u)), "param_norm": math.sqrt(sum(x * x for x in grp_w)),
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
        # the gradients are let go: kept until the next backward, they would outlive the script's zero_grad(), and
        # its next backward would allocate new ones instead of reusing their memory (as it does without the probe)
        self.grads_seen = None
        if id(opt) == self.primary:
            for c in self.subs["primary_step"]:
                c.primary_step(self)
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
        self.last_terms = [{"name": t["name"], "source": t["source"], "value": _finite(v)} for t, v in zip(ts, vals, strict=False)]
        self.terms = []
        return self.last_terms[:12]

    def _per_param(self, ps: list, upd_v: list, pn_v: list, gp: list, gnorm_v: list) -> list[dict[str, Any]]:
        grad_of = {id(p): g for p, g in zip(gp, gnorm_v, strict=False)}
        rows = []
        for p, u, w in zip(ps, upd_v, pn_v, strict=False):
            rows.append({"name": self.name(p), "numel": p.numel(), "dim": p.dim(), "requires_grad": p.requires_grad,
                         "grad": _finite(grad_of[id(p)]) if id(p) in grad_of else None,
                         "update": _finite(u), "param": _finite(w)})
        # params with gradients that no optimizer holds
        held = {id(p) for o in self.opts.values() for p in o.get("params", [])}
        for p, g in zip(gp, gnorm_v, strict=False):
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
                  n_optimizers=len(self.opts), events=self.events, dead_opts=self._dead_optimizers())

    def _dead_optimizers(self) -> list[dict[str, Any]]:
        """Optimizers that stepped while none of their trainable parameters ever got a gradient (loss-detached
        reads them when another optimizer's parameters did: that optimizer's loss does not reach its model)."""
        out = []
        for o in self.opts.values():
            ps = [p for p in o.get("params", []) if p.requires_grad]
            if ps and o["steps"] and not any(id(p) in self.ever_grad for p in ps):
                opt = o["ref"]()
                out.append({"index": o["index"], "cls": type(opt).__name__ if opt is not None else None,
                            "steps": o["steps"], "n_params": len(ps), "numel": sum(p.numel() for p in ps)})
        return out


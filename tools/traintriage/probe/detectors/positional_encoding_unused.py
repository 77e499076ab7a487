"""positional-encoding-unused: a positional encoding is computed, but the model's output is blind to token order.

Two measurements on the run's first forward of a model fed token ids (an integer (batch, seq) tensor):

1. what reaches the output: the autograd graph of the model's output is walked once; a position-shaped tensor
   of the model (a parameter, or a submodule's output, whose second-to-last axis spans the sequence and whose
   last axis is the token embedding's width: a learned position table held by the model's own module or an nn.Embedding,
   the output of a module such as a PositionalEncoding's `x + pe`)
   that is not in that graph was computed and thrown away;
2. order blindness: the model is run twice more (no grad, every module in eval mode, the global hooks and the RNG
   state left as they were) on the batch and on the batch with its inner positions reversed (first and last
   kept, where [CLS]/[EOS] tokens sit). Self-attention without position information is permutation-equivariant
   (Vaswani et al. 2017, s3.5; Lee et al., Set Transformer, 2019, Property 1), so per-token outputs come back
   permuted and pooled outputs unchanged, to float precision.

Both are needed: a deliberately order-free set model is blind to order by design and has nothing positional that
is thrown away (the healthy control), and a model with a dead position table but another way to see order (a
convolution, an RNN, rotary embeddings) is not blind.
"""

from __future__ import annotations

from typing import Any

from traintriage.probe.check import Check
from traintriage.probe.detectors._common import finding

# Outputs closer than this (max |a - b| over max |a|) are the same: float32 sums in another order differ by
# ~1e-6 relative (PyTorch docs, "Numerical accuracy": results differ across orderings), a model that sees order
# by 1e-2 or more from the first step.
SAME_REL = 1e-4
# Autograd nodes visited at most when walking the output's graph (a small transformer has a few hundred).
MAX_NODES = 100_000
# Shortest sequence worth permuting: the first and last positions stay, and at least 3 must move.
MIN_SEQ = 5


def detect(ev: dict[str, Any]) -> list:
    recs = [r for r in (ev.get("records") or {}).get("posblind", []) if r.get("blind")]
    if not recs:
        return []
    r = recs[0]
    return [finding(
        "positional-encoding-unused", "error", 0.85,
        f"The model's output does not depend on token order: reversing the inner positions of the batch gives "
        f"{'the same outputs permuted' if r['per_token'] else 'the same outputs'} (relative difference "
        f"{r['rel_diff']:.1g}), and its position-shaped {', '.join(r['dead'][:3])} is computed but never reaches "
        "the output. Add the positional encoding to the token embeddings before the first attention layer.",
        dead=r["dead"], rel_diff=r["rel_diff"], per_token=r["per_token"], seq_len=r["seq_len"])]


# ---------------------------------------------------------------- recording (in the probe's child)
def _graph(out: Any) -> tuple[set[int], set[int]]:
    """(ids of the autograd nodes, ids of the leaf tensors) the output's graph reaches."""
    nodes: set[int] = set()
    leaves: set[int] = set()
    stack = [out.grad_fn] if out.grad_fn is not None else []
    while stack and len(nodes) < MAX_NODES:
        fn = stack.pop()
        if fn is None or id(fn) in nodes:
            continue
        nodes.add(id(fn))
        var = getattr(fn, "variable", None)
        if var is not None:
            leaves.add(id(var))
        stack.extend(nxt for nxt, _ in fn.next_functions)
    return nodes, leaves


def _positional(shape: Any, seq: int, width: int) -> bool:
    return len(shape) >= 2 and shape[-2] >= seq and shape[-1] == width


def _tables(model: Any) -> list[tuple[str, Any]]:
    """Parameters that can be position tables: an nn.Embedding's weight, or a parameter a model's own (not
    torch.nn) module holds itself; the weights of Linear, Conv, norm layers are not looked at."""
    import torch.nn as nn

    out = []
    for mname, mod in model.named_modules():
        if isinstance(mod, nn.Embedding) or not type(mod).__module__.startswith("torch.nn"):
            out += [(f"{mname}.{n}" if mname else n, p) for n, p in mod._parameters.items() if p is not None]
    return out


def _rel(a: Any, b: Any) -> float:
    return float((a - b).abs().max() / a.abs().max().clamp_min(1e-12))


def _token_ids(x: Any) -> bool:
    """A [batch, time] integer tensor of at least MIN_SEQ positions: what the order test runs on."""
    import torch

    return isinstance(x, torch.Tensor) and x.dim() == 2 and not x.is_floating_point() and x.shape[1] >= MIN_SEQ


class Recording(Check):
    """At the first forward on token ids: the dead position-shaped tensors, then the order test (`posblind`)."""

    id = "positional-encoding-unused"

    def __init__(self) -> None:
        self.done = False
        self.outs: list[tuple[str, Any, Any, bool]] = []  # (name, grad_fn, shape, model's own or Embedding)
        self.width: int | None = None

    def root_forward(self, core: Any, module: Any) -> None:
        self.outs.clear()
        self.width = None

    def wants_inner(self, core: Any, top: Any) -> bool:
        """Inner forwards are read only until the first forward on token ids has been judged."""
        return not self.done and _token_ids(core.last_input)

    def forward(self, core: Any, module: Any, args: Any, out: Any) -> None:
        if self.done or not _token_ids(core.last_input):
            return
        import torch

        x = core.last_input
        if core.depth > 0:
            if isinstance(out, torch.Tensor) and out.grad_fn is not None and len(self.outs) < 512:
                if self.width is None and isinstance(module, torch.nn.Embedding):
                    self.width = int(out.shape[-1])
                own = isinstance(module, torch.nn.Embedding) or not type(module).__module__.startswith("torch.nn")
                self.outs.append((core.mod_names.get(id(module)) or type(module).__name__, out.grad_fn,
                                  tuple(out.shape), own))
            return
        self.done = True
        try:
            self._judge(core, module, args, out, x)
        except Exception as e:  # noqa: BLE001 - evidence must never break the user's run
            core.emit("posblind", error=repr(e)[:300])
        self.outs.clear()

    def _judge(self, core: Any, model: Any, args: Any, out: Any, x: Any) -> None:
        import torch

        if not isinstance(out, torch.Tensor) or out.grad_fn is None or self.width is None \
                or not args or args[0] is not x or len(args) > 1:
            return
        seq = x.shape[1]
        nodes, leaves = _graph(out)
        core._refresh_tracked()
        dead = [n for n, fn, shape, own in self.outs
                if own and id(fn) not in nodes and _positional(shape, seq, self.width)]
        dead += [n for n, p in _tables(model)
                 if p.requires_grad and id(p) not in leaves and _positional(p.shape, seq, self.width)]
        if not dead:
            return
        perm = torch.cat([torch.tensor([0]), torch.arange(seq - 2, 0, -1), torch.tensor([seq - 1])]).to(x.device)
        a, b = self._run_quiet(model, x, x[:, perm])
        per_token = a.dim() >= 2 and a.shape[:2] == x.shape
        rel = _rel(a[:, perm] if per_token else a, b)
        core.emit("posblind", step=core.n_steps, dead=sorted(set(dead))[:10], seq_len=seq, per_token=per_token,
                  rel_diff=rel, blind=rel < SAME_REL)

    @staticmethod
    def _run_quiet(model: Any, *inputs: Any) -> list[Any]:
        """The model's outputs on `inputs`: eval mode, no grad, no global hooks, the RNG state restored."""
        import torch
        from torch.nn.modules import module as module_mod

        hooks = [module_mod._global_forward_pre_hooks, module_mod._global_forward_hooks]
        saved = [dict(h) for h in hooks]
        modes = [(m, m.training) for m in model.modules()]
        try:
            for h in hooks:
                h.clear()
            for m, _ in modes:
                m.training = False
            with torch.no_grad(), torch.random.fork_rng(devices=[]):
                return [model(i).float() for i in inputs]
        finally:
            for m, t in modes:
                m.training = t
            for h, s in zip(hooks, saved, strict=True):
                h.update(s)

"""label-leakage: the model's input carries the answer.

Read from what the harness measured on the loss calls (`leak` records):

- kind "column": the target equals, or is a near-linear function of (|r| >= LEAK_CORR), one input column;
- kind "separating-column": one input column alone puts every class of the batch in its own interval (a
  one-feature classifier with 100 % accuracy, LEAK_MIN_CLASS_ROWS rows per class at least);
- kind "answer-visible": the target at each position is the input token at a fixed offset, and autograd shows
  the prediction at a position depends on that very token (no causal mask, or targets not shifted).
"""

from __future__ import annotations

from typing import Any

from traintriage.probe.check import LOSS_CALLS_SAMPLED, Check, _is_tensor
from traintriage.probe.detectors._common import finding, share

# A separating column is an error when it is the only one and its classes sit at least this many within-class
# standard deviations apart beyond their extremes: a natural feature whose classes merely do not overlap on one
# batch has tails that nearly touch (two Gaussian classes need ~5 std between their means for a 1-std gap
# across 64 rows). Several separating columns, or a thin margin, read as an easy dataset: a warning.
# Seed value; Deepchecks' feature-label correlation check likewise only flags single-feature predictive power.
LEAK_MIN_GAP = 1.0


def detect(ev: dict[str, Any]) -> list:
    for c in ev.get("loss_calls", []):
        leak = c.get("leak")
        if not leak:
            continue
        kind = leak.get("kind", "column")
        if kind == "answer-visible":
            s = leak["shift"]
            what = ("the token at the same position (the targets are not shifted)" if s == 0 else
                    f"the input token {s} position{'s' if s > 1 else ''} ahead")
            return [finding("label-leakage", "error", 0.9,
                            f"The {c['fn']} target at each position is {what} ({leak['match']:.0%} of positions), "
                            f"and the prediction at position {leak['position']} has a gradient on the embedding of "
                            f"that answer token ({share(leak['grad_frac_at_answer'])} of the largest per-position "
                            "gradient; a causal model has exactly 0): the model can read the token it must "
                            "predict. Add a causal mask (is_causal=True / generate_square_subsequent_mask) or "
                            "shift the targets.",
                            **{k: v for k, v in leak.items() if k != "kind"}, kind=kind)]
        if kind == "separating-column":
            wide = leak.get("n_separating", 1) == 1 and (leak.get("gap_over_within_std") or 0) >= LEAK_MIN_GAP
            return [finding("label-leakage", "error" if wide else "warning", 0.8 if wide else 0.45,
                            f"Input column {leak['column']} of {leak['n_features']} alone separates the "
                            f"{leak['n_classes']} classes of the {c['fn']} target on a batch of {leak['rows']} rows "
                            f"(per-class value ranges {leak['intervals']} do not overlap"
                            + (f"; gap {leak['gap_over_within_std']:.3g} within-class std"
                               if leak.get("gap_over_within_std") is not None else "")
                            + "): that feature encodes the label (recorded after the outcome, or derived from it). "
                            "Drop it from the features unless it is known at prediction time.",
                            **{k: v for k, v in leak.items() if k != "kind"}, kind=kind, threshold_gap=LEAK_MIN_GAP)]
        how = "equal to" if leak.get("equal") else f"correlated (r={leak['corr']:.4f}) with"
        return [finding("label-leakage", "error", 0.85,
                        f"The {c['fn']} target is {how} input column {leak['column']} of "
                        f"{leak['n_features']}: the model can read the answer. Drop the column from the features.",
                        column=leak["column"], corr=leak["corr"], equal=leak.get("equal"),
                        n_features=leak["n_features"], kind=kind)]
    return []


# ---------------------------------------------------------------- recording (in the probe's child)
class Recording(Check):
    """On the first loss calls: is the target one of the model input's columns (or split by one), and for a
    token model, can the prediction at a position see its own answer (one extra autograd.grad)? Adds `leak`
    to the `loss` record."""

    id = "label-leakage"

    def __init__(self) -> None:
        self.last_embed: Any = None  # (token ids, embedding output) of the last nn.Embedding on [batch, time] ids
        self.future_checks = 0
        self.has_embedding: dict[int, bool] = {}  # top-level module id -> it holds an nn.Embedding

    def wants_inner(self, core: Any, top: Any) -> bool:
        """Only nn.Embedding forwards are read, and only until FUTURE_CHECKS were made; whether a model holds
        one is looked up once per model and again on sampled steps."""
        import torch.nn as nn

        if self.future_checks >= FUTURE_CHECKS:
            return False
        has = None if core.sampling else self.has_embedding.get(id(top))
        if has is None:
            has = self.has_embedding[id(top)] = any(isinstance(m, nn.Embedding) for m in top.modules())
        return has

    def forward(self, core: Any, module: Any, args: Any, out: Any) -> None:
        import torch.nn as nn

        if (isinstance(module, nn.Embedding) and self.future_checks < FUTURE_CHECKS and args and _is_tensor(args[0])
                and args[0].dim() == 2 and _is_tensor(out) and out.requires_grad):
            self.last_embed = (args[0], out)  # can a position's output see its answer token?

    def backward(self, core: Any) -> None:
        self.last_embed = None

    def loss(self, core: Any, fn: str, call: int, inp: Any, target: Any, rec: dict[str, Any]) -> None:
        if core.last_input is None or call >= LOSS_CALLS_SAMPLED or getattr(target, "requires_grad", False):
            return  # a target autograd tracks comes out of the trained model (a consistency term): not a label
        try:
            leak = _leak_check(core.last_input, target)
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

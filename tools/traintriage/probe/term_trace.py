"""Where each tensor of the user's loss was made: a TorchFunctionMode that tags op outputs with their source.

In the probe's child, under `traintriage grads` (and triage's decomposition), `TermTracer` sees every torch
call the script makes outside a module's forward (the recorder's module depth is 0: the loss arithmetic of the
training loop, not the model's layers). For each output that is part of an autograd graph it keeps
`grad_fn -> (tensor, Pos)` until the next backward, so `probe/term_graph.py` can turn the graph nodes above
the loss back into tensors with a name: the file:line and the exact expression text (Python 3.11 code
positions give the column range of the instruction that made the op, e.g. `50 * aux`).

The same tracer does question 3 for a term it named: `watch` entries record the term's value at every step
(`Recorder.on_term`, so it joins the step records like a marker) and zero the term's contribution in the
ablated run (the op at the term's position, k-th time in the backward window, returns `out * 0`).
"""

from __future__ import annotations

import linecache
import os
import sys
from dataclasses import dataclass
from typing import Any

import torch
from torch.overrides import TorchFunctionMode

# Frames inside these packages are library code, never the user's expression.
_TORCH_DIR = os.path.dirname(os.path.dirname(__import__("torch").__file__))
_LIB_DIRS = (os.path.join(_TORCH_DIR, "torch") + os.sep,
             os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep)
# Frames walked up from the op to find the user's line; a deeper helper stack is not a loss expression.
MAX_FRAMES = 12
# Python-level names of the torch calls that add or subtract: a scalar with no gradient among their operands is a
# term added to the loss as a constant (computed under no_grad, from detached tensors).
ADDING = frozenset({"__add__", "__radd__", "__iadd__", "add", "add_", "__sub__", "__rsub__", "__isub__", "sub",
                    "sub_"})
# Longest expression text kept as a term's name (a multi-line expression is cut, its position stays exact).
MAX_EXPR_CHARS = 80


@dataclass(frozen=True)
class Pos:
    file: str
    line: int
    end_line: int
    col: int
    end_col: int

    def key(self) -> list[Any]:
        return [self.file, self.line, self.end_line, self.col, self.end_col]

    def where(self) -> str:
        return f"{os.path.basename(self.file)}:{self.line}"


_positions: dict[Any, list[Any]] = {}


def _user_pos() -> Pos | None:
    f = sys._getframe(2)
    for _ in range(MAX_FRAMES):
        if f is None:
            return None
        fn = f.f_code.co_filename
        if not fn.startswith(_LIB_DIRS) and not fn.startswith("<"):
            code = f.f_code
            pos = _positions.get(code)
            if pos is None:
                pos = _positions[code] = list(code.co_positions())
            i = f.f_lasti // 2
            if i >= len(pos) or pos[i][0] is None:
                return Pos(fn, f.f_lineno or 0, f.f_lineno or 0, -1, -1)
            ln, eln, c, ec = pos[i]
            return Pos(fn, ln, eln or ln, -1 if c is None else c, -1 if ec is None else ec)
        f = f.f_back
    return None


def expr_text(pos: Pos) -> str:
    """The source text of the expression at `pos` (one line: the first line of a multi-line one)."""
    line = linecache.getline(pos.file, pos.line)
    if pos.col < 0:
        text = line.strip()
    elif pos.end_line == pos.line:
        text = line[pos.col : pos.end_col]
    else:
        text = line[pos.col :].rstrip() + " ..."
    text = " ".join(text.split())
    return text if len(text) <= MAX_EXPR_CHARS else text[: MAX_EXPR_CHARS - 3] + "..."


def _grad_fn(t: Any) -> Any:
    """t.grad_fn, or None where reading it raises (a no_grad view written in place): the probe never makes a
    script fail that runs without it."""
    try:
        return getattr(t, "grad_fn", None)
    except RuntimeError:
        return None


class TermTracer(TorchFunctionMode):
    """Tag graph tensors made at module depth 0 with their source position (see the module doc)."""

    def __init__(self, rec: Any, watch: list[dict[str, Any]] | None = None, ablate: str | None = None) -> None:
        super().__init__()
        self.rec = rec
        self.ops: dict[Any, tuple[Any, Pos, int]] = {}  # grad_fn -> (tensor, position, occurrence in window)
        self.count: dict[Pos, int] = {}
        self.scalars: dict[int, tuple[Any, Pos]] = {}  # id -> (0-dim tensor computed from data, no gradient)
        self.constants: dict[Any, list[tuple[Any, Pos]]] = {}  # add/sub grad_fn -> its no-gradient scalars
        self.watch: list[dict[str, Any]] = []
        self.ablate = ablate
        self.ablated = False
        self.set_watch(watch or [])

    def set_watch(self, watch: list[dict[str, Any]]) -> None:
        """Entries {"key", "core": Pos.key(), "kc", "top": Pos.key(), "kt"}: the term's value is the output of
        the kc-th op at `core` in a backward window, its contribution the kt-th op at `top` (zeroed if ablated)."""
        self.watch = [{**w, "core": tuple(w["core"]) if w.get("core") else None,
                       "top": tuple(w["top"]) if w.get("top") else None} for w in watch]

    def window_done(self) -> None:
        """A backward ran: the tensors of this loss are no longer needed."""
        self.ops = {}
        self.count = {}
        self.scalars = {}
        self.constants = {}

    def __torch_function__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        if getattr(func, "_traintriage_hook", False):
            # torch's override dispatch looks the function up by its module name, which is the probe's loss
            # wrapper (harness.py): the user's call already went through it once, so call what it wraps
            func = func.__wrapped__
        out = func(*args, **(kwargs or {}))
        if self.rec.depth:
            return out
        # Under no_grad nothing joins a graph, and reading grad_fn there is not harmless: on a view made under
        # no_grad and then written in place (nn.Embedding(padding_idx=...) zeroes weight[padding_idx] so at
        # construction) torch raises "A view was created in no_grad mode ..." from the read itself.
        grad_fn = _grad_fn(out) if torch.is_grad_enabled() else None
        if grad_fn is None:
            # a Tensor only: a torch function may return anything (tensor.numpy() gives an ndarray, .item() a float)
            if isinstance(out, torch.Tensor) and out.ndim == 0 and out.is_floating_point() and self._from_data(args):
                pos = _user_pos()
                if pos is not None:
                    self.scalars[id(out)] = (out, pos)
            return out
        if getattr(func, "__name__", "") in ADDING:
            for a in args:
                hit = self.scalars.get(id(a))
                if hit is not None and hit[0] is a:
                    self.constants.setdefault(grad_fn, []).append(hit)
        pos = _user_pos()
        if pos is None:
            return out
        k = self.count.get(pos, 0) + 1
        self.count[pos] = k
        self.ops[grad_fn] = (out, pos, k)
        if self.watch:
            out = self._watched(out, tuple(pos.key()), k)
        return out

    def _from_data(self, args: Any) -> bool:
        """An op that reduced a data tensor (or reworked such a scalar): not a literal constant."""
        for a in args:
            n = getattr(a, "numel", None)
            if n is not None and (n() > 1 or id(a) in self.scalars):
                return True
        return False

    def _watched(self, out: Any, key: tuple[Any, ...], k: int) -> Any:
        for w in self.watch:
            if w["core"] == key and w["kc"] == k and out.numel() == 1:
                self.rec.on_term(w["key"], out, source="expr")
            if w["top"] == key and w["kt"] == k and self.ablate == w["key"]:
                if not self.ablated:
                    self.ablated = True
                    self.rec.emit("grads-ablated", term=w["key"], step=self.rec.n_steps)
                out = out * 0.0
        return out

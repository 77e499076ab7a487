"""The training loop as the lint rules see it: optimizers, schedulers, backward calls, the loops that train and
the ordered events inside them (backward, step, zero_grad, scheduler step, train/eval). A mixin of
lint.context.Ctx."""

from __future__ import annotations

import ast
from dataclasses import dataclass, field

from traintriage.lint.syntax import (
    _DEFS,
    arg,
    dotted,
    method_name,
    receiver,
    short,
    walk_scope,
)
from traintriage.lint.vocab import (
    OPTIMIZER_CLASSES,
    SCHEDULER_HINTS,
)


@dataclass
class Event:
    """One training-relevant call inside a loop body, in source order."""

    kind: str  # backward | step | sched_step | zero_grad | eval | train
    node: ast.AST
    recv: str | None = None  # dotted receiver ('optimizer', 'model', 'self.model')
    loss: ast.AST | None = None  # for backward: the expression whose gradient is taken
    conds: list[ast.expr] = field(default_factory=list)  # enclosing `if` tests inside the loop
    via: str | None = None  # name of the local function the event came from

    @property
    def line(self) -> int:
        return getattr(self.node, "lineno", 0)


class TrainingLoop:

    def _ctor_names(self, pred) -> dict[str, list[ast.Call]]:
        out: dict[str, list[ast.Call]] = {}
        for sc in self.scopes():
            for name, hits in self.assignments(sc).items():
                for _ln, v, _ in hits:
                    if isinstance(v, ast.Call) and pred(self.call_canon(v) or ""):
                        out.setdefault(name, []).append(v)
        return out

    def optimizers(self) -> dict[str, list[ast.Call]]:
        """Names assigned an optimizer constructor -> the constructor calls."""

        def is_opt(c: str) -> bool:
            return short(c) in OPTIMIZER_CLASSES and "lr_scheduler" not in c

        return self._ctor_names(is_opt)

    def optimizer_ctors(self) -> list[ast.Call]:
        out = []
        for node in ast.walk(self.tree):
            if isinstance(node, ast.Call):
                c = self.call_canon(node) or ""
                if short(c) in OPTIMIZER_CLASSES and "lr_scheduler" not in c:
                    out.append(node)
        return out

    def schedulers(self) -> set[str]:
        return set(self._ctor_names(lambda c: any(h in c for h in SCHEDULER_HINTS)))

    def is_optimizer_name(self, name: str | None) -> bool:
        if not name:
            return False
        if name in self.optimizers():
            return True
        last = name.rsplit(".", 1)[-1].lower()
        return "optim" in last or last in ("opt", "optim") or last.startswith("opt_") or last.endswith("_opt")

    def is_scheduler_name(self, name: str | None) -> bool:
        if not name:
            return False
        return name in self.schedulers() or "sched" in name.rsplit(".", 1)[-1].lower()

    def backward_loss(self, call: ast.Call) -> ast.AST | None | bool:
        """For a backward call, the expression differentiated; False when `call` is not a backward."""
        m = method_name(call)
        c = self.call_canon(call)
        if c == "torch.autograd.backward":
            return arg(call, 0, "tensors")
        if m == "manual_backward":
            return arg(call, 0)
        if m != "backward":
            return False
        r = receiver(call)
        rn = (dotted(r) or "").lower() if r is not None else ""
        if any(h in rn for h in ("accelerator", "fabric", "engine")):
            return arg(call, 0)
        if isinstance(r, ast.Call) and method_name(r) == "scale" and r.args:  # scaler.scale(loss).backward()
            return r.args[0]
        return r

    def is_backward(self, call: ast.AST) -> bool:
        return isinstance(call, ast.Call) and self.backward_loss(call) is not False

    def loops(self) -> list[ast.For | ast.While | ast.AsyncFor]:
        return [n for n in ast.walk(self.tree) if isinstance(n, ast.For | ast.While | ast.AsyncFor)]

    def events(
        self, node: ast.AST, expand: bool = True, _depth: int = 0, _via: str | None = None
    ) -> list[Event]:
        """Training-relevant calls under `node` in source order, expanding calls of local functions once."""
        out: list[Event] = []

        def conds_of(n: ast.AST) -> list[ast.expr]:
            cs = []
            p = self.parent.get(n)
            while p is not None and p is not node:
                if isinstance(p, ast.If):
                    cs.append(p.test)
                p = self.parent.get(p)
            return cs

        is_body = isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) or not isinstance(node, ast.AST)
        body = node.body if is_body else [node]
        nodes: list[ast.AST] = []
        for b in body:
            if isinstance(b, _DEFS):
                continue
            nodes.append(b)
            nodes.extend(walk_scope(b))
        # Calls in evaluation order: inner calls of a chain first is not needed; source position is enough.
        calls = sorted((n for n in nodes if isinstance(n, ast.Call)), key=lambda n: (n.lineno, n.col_offset))
        for call in calls:
            m = method_name(call)
            r = receiver(call)
            rn = dotted(r) if r is not None else None
            ev: Event | None = None
            bl = self.backward_loss(call)
            if bl is not False:
                ev = Event("backward", call, rn, loss=bl if isinstance(bl, ast.AST) else None)
            elif m == "step":
                if self.is_scheduler_name(rn):
                    ev = Event("sched_step", call, rn)
                elif rn and "scaler" in rn.lower() and call.args:
                    ev = Event("step", call, dotted(call.args[0]))
                elif not call.args or self.is_optimizer_name(rn):
                    ev = Event("step", call, rn)
            elif m == "zero_grad":
                ev = Event("zero_grad", call, rn)
            elif m in ("eval", "train") and not call.args and rn:
                ev = Event(m, call, rn)
            elif m == "train" and call.args and rn and isinstance(call.args[0], ast.Constant):
                ev = Event("train" if call.args[0].value else "eval", call, rn)
            elif expand and _depth < 1 and isinstance(call.func, ast.Name | ast.Attribute):
                name = dotted(call.func) or ""
                fname = name[5:] if name.startswith("self.") else name
                fns = self.functions.get(fname, [])
                if len(fns) == 1 and not self._encloses(fns[0], call):
                    fn = fns[0]
                    for sub in self.events(fn, expand, _depth + 1, _via=fn.name):
                        sub = Event(
                            sub.kind, sub.node, self._map_param(fn, call, sub.recv), sub.loss, [], fn.name
                        )
                        sub.conds = conds_of(call)
                        out.append(sub)
                    continue
            if ev is not None:
                ev.conds = conds_of(call)
                ev.via = _via
                out.append(ev)
        return out

    def _encloses(self, outer: ast.AST, node: ast.AST) -> bool:
        p = self.parent.get(node)
        while p is not None:
            if p is outer:
                return True
            p = self.parent.get(p)
        return False

    def _map_param(
        self, fn: ast.FunctionDef | ast.AsyncFunctionDef, call: ast.Call, recv: str | None
    ) -> str | None:
        """Rename a callee's parameter (`model`) to the caller's argument (`net`)."""
        if not recv:
            return recv
        head, _, rest = recv.partition(".")
        if head in self.params(fn):
            a = self.param_arg(fn, call, head)
            an = dotted(a) if a is not None else None
            if an:
                return f"{an}.{rest}" if rest else an
        return recv

    def enclosing_loops(self, node: ast.AST) -> list[ast.AST]:
        """Loops around `node` within its function, innermost first."""
        out = []
        p = self.parent.get(node)
        while p is not None and not isinstance(p, _DEFS):
            if isinstance(p, ast.For | ast.While | ast.AsyncFor):
                out.append(p)
            p = self.parent.get(p)
        return out

    def training_loops(self) -> list[ast.AST]:
        """Loops whose body (directly or through a local function) calls backward; innermost first."""
        out = []
        for loop in self.loops():
            if any(e.kind == "backward" for e in self.events(loop)):
                out.append(loop)
        out.sort(key=lambda n: -len(self.enclosing_loops(n)))
        return out

    def in_with(self, node: ast.AST, names: set[str]) -> ast.With | None:
        """The enclosing `with <one of names>(...)` block inside the same function, if any."""
        p = self.parent.get(node)
        while p is not None and not isinstance(p, _DEFS):
            if isinstance(p, ast.With | ast.AsyncWith):
                for item in p.items:
                    ce = item.context_expr
                    c = self.call_canon(ce) if isinstance(ce, ast.Call) else self.canon(ce)
                    if c in names:
                        return p
            p = self.parent.get(p)
        return None

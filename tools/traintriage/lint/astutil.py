"""Shared AST helpers for the lint rules: import aliases, scopes, name dataflow, loop events.

Nothing here runs user code: it reads the parsed module only. The dataflow is deliberately simple — the
last assignment to a name (or a dotted name like ``self.fc``) before a line, in the same function, then
in the module, then through the call sites of the function when the name is a parameter. Anything it
cannot follow is "unknown", and the rules treat unknown as "do not flag" (precision over recall).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass, field

from traintriage.report import Finding

Scope = ast.Module | ast.FunctionDef | ast.AsyncFunctionDef
_DEFS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)
# How far name-following may recurse (assignment chains, call sites, class forwards).
MAX_DEPTH = 10

# --- what the names mean --------------------------------------------------------------------------------

SOFTMAX_FUNCS = {
    "torch.softmax",
    "torch.nn.functional.softmax",
    "torch.special.softmax",
    "torch.Tensor.softmax",
}
LOG_SOFTMAX_FUNCS = {"torch.log_softmax", "torch.nn.functional.log_softmax", "torch.special.log_softmax"}
SIGMOID_FUNCS = {"torch.sigmoid", "torch.nn.functional.sigmoid", "torch.special.expit"}
# Methods that keep what a tensor "is" (probabilities stay probabilities through a reshape or a cast).
PASSTHROUGH_METHODS = {
    "view",
    "reshape",
    "squeeze",
    "unsqueeze",
    "flatten",
    "permute",
    "transpose",
    "contiguous",
    "float",
    "double",
    "half",
    "bfloat16",
    "to",
    "clone",
    "cuda",
    "cpu",
    "view_as",
    "reshape_as",
    "type_as",
}
PASSTHROUGH_FUNCS = {"torch.clamp", "torch.clip", "torch.squeeze", "torch.flatten", "torch.reshape"}

LAYER_KIND = {
    "Softmax": "softmax",
    "Softmax2d": "softmax",
    "LogSoftmax": "log_softmax",
    "Sigmoid": "sigmoid",
    "Linear": "logits",
    "LazyLinear": "logits",
    "Bilinear": "logits",
}
LOSS_CLASSES = {
    "CrossEntropyLoss": "ce",
    "NLLLoss": "nll",
    "BCEWithLogitsLoss": "bce_logits",
    "BCELoss": "bce",
}
LOSS_FUNCS = {
    "torch.nn.functional.cross_entropy": "ce",
    "torch.nn.functional.nll_loss": "nll",
    "torch.nn.functional.binary_cross_entropy_with_logits": "bce_logits",
    "torch.binary_cross_entropy_with_logits": "bce_logits",
    "torch.nn.functional.binary_cross_entropy": "bce",
    "torch.nn.functional.nll_loss2d": "nll",
}
# torch.nn blocks that contain LayerNorms of their own.
NORM_CONTAINING = {
    "TransformerEncoderLayer",
    "TransformerDecoderLayer",
    "TransformerEncoder",
    "TransformerDecoder",
    "Transformer",
}
NORM_LAYERS = {
    "BatchNorm1d",
    "BatchNorm2d",
    "BatchNorm3d",
    "SyncBatchNorm",
    "LayerNorm",
    "GroupNorm",
    "RMSNorm",
    "InstanceNorm1d",
    "InstanceNorm2d",
    "InstanceNorm3d",
    "LazyBatchNorm1d",
    "LazyBatchNorm2d",
}
BIAS_LAYERS = {"Linear", "Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d", "ConvTranspose2d", "Embedding"}
# Model constructors from libraries whose classifiers end in a Linear layer (they return logits).
LOGIT_MODEL_PREFIXES = ("torchvision.models.", "timm.create_model")
OPTIMIZER_CLASSES = {
    "SGD",
    "Adam",
    "AdamW",
    "Adamax",
    "NAdam",
    "RAdam",
    "RMSprop",
    "Adagrad",
    "Adadelta",
    "ASGD",
    "LBFGS",
    "Rprop",
    "SparseAdam",
    "Adafactor",
    "Lion",
    "AdamW8bit",
    "Adam8bit",
    "PagedAdamW",
    "PagedAdamW8bit",
}
SCHEDULER_HINTS = (
    "lr_scheduler",
    "get_linear_schedule",
    "get_cosine_schedule",
    "get_scheduler",
    "get_constant_schedule",
)
NO_GRAD_CONTEXTS = {
    "torch.no_grad",
    "torch.inference_mode",
    "torch.autograd.no_grad",
    "torch.autograd.grad_mode.no_grad",
}
# Calls that return the same module object (parameters unchanged) when applied to a model.
SAME_MODULE_METHODS = {
    "to",
    "cuda",
    "cpu",
    "half",
    "float",
    "double",
    "bfloat16",
    "train",
    "eval",
    "requires_grad_",
    "type",
    "to_empty",
    "share_memory",
    "apply",
    "zero_grad",
}


def short(canon: str | None) -> str:
    return canon.rsplit(".", 1)[-1] if canon else ""


def is_torch_nn(canon: str | None, names: set[str] | dict) -> bool:
    """True for torch.nn.<Name> (any import style) when <Name> is in names."""
    if not canon:
        return False
    last = short(canon)
    return last in names and (canon.startswith("torch.") or canon == last)


def dotted(node: ast.AST) -> str | None:
    """'a.b.c' for Name/Attribute chains, else None (no alias resolution)."""
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return None


def walk_scope(node: ast.AST) -> Iterator[ast.AST]:
    """Every node under `node` in source order, not entering nested defs, classes or lambdas."""
    for child in ast.iter_child_nodes(node):
        yield child
        if not isinstance(child, _DEFS):
            yield from walk_scope(child)


def const_number(node: ast.AST | None) -> float | None:
    if (
        isinstance(node, ast.Constant)
        and isinstance(node.value, int | float)
        and not isinstance(node.value, bool)
    ):
        return float(node.value)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        v = const_number(node.operand)
        return -v if v is not None else None
    return None


def kwarg(call: ast.Call, name: str) -> ast.AST | None:
    for k in call.keywords:
        if k.arg == name:
            return k.value
    return None


def arg(call: ast.Call, pos: int, name: str | None = None) -> ast.AST | None:
    if name is not None:
        v = kwarg(call, name)
        if v is not None:
            return v
    if len(call.args) > pos and not any(isinstance(a, ast.Starred) for a in call.args[: pos + 1]):
        return call.args[pos]
    return None


def method_name(call: ast.AST) -> str | None:
    if isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute):
        return call.func.attr
    return None


def receiver(call: ast.Call) -> ast.AST | None:
    return call.func.value if isinstance(call.func, ast.Attribute) else None


def freezes(node: ast.AST) -> bool:
    """`x.requires_grad = False` or `x.requires_grad_(False)`."""
    if isinstance(node, ast.Assign):
        return any(isinstance(t, ast.Attribute) and t.attr == "requires_grad" for t in node.targets) and (
            isinstance(node.value, ast.Constant) and node.value.value is False
        )
    if isinstance(node, ast.Call) and method_name(node) == "requires_grad_":
        return bool(node.args) and isinstance(node.args[0], ast.Constant) and node.args[0].value is False
    return False


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


class Ctx:
    """A parsed script with the lookups every rule needs."""

    def __init__(self, src: str, filename: str):
        self.src = src
        self.filename = filename
        self.tree = ast.parse(src, filename=filename)
        self.parent: dict[ast.AST, ast.AST] = {}
        for node in ast.walk(self.tree):
            for child in ast.iter_child_nodes(node):
                self.parent[child] = node
        self.aliases = self._aliases()
        self.classes: dict[str, ast.ClassDef] = {}
        self.functions: dict[str, list[ast.FunctionDef | ast.AsyncFunctionDef]] = {}
        for node in ast.walk(self.tree):
            if isinstance(node, ast.ClassDef):
                self.classes[node.name] = node
            elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                self.functions.setdefault(node.name, []).append(node)
        self._assign_cache: dict[int, dict[str, list[tuple[int, ast.AST, ast.AST]]]] = {}
        self._kind_guard: set[tuple[int, int]] = set()

    # --- names ---------------------------------------------------------------------------------------

    def _aliases(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for node in ast.walk(self.tree):
            if isinstance(node, ast.Import):
                for a in node.names:
                    if a.asname:
                        out[a.asname] = a.name
                    else:
                        out[a.name.split(".")[0]] = a.name.split(".")[0]
            elif isinstance(node, ast.ImportFrom) and node.module:
                for a in node.names:
                    out[a.asname or a.name] = f"{node.module}.{a.name}"
        return out

    def canon(self, node: ast.AST) -> str | None:
        """Dotted name with import aliases resolved: F.softmax -> torch.nn.functional.softmax."""
        d = dotted(node)
        if d is None:
            return None
        head, _, rest = d.partition(".")
        if head in self.aliases:
            base = self.aliases[head]
            return f"{base}.{rest}" if rest else base
        return d

    def call_canon(self, call: ast.AST) -> str | None:
        return self.canon(call.func) if isinstance(call, ast.Call) else None

    # --- scopes and assignments ----------------------------------------------------------------------

    def scope_of(self, node: ast.AST) -> Scope:
        p = self.parent.get(node)
        while p is not None and not isinstance(p, ast.Module | ast.FunctionDef | ast.AsyncFunctionDef):
            p = self.parent.get(p)
        return p if p is not None else self.tree

    def class_of(self, node: ast.AST) -> ast.ClassDef | None:
        p = self.parent.get(node)
        while p is not None and not isinstance(p, ast.ClassDef):
            p = self.parent.get(p)
        return p

    def scopes(self) -> list[Scope]:
        out: list[Scope] = [self.tree]
        for fns in self.functions.values():
            out.extend(fns)
        return out

    def assignments(self, scope: Scope) -> dict[str, list[tuple[int, ast.AST, ast.AST]]]:
        """name -> [(line, value, statement)] for plain and dotted targets, in source order."""
        key = id(scope)
        if key in self._assign_cache:
            return self._assign_cache[key]
        out: dict[str, list[tuple[int, ast.AST, ast.AST]]] = {}

        def add(target: ast.AST, value: ast.AST, stmt: ast.AST) -> None:
            if isinstance(target, ast.Tuple | ast.List):
                if isinstance(value, ast.Tuple | ast.List) and len(value.elts) == len(target.elts):
                    for t, v in zip(target.elts, value.elts, strict=True):
                        add(t, v, stmt)
                else:
                    for t in target.elts:
                        add(
                            t, ast.copy_location(ast.Constant(value=None), stmt), stmt
                        )  # unpacked from something opaque
                return
            name = dotted(target)
            if name:
                out.setdefault(name, []).append((stmt.lineno, value, stmt))

        for node in walk_scope(scope):
            if isinstance(node, ast.Assign):
                for t in node.targets:
                    add(t, node.value, node)
            elif isinstance(node, ast.AnnAssign) and node.value is not None:
                add(node.target, node.value, node)
            elif isinstance(node, ast.AugAssign):
                add(node.target, node, node)
            elif isinstance(node, ast.NamedExpr):
                add(node.target, node.value, node)
        self._assign_cache[key] = out
        return out

    def params(self, scope: Scope) -> list[str]:
        if isinstance(scope, ast.Module):
            return []
        a = scope.args
        return [x.arg for x in a.posonlyargs + a.args + a.kwonlyargs]

    def value_of(self, name: str, scope: Scope, line: int) -> tuple[ast.AST, Scope] | None:
        """The last value assigned to `name` before `line` in `scope`; else the module's last one."""
        hits = [v for ln, v, _ in self.assignments(scope).get(name, []) if ln < line]
        if hits:
            return hits[-1], scope
        if scope is self.tree or name.split(".")[0] in self.params(scope):
            return None
        if name in self.assignments(scope):  # bound locally, only later: not the module's value
            return None
        hits = [v for _ln, v, _ in self.assignments(self.tree).get(name, [])]
        return (hits[-1], self.tree) if hits else None

    def class_attr(self, cls: ast.ClassDef, attr: str) -> ast.AST | None:
        """What `self.<attr>` was set to in the class's methods (__init__ preferred)."""
        found = None
        for item in cls.body:
            if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef):
                for _ln, v, _ in self.assignments(item).get(f"self.{attr}", []):
                    if found is None or item.name == "__init__":
                        found = v
        return found

    def call_sites(self, fn: ast.FunctionDef | ast.AsyncFunctionDef) -> list[ast.Call]:
        """Calls of `fn` by name (or self.name); for __init__, calls of its class."""
        names = {fn.name, f"self.{fn.name}"}
        if fn.name == "__init__":
            cls = self.class_of(fn)
            names = {cls.name} if cls is not None else set()
        out = []
        for node in ast.walk(self.tree):
            if isinstance(node, ast.Call) and (dotted(node.func) in names or self.canon(node.func) in names):
                out.append(node)
        return out

    def param_arg(
        self, fn: ast.FunctionDef | ast.AsyncFunctionDef, call: ast.Call, name: str
    ) -> ast.AST | None:
        names = [x.arg for x in fn.args.posonlyargs + fn.args.args]
        if names and names[0] in ("self", "cls") and self.class_of(fn) is not None:
            names = names[1:]
        v = kwarg(call, name)
        if v is not None:
            return v
        if name in names:
            i = names.index(name)
            if i < len(call.args) and not any(isinstance(a, ast.Starred) for a in call.args[: i + 1]):
                return call.args[i]
        return None

    def resolve(
        self, expr: ast.AST, scope: Scope, line: int, depth: int = 0
    ) -> list[tuple[ast.AST, Scope, int]]:
        """Follow a Name/dotted name to the expression(s) that produced it: [(expr, scope, line)]."""
        name = dotted(expr)
        if name is None or depth > MAX_DEPTH:
            return [(expr, scope, line)]
        if name.startswith("self.") and name.count(".") == 1:
            cls = self.class_of(expr)
            if cls is not None:
                v = self.class_attr(cls, name[5:])
                if v is not None:
                    return self.resolve(v, self.scope_of(v), getattr(v, "lineno", line) + 1, depth + 1)
        got = self.value_of(name, scope, line)
        if got is not None:
            v, sc = got
            if isinstance(v, ast.AugAssign):
                return [(v, sc, v.lineno)]
            return (
                self.resolve(v, sc, getattr(v, "lineno", line), depth + 1)
                if dotted(v)
                else [(v, sc, getattr(v, "lineno", line))]
            )
        if isinstance(scope, ast.FunctionDef | ast.AsyncFunctionDef) and name in self.params(scope):
            out = []
            for call in self.call_sites(scope):
                a = self.param_arg(scope, call, name)
                if a is not None:
                    sc = self.scope_of(call)
                    out.extend(self.resolve(a, sc, call.lineno, depth + 1))
            return out
        return [(expr, scope, line)]

    # --- what a tensor is ----------------------------------------------------------------------------

    def kind(self, expr: ast.AST, scope: Scope, line: int | None = None, depth: int = 0) -> str | None:
        """'softmax' | 'log_softmax' | 'sigmoid' | 'logits' | 'log' | None (unknown) for a tensor expression."""
        if depth > MAX_DEPTH or expr is None:
            return None
        line = line if line is not None else getattr(expr, "lineno", 10**9)
        if isinstance(expr, ast.Name | ast.Attribute) and dotted(expr):
            kinds = set()
            for v, sc, ln in self.resolve(expr, scope, line, depth):
                if v is expr:
                    return None
                kinds.add(self.kind(v, sc, ln, depth + 1))
            return kinds.pop() if len(kinds) == 1 else None
        if isinstance(expr, ast.Subscript):
            return self.kind(expr.value, scope, line, depth + 1)
        if isinstance(expr, ast.BinOp) and isinstance(expr.op, ast.Div | ast.Mult):
            # logits / T are still logits; probabilities / T are not probabilities any more
            k = self.kind(expr.left, scope, line, depth + 1)
            return "logits" if k == "logits" else None
        if not isinstance(expr, ast.Call):
            return None
        c = self.call_canon(expr)
        m = method_name(expr)
        if c in SOFTMAX_FUNCS or (m == "softmax" and c not in LOG_SOFTMAX_FUNCS):
            return "softmax"
        if c in LOG_SOFTMAX_FUNCS or m == "log_softmax":
            return "log_softmax"
        if c in SIGMOID_FUNCS or m == "sigmoid":
            return "sigmoid"
        if c in ("torch.log", "torch.log2", "torch.log10") or m == "log":
            return "log"
        if m in PASSTHROUGH_METHODS and receiver(expr) is not None:
            return self.kind(receiver(expr), scope, line, depth + 1)
        if c in PASSTHROUGH_FUNCS and expr.args:
            return self.kind(expr.args[0], scope, line, depth + 1)
        # A call of a local function (predict(model, x)): what its returns agree on.
        fname = dotted(expr.func)
        if fname and fname.rsplit(".", 1)[-1] in self.functions and fname.split(".")[0] in (fname, "self"):
            fns = self.functions[fname.rsplit(".", 1)[-1]]
            if len(fns) == 1 and fns[0].name != "forward":
                return self.returns_kind(fns[0], depth + 1)
        # A call of a module object: what does that module return?
        return self.module_kind(expr.func, scope, line, depth + 1)

    def returns_kind(self, fn: ast.FunctionDef | ast.AsyncFunctionDef, depth: int = 0) -> str | None:
        """The kind every `return` of a function agrees on, else None."""
        key = (id(fn), 1)
        if key in self._kind_guard or depth > MAX_DEPTH:
            return None
        self._kind_guard.add(key)
        try:
            rets = [n for n in walk_scope(fn) if isinstance(n, ast.Return) and n.value is not None]
            kinds = {self.kind(r.value, fn, r.lineno + 1, depth + 1) for r in rets}
        finally:
            self._kind_guard.discard(key)
        return kinds.pop() if len(kinds) == 1 else None

    def module_kind(self, func: ast.AST, scope: Scope, line: int, depth: int = 0) -> str | None:
        """What calling `func` (a layer, a Sequential, a model) returns, when it can be read statically."""
        if depth > MAX_DEPTH:
            return None
        if isinstance(func, ast.Name) and func.id == "self":
            cls = self.class_of(func)
            return self.forward_kind(cls, depth + 1) if cls else None
        if isinstance(func, ast.Call):
            return self.constructed_kind(func, scope, depth + 1)
        if dotted(func) is None:
            return None
        kinds = set()
        for v, sc, _ln in self.resolve(func, scope, line, depth):
            if v is func or not isinstance(v, ast.Call):
                return None
            kinds.add(self.constructed_kind(v, sc, depth + 1))
        return kinds.pop() if len(kinds) == 1 else None

    def constructed_kind(self, ctor: ast.Call, scope: Scope, depth: int = 0) -> str | None:
        """What a module built by `ctor` returns when called."""
        c = self.call_canon(ctor)
        if c is None:
            # Net().to(device), model.train() ...: the module is the receiver.
            if method_name(ctor) in SAME_MODULE_METHODS and receiver(ctor) is not None:
                r = receiver(ctor)
                return self.constructed_kind(r, scope, depth + 1) if isinstance(r, ast.Call) else None
            return None
        last = short(c)
        if method_name(ctor) in SAME_MODULE_METHODS and isinstance(receiver(ctor), ast.Call):
            return self.constructed_kind(receiver(ctor), scope, depth + 1)
        if is_torch_nn(c, LAYER_KIND):
            return LAYER_KIND[last]
        if is_torch_nn(c, {"Sequential"}):
            if (
                ctor.args
                and not isinstance(ctor.args[-1], ast.Starred)
                and isinstance(ctor.args[-1], ast.Call)
            ):
                return self.constructed_kind(ctor.args[-1], scope, depth + 1)
            return None
        if c.startswith(LOGIT_MODEL_PREFIXES) and "segmentation" not in c and "detection" not in c:
            return "logits"
        if c in self.classes:
            return self.forward_kind(self.classes[c], depth + 1)
        return None

    def forward_kind(self, cls: ast.ClassDef, depth: int = 0) -> str | None:
        """The kind every `return` of cls.forward agrees on, else None."""
        key = (id(cls), 0)
        if key in self._kind_guard or depth > MAX_DEPTH:
            return None
        fwd = next((f for f in cls.body if isinstance(f, ast.FunctionDef) and f.name == "forward"), None)
        if fwd is None:
            return None
        self._kind_guard.add(key)
        try:
            rets = [n for n in walk_scope(fwd) if isinstance(n, ast.Return) and n.value is not None]
            kinds = {self.kind(r.value, fwd, r.lineno + 1, depth + 1) for r in rets}
        finally:
            self._kind_guard.discard(key)
        return kinds.pop() if len(kinds) == 1 else None

    def model_layers(self, expr: ast.AST, scope: Scope, line: int, depth: int = 0) -> set[str] | None:
        """Short names of torch.nn layer classes a model is built from (None when unknown)."""
        if depth > MAX_DEPTH:
            return None
        found: set[str] = set()
        known = False
        for v, _sc, _ln in self.resolve(expr, scope, line, depth):
            if not isinstance(v, ast.Call):
                continue
            c = self.call_canon(v)
            if c is None and method_name(v) in SAME_MODULE_METHODS and isinstance(receiver(v), ast.Call):
                v = receiver(v)
                c = self.call_canon(v)
            if c is None:
                continue
            if c.startswith(LOGIT_MODEL_PREFIXES) or ".from_pretrained" in c or c.startswith("transformers."):
                known = True
                found |= {"LayerNorm", "BatchNorm2d", "Linear"}  # library models: norms and biases
                continue
            target: ast.AST = self.classes.get(c, v)
            known = True
            for n in ast.walk(target):
                if isinstance(n, ast.Call):
                    nc = self.call_canon(n)
                    if (
                        nc
                        and nc.startswith("torch.")
                        or (nc and "." not in nc and nc in NORM_LAYERS | BIAS_LAYERS)
                    ):
                        found.add(short(nc))
        return found if known else None

    # --- losses --------------------------------------------------------------------------------------

    def loss_call(self, call: ast.Call, scope: Scope) -> tuple[str, ast.AST | None, ast.AST | None] | None:
        """(loss type, input, target) when `call` computes CE / NLL / BCE / BCE-with-logits."""
        c = self.call_canon(call)
        if c in LOSS_FUNCS:
            return LOSS_FUNCS[c], arg(call, 0, "input"), arg(call, 1, "target")
        kind = None
        if isinstance(call.func, ast.Call):
            kc = self.call_canon(call.func)
            kind = LOSS_CLASSES.get(short(kc)) if is_torch_nn(kc, LOSS_CLASSES) else None
        elif dotted(call.func):
            kinds = set()
            for v, _sc, _ in self.resolve(call.func, scope, call.lineno):
                if isinstance(v, ast.Call):
                    kc = self.call_canon(v)
                    kinds.add(LOSS_CLASSES.get(short(kc)) if is_torch_nn(kc, LOSS_CLASSES) else None)
                else:
                    kinds.add(None)
            kind = kinds.pop() if len(kinds) == 1 else None
        if kind is None:
            return None
        return kind, arg(call, 0, "input"), arg(call, 1, "target")

    # --- optimizers, schedulers, loops ---------------------------------------------------------------

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

    # --- output --------------------------------------------------------------------------------------

    def finding(
        self, rule, node: ast.AST, message: str, confidence: float | None = None, **evidence
    ) -> Finding:
        return Finding(
            id=rule.CAUSE,
            severity=evidence.pop("severity", rule.SEVERITY),
            confidence=rule.CONFIDENCE if confidence is None else confidence,
            message=message,
            evidence={"rule": rule.RULE, **evidence},
            where=f"{self.filename}:{getattr(node, 'lineno', 0)}",
            source="lint",
        )


# --- shared small analyses the rules reuse -----------------------------------------------------------------


def number(ctx: Ctx, expr: ast.AST | None, scope: Scope, line: int, depth: int = 0) -> float | None:
    """A numeric value for a literal, a name bound to one, or `args.x` with an argparse default."""
    if expr is None or depth > MAX_DEPTH:
        return None
    v = const_number(expr)
    if v is not None:
        return v
    if isinstance(expr, ast.BinOp):
        a, b = number(ctx, expr.left, scope, line, depth + 1), number(ctx, expr.right, scope, line, depth + 1)
        if a is None or b is None:
            return None
        ops = {
            ast.Mult: lambda: a * b,
            ast.Div: lambda: a / b if b else None,
            ast.Add: lambda: a + b,
            ast.Sub: lambda: a - b,
            ast.Pow: lambda: a**b,
        }
        f = ops.get(type(expr.op))
        return f() if f else None
    name = dotted(expr)
    if not name:
        return None
    for v, sc, ln in ctx.resolve(expr, scope, line, depth):
        if v is not expr:
            return number(ctx, v, sc, ln, depth + 1)
    # args.weight_decay -> parser.add_argument("--weight-decay", default=...)
    if "." in name:
        attr = name.rsplit(".", 1)[1]
        for node in ast.walk(ctx.tree):
            if isinstance(node, ast.Call) and method_name(node) == "add_argument":
                flags = [
                    a.value for a in node.args if isinstance(a, ast.Constant) and isinstance(a.value, str)
                ]
                dest = kwarg(node, "dest")
                names = {f.lstrip("-").replace("-", "_") for f in flags}
                if isinstance(dest, ast.Constant):
                    names.add(dest.value)
                if attr in names:
                    return const_number(kwarg(node, "default"))
    return None


def parameters_roots(ctx: Ctx, opt_ctor: ast.Call) -> list[str]:
    """Dotted receivers of `.parameters()` / `.named_parameters()` calls in an optimizer's params argument."""
    params = arg(opt_ctor, 0, "params")
    if params is None:
        return []
    scope = ctx.scope_of(opt_ctor)
    out: list[str] = []
    stack = [params]
    seen = 0
    while stack and seen < 50:
        seen += 1
        node = stack.pop()
        if isinstance(node, ast.Name) and dotted(node):
            for v, _sc, _ln in ctx.resolve(node, scope, opt_ctor.lineno):
                if v is not node:
                    stack.append(v)
            continue
        for n in ast.walk(node):
            if isinstance(n, ast.Call) and method_name(n) in ("parameters", "named_parameters"):
                r = dotted(receiver(n))
                if r and r not in out:
                    out.append(r)
    return out


def filters_requires_grad(ctx: Ctx, opt_ctor: ast.Call) -> bool:
    """True when the params argument keeps only parameters with requires_grad (filter / comprehension)."""
    params = arg(opt_ctor, 0, "params")
    if params is None:
        return False
    nodes = [params]
    if isinstance(params, ast.Name):
        nodes += [v for v, _, _ in ctx.resolve(params, ctx.scope_of(opt_ctor), opt_ctor.lineno)]
    return any(
        isinstance(n, ast.Attribute) and n.attr == "requires_grad" for node in nodes for n in ast.walk(node)
    )


def backward_lines(ctx: Ctx, scope: Scope) -> list[int]:
    """Lines in `scope` where training happens: backward calls, or calls of local functions that do it."""
    out = []
    for e in ctx.events(scope if not isinstance(scope, ast.Module) else _ModuleAsFn(scope)):
        if e.kind == "backward":
            out.append(_top_line(ctx, e, scope))
    return sorted(out)


def _top_line(ctx: Ctx, e: Event, scope: Scope) -> int:
    """The line in `scope` where an event happens (the call site when it came from a local function)."""
    if e.via is None:
        return e.line
    # find the call of e.via inside scope
    for n in walk_scope(scope):
        if isinstance(n, ast.Call) and (dotted(n.func) or "").rsplit(".", 1)[-1] == e.via:
            return n.lineno
    return e.line


class _ModuleAsFn:
    """Lets Ctx.events walk a module body like a function body."""

    def __init__(self, mod: ast.Module):
        self.body = mod.body


def scope_events(ctx: Ctx, scope: Scope) -> list[Event]:
    return ctx.events(_ModuleAsFn(scope) if isinstance(scope, ast.Module) else scope)


def trained_models(ctx: Ctx) -> set[str]:
    """Dotted names of the models an optimizer holds (`model`, and `self.model` when a method stores it)."""
    out: set[str] = set()
    for c in ctx.optimizer_ctors():
        roots = parameters_roots(ctx, c)
        out.update(roots)
        cls = ctx.class_of(c)
        if cls is None:
            continue
        for item in cls.body:
            if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef):
                for name, hits in ctx.assignments(item).items():
                    if name.startswith("self.") and any(dotted(v) in roots for _l, v, _s in hits):
                        out.add(name)
    return out


def grad_clearing(ctx: Ctx, node: ast.AST) -> bool:
    """Does anything under `node` clear gradients (zero_grad, p.grad = None, p.grad.zero_())?"""
    for n in ast.walk(node):
        if isinstance(n, ast.Attribute) and n.attr in ("zero_grad", "zero_grad_"):
            return True
        if isinstance(n, ast.Attribute) and n.attr == "grad" and isinstance(n.ctx, ast.Store):
            return True
        if (
            isinstance(n, ast.Call)
            and isinstance(n.func, ast.Attribute)
            and n.func.attr in ("zero_", "detach_", "fill_")
        ):
            inner = n.func.value
            while isinstance(inner, ast.Attribute) and inner.attr == "data":
                inner = inner.value
            if isinstance(inner, ast.Attribute) and inner.attr == "grad":
                return True
    return False


def local_callees(ctx: Ctx, node: ast.AST) -> list[ast.FunctionDef | ast.AsyncFunctionDef]:
    """Functions defined in the file that are called (by name or self.name) under `node`."""
    out = []
    for n in ast.walk(node):
        if isinstance(n, ast.Call):
            name = (dotted(n.func) or "").rsplit(".", 1)[-1]
            fns = ctx.functions.get(name, [])
            if len(fns) == 1 and fns[0] not in out:
                out.append(fns[0])
    return out

"""What a tensor in a training script is (probabilities, log-probabilities, logits...) and which loss a call is:
read through the dataflow, layers, `forward` methods and return values. A mixin of lint.context.Ctx."""

from __future__ import annotations

import ast

from traintriage.lint.syntax import (
    MAX_DEPTH,
    Scope,
    arg,
    dotted,
    is_torch_nn,
    method_name,
    receiver,
    short,
    walk_scope,
)
from traintriage.lint.vocab import (
    BIAS_LAYERS,
    LAYER_KIND,
    LOG_SOFTMAX_FUNCS,
    LOGIT_MODEL_PREFIXES,
    LOSS_CLASSES,
    LOSS_FUNCS,
    NORM_LAYERS,
    PASSTHROUGH_FUNCS,
    PASSTHROUGH_METHODS,
    SAME_MODULE_METHODS,
    SIGMOID_FUNCS,
    SOFTMAX_FUNCS,
)


class TensorKinds:

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

"""AST helpers the mutation operators share: who is the optimizer, the scheduler, the model; which statement
lists hold a backward call; dotted names of receivers. Pure functions over `ast` trees."""

from __future__ import annotations

import ast
from collections.abc import Iterator


def dotted(node: ast.AST) -> str | None:
    """`self.opt` -> "self.opt", `opt` -> "opt"; None for anything that is not a plain dotted name."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = dotted(node.value)
        return f"{base}.{node.attr}" if base else None
    return None


def call_name(call: ast.Call) -> str:
    """The called name's last part: `torch.optim.SGD(...)` -> "SGD", `F.cross_entropy(...)` -> "cross_entropy"."""
    f = call.func
    return f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else ""


def call_path(call: ast.Call) -> str:
    return dotted(call.func) or ""


def receiver(call: ast.Call) -> str | None:
    """`opt.step()` -> "opt"; None when the call is not a method call on a dotted name."""
    return dotted(call.func.value) if isinstance(call.func, ast.Attribute) else None


def stmt_call(stmt: ast.stmt) -> ast.Call | None:
    """The call of an expression statement `x.f(...)`, else None."""
    return stmt.value if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call) else None


def is_method_stmt(stmt: ast.stmt, method: str, recv: set[str] | None = None) -> bool:
    c = stmt_call(stmt)
    return (c is not None and isinstance(c.func, ast.Attribute) and c.func.attr == method
            and (recv is None or receiver(c) in recv))


def stmt_lists(tree: ast.AST) -> Iterator[list[ast.stmt]]:
    """Every statement list in the tree (module, function, loop, if, with, try bodies)."""
    for node in ast.walk(tree):
        for field in ("body", "orelse", "finalbody"):
            body = getattr(node, field, None)
            if isinstance(body, list) and body and isinstance(body[0], ast.stmt):
                yield body
        for h in getattr(node, "handlers", []) or []:
            yield h.body


OPTIM_CLASSES = {"SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Adadelta", "Adamax", "NAdam", "RAdam", "LBFGS",
                 "ASGD", "Rprop", "SparseAdam", "Adafactor"}
# Schedulers meant to be stepped once per epoch (torch.optim.lr_scheduler docs: "scheduler.step() after each
# epoch"); OneCycleLR/CyclicLR are per-batch by design and are left out on purpose.
EPOCH_SCHEDULERS = {"StepLR", "MultiStepLR", "ExponentialLR", "CosineAnnealingLR", "LinearLR", "ConstantLR",
                    "PolynomialLR", "CosineAnnealingWarmRestarts"}


def assigned_from(tree: ast.AST, classes: set[str]) -> dict[str, ast.Call]:
    """Dotted names assigned from a call to one of `classes` (e.g. `opt = torch.optim.SGD(...)`)."""
    out: dict[str, ast.Call] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call) and call_name(node.value) in classes:
            for t in node.targets:
                name = dotted(t)
                if name:
                    out[name] = node.value
    return out


def optimizer_calls(tree: ast.AST) -> list[ast.Call]:
    """Every optimizer constructor call (`torch.optim.X(...)`, `optim.X(...)`, `X(...)` for a known X)."""
    return [n for n in ast.walk(tree) if isinstance(n, ast.Call) and call_name(n) in OPTIM_CLASSES]


def optimizer_names(tree: ast.AST) -> set[str]:
    return set(assigned_from(tree, OPTIM_CLASSES))


def calls_named(tree: ast.AST, names: set[str]) -> list[ast.Call]:
    return [n for n in ast.walk(tree) if isinstance(n, ast.Call) and call_name(n) in names]


def loss_calls(tree: ast.AST, functional: set[str], modules: set[str]) -> list[ast.Call]:
    """Calls computing a loss: `F.<functional>(...)`, or a call of a name assigned from `nn.<module>(...)`
    (`criterion = nn.CrossEntropyLoss(); criterion(out, y)`), or `nn.<module>()(out, y)` inline."""
    crit = set(assigned_from(tree, modules))
    out = []
    for n in ast.walk(tree):
        if not isinstance(n, ast.Call) or not n.args:
            continue
        if call_name(n) in functional:
            out.append(n)
            continue
        if dotted(n.func) in crit:
            out.append(n)
        elif isinstance(n.func, ast.Call) and call_name(n.func) in modules:
            out.append(n)
    return out


def expr(src: str) -> ast.expr:
    """An expression node from source text (for building replacements)."""
    return ast.parse(src, mode="eval").body


def wrap_first_arg(call: ast.Call, template: str) -> None:
    """Replace the call's first argument `a` with `template` where "{}" stands for `a`."""
    node = expr(template.replace("{}", "__TT_ARG__"))
    for sub in ast.walk(node):
        for field, value in ast.iter_fields(sub):
            if isinstance(value, ast.Name) and value.id == "__TT_ARG__":
                setattr(sub, field, call.args[0])
            elif isinstance(value, list):
                for i, v in enumerate(value):
                    if isinstance(v, ast.Name) and v.id == "__TT_ARG__":
                        value[i] = call.args[0]
    call.args[0] = node


def find_stmt(body: list[ast.stmt], pred, start: int = 0) -> tuple[list[ast.stmt], int] | None:  # noqa: ANN001
    """The first statement at or after `start` in `body`, or inside an `if` directly in `body` (a gradient
    accumulation `if i % k == 0: opt.step()`), for which `pred` holds: (its list, its index)."""
    for i in range(start, len(body)):
        s = body[i]
        if pred(s):
            return body, i
        if isinstance(s, ast.If):
            for sub in (s.body, s.orelse):
                j = next((k for k, t in enumerate(sub) if pred(t)), None)
                if j is not None:
                    return sub, j
    return None


def pop_stmt(where: tuple[list[ast.stmt], int]) -> ast.stmt:
    """Remove and return the statement at `where`, leaving `pass` if its list would be empty."""
    body, i = where
    s = body.pop(i)
    if not body:
        body.append(ast.Pass())
    return s

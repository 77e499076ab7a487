"""Name dataflow over a parsed script: import aliases, scopes, the last assignment to a name before a line.

Nothing here runs user code: it reads the parsed module only. The dataflow is deliberately simple — the
last assignment to a name (or a dotted name like ``self.fc``) before a line, in the same function, then
in the module, then through the call sites of the function when the name is a parameter. Anything it
cannot follow is "unknown", and the rules treat unknown as "do not flag" (precision over recall).
"""

from __future__ import annotations

import ast

from traintriage.lint.syntax import (
    MAX_DEPTH,
    Scope,
    dotted,
    kwarg,
    walk_scope,
)


class Dataflow:
    """A parsed script with its names, scopes and assignments (the base of lint.context.Ctx)."""

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

"""No import circles inside the package: a test walks every module's imports (its AST) and fails on a cycle.

Counted: every `import traintriage.x` / `from traintriage.x import y` / relative import anywhere in a module,
at module level AND inside functions. A function-level import breaks a cycle at run time, but not the
layering: a lower module reaching up into a higher one (triage -> grads -> commands -> triage) is the tangle
this test is here to prevent, so a lazy import is no excuse. Imports under `if TYPE_CHECKING:` are not
counted (they never run). `from traintriage.pkg import name` counts as an edge to `traintriage.pkg.name`
when that is a module, else to `traintriage.pkg`.

Importing a package runs its `__init__`, so an edge to `a.b.c` is also an edge to `a.b` and to `a`
(except from inside those packages themselves, whose __init__ has already run by then).
"""

from __future__ import annotations

import ast
from pathlib import Path

import traintriage

PKG = Path(traintriage.__file__).parent


def _modules() -> dict[str, Path]:
    out = {}
    for p in PKG.rglob("*.py"):
        rel = p.relative_to(PKG.parent).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = p
    return out


def _type_checking_lines(tree: ast.AST) -> set[int]:
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for sub in node.body:
                for n in ast.walk(sub):
                    if hasattr(n, "lineno"):
                        skip.add(n.lineno)
    return skip


def import_graph() -> dict[str, set[str]]:
    mods = _modules()
    graph: dict[str, set[str]] = {m: set() for m in mods}
    for name, path in mods.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        skip = _type_checking_lines(tree)
        is_pkg = path.name == "__init__.py"
        pkg = name if is_pkg else name.rpartition(".")[0]
        for node in ast.walk(tree):
            if getattr(node, "lineno", None) in skip:
                continue
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = pkg.split(".")
                    anchor = anchor[: len(anchor) - (node.level - 1)]
                    base = ".".join(anchor + ([base] if base else []))
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in mods else base for a in node.names]
            for t in targets:
                if not t.startswith("traintriage"):
                    continue
                while t and t not in mods:
                    t = t.rpartition(".")[0]
                # the target and the packages above it (their __init__ runs), but not our own enclosing packages
                while t:
                    if t != name and not name.startswith(t + "."):
                        graph[name].add(t)
                    t = t.rpartition(".")[0]
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(n: str) -> list[str] | None:
        state[n] = 1
        stack.append(n)
        for m in sorted(graph.get(n, ())):
            if state.get(m) == 1:
                return stack[stack.index(m):] + [m]
            if m not in state:
                found = visit(m)
                if found:
                    return found
        stack.pop()
        state[n] = 2
        return None

    for n in sorted(graph):
        if n not in state:
            found = visit(n)
            if found:
                return found
    return None


def test_the_package_has_no_import_cycle():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_the_walker_sees_function_level_imports_and_finds_a_planted_cycle():
    g = import_graph()
    # triage imports the probe's grads reader inside a function: that edge must be in the graph
    assert "traintriage.probe.grads" in g["traintriage.triage"]
    planted = {k: set(v) for k, v in g.items()}
    planted["traintriage.report"].add("traintriage.triage")  # report <- triage already holds: a circle
    cycle = find_cycle(planted)
    assert cycle is not None and "traintriage.report" in cycle and "traintriage.triage" in cycle

"""The optimizer holds parameters that are not the ones being trained:
- the model variable is rebound to a new module after the optimizer was built (`model = Net()`,
  `copy.deepcopy(model)`, `from_pretrained(...)`, a model rebuilt inside the training loop);
- a submodule is attached after the optimizer was built (`model.head = nn.Linear(...)`).
`model = model.to(device)`, `torch.compile(model)`, `DataParallel(model)` return the same parameters and
are fine; so is building the optimizer again (or add_param_group) before training resumes."""

from __future__ import annotations

import ast
import sys

from traintriage.lint.context import Ctx, backward_lines, parameters_roots
from traintriage.lint.syntax import method_name, receiver, short
from traintriage.lint.vocab import SAME_MODULE_METHODS
from traintriage.report import Finding

RULE = "optimizer-built-before-model-replaced"
CAUSE = "params-not-in-optimizer"
SEVERITY = "error"
CONFIDENCE = 0.8

# Calls that wrap a module and share its parameters.
WRAPPERS = {
    "compile",
    "DataParallel",
    "DistributedDataParallel",
    "DDP",
    "FSDP",
    "FullyShardedDataParallel",
    "prepare",
    "prepare_model",
    "setup",
    "wrap",
    "script",
    "trace",
    "checkpoint_wrapper",
    "get_peft_model",
    "PeftModel",
}


def new_module(ctx: Ctx, value: ast.AST, root: str) -> bool:
    """True when `value` builds a different module than the one held in `root`."""
    if not isinstance(value, ast.Call):
        return False
    c = ctx.call_canon(value) or ""
    m = method_name(value)
    if m in SAME_MODULE_METHODS and value.func is not None:
        r = receiver(value)
        return new_module(ctx, r, root) if isinstance(r, ast.Call) else False
    if short(c) in WRAPPERS or m in WRAPPERS:
        return False
    if short(c) == "deepcopy":
        return True
    if c in ctx.classes or "from_pretrained" in c or c.startswith(("torchvision.models.", "timm.")):
        return True
    if c.startswith("torch.nn.") and short(c)[:1].isupper():
        return True
    return False


def check(ctx: Ctx) -> list[Finding]:
    out = []
    ctors = ctx.optimizer_ctors()
    for opt in ctors:
        scope = ctx.scope_of(opt)
        roots = parameters_roots(ctx, opt)
        trains = backward_lines(ctx, scope)
        assigns = ctx.assignments(scope)
        for root in roots:
            for name, hits in assigns.items():
                if not (name == root or name.startswith(root + ".")):
                    continue
                for line, value, stmt in hits:
                    if line <= opt.lineno or not new_module(ctx, value, root):
                        continue
                    after = [t for t in trains if t > line]
                    if not after:
                        continue  # replaced after training (e.g. reloaded for evaluation)
                    rebuilt = any(
                        line < o.lineno < after[0] and ctx.scope_of(o) is scope for o in ctors
                    ) or any(
                        isinstance(n, ast.Call)
                        and method_name(n) == "add_param_group"
                        and line < n.lineno < after[0]
                        for n in ast.walk(scope)
                    )
                    if rebuilt:
                        continue
                    what = "rebound to a new module" if name == root else f"given a new submodule ({name})"
                    out.append(
                        ctx.finding(
                            sys.modules[__name__],
                            stmt,
                            f"the optimizer (line {opt.lineno}) was built from {root}.parameters(), then {root} is "
                            f"{what} at line {line}: the trained parameters are not in the optimizer. Build the "
                            "optimizer after the model is final.",
                            optimizer_line=opt.lineno,
                            replaced=name,
                            first_backward_after=after[0],
                        )
                    )
    return out

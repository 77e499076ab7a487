"""Initialise every weight from N(0, 1) (a `randn` init): activations blow up or saturate layer by layer."""

import ast

from traintriage.mutate.astops import optimizer_calls, stmt_lists

NAME = "bad-init-std1"
PRODUCES = ["bad-init", "saturated-activations", "exploding-gradients", "vanishing-gradients", "dead-relu",
            "non-finite-loss"]


def apply(tree: ast.Module) -> bool:
    calls = [c for c in optimizer_calls(tree) if c.args and ast.unparse(c.args[0]).endswith(".parameters()")]
    for c in calls:
        params = ast.unparse(c.args[0])
        for body in stmt_lists(tree):
            for i, s in enumerate(body):
                if isinstance(s, ast.Assign | ast.AnnAssign | ast.Expr) and any(n is c for n in ast.walk(s)):
                    init = ast.parse(f"for _tt_p in {params}:\n    if _tt_p.dim() > 1:\n"
                                     "        torch.nn.init.normal_(_tt_p, std=1.0)").body[0]
                    body.insert(i, init)
                    return True
    return False

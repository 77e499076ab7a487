"""Stop masking the prompt: the `y[:, :n] = -1` line that sets the labels of the positions to leave out (a
prompt the model cannot predict, as in a minGPT-style sort; padding) to the loss's ignore_index is gone."""

import ast

from traintriage.mutate.astops import call_name, stmt_lists

NAME = "unmask-prompt"
PRODUCES = ["padding-in-loss"]
LOSS_CALLS = ("cross_entropy", "CrossEntropyLoss", "nll_loss", "NLLLoss")
DEFAULT_IGNORE_INDEX = -100  # PyTorch's: a script passing another value marks positions with it on purpose


def _int(node: ast.AST) -> int | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, int) and not isinstance(node.value, bool):
        return node.value
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        v = _int(node.operand)
        return -v if v is not None else None
    return None


def apply(tree: ast.Module) -> bool:
    values = {_int(k.value) for n in ast.walk(tree) if isinstance(n, ast.Call) and call_name(n) in LOSS_CALLS
              for k in n.keywords if k.arg == "ignore_index"} - {None, DEFAULT_IGNORE_INDEX}
    hit = False
    for body in stmt_lists(tree):
        for s in list(body):
            if (isinstance(s, ast.Assign) and len(s.targets) == 1 and isinstance(s.targets[0], ast.Subscript)
                    and _int(s.value) in values):
                body.remove(s)
                hit = True
        if hit and not body:
            body.append(ast.Pass())
    return hit

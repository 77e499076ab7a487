"""Put the model in eval mode where the script asks for train mode: dropout off, BatchNorm frozen on running stats."""

import ast

from traintriage.mutate.astops import is_method_stmt, receiver, stmt_call, stmt_lists

NAME = "train-to-eval"
PRODUCES = ["wrong-train-eval-mode"]


def apply(tree: ast.Module) -> bool:
    hit = False
    for body in stmt_lists(tree):
        for s in body:
            c = stmt_call(s)
            if is_method_stmt(s, "train") and not c.args and not c.keywords \
                    and "trainer" not in (receiver(c) or "").lower():
                c.func.attr = "eval"
                hit = True
    return hit

"""Invert an attention padding mask built by comparison (`tokens == PAD` <-> `tokens != PAD`) where it is passed."""

import ast

MASK_KWARGS = {"key_padding_mask", "src_key_padding_mask", "tgt_key_padding_mask", "memory_key_padding_mask",
               "attn_mask"}
NAME = "invert-padding-mask"
PRODUCES = ["attention-mask-inverted"]
FLIP = {ast.Eq: ast.NotEq, ast.NotEq: ast.Eq}


def _flip(node: ast.AST) -> bool:
    """Flip the first == / != comparison inside node (the mask's polarity)."""
    for n in ast.walk(node):
        if isinstance(n, ast.Compare) and len(n.ops) == 1 and type(n.ops[0]) in FLIP:
            n.ops = [FLIP[type(n.ops[0])]()]
            return True
    return False


def apply(tree: ast.Module) -> bool:
    masks = {kw.value for n in ast.walk(tree) if isinstance(n, ast.Call) for kw in n.keywords
             if kw.arg in MASK_KWARGS}
    names = {m.id for m in masks if isinstance(m, ast.Name)}
    done = False
    for m in masks:
        if not isinstance(m, ast.Name):
            done |= _flip(m)
    for n in ast.walk(tree):  # mask = tokens == PAD, then key_padding_mask=mask
        if isinstance(n, ast.Assign) and any(isinstance(t, ast.Name) and t.id in names for t in n.targets):
            done |= _flip(n.value)
    return done

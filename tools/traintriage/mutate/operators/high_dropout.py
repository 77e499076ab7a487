"""Dropout p raised to 0.75 where the host applies dropout (a retain rate meant for inputs given as the drop rate, a
regularisation knob turned far up): `nn.Dropout*(p)`, `F.dropout*(x, p)` and any layer's `dropout=` argument."""

import ast

from traintriage.mutate.astops import dotted

NAME = "high-dropout"
PRODUCES = ["dropout-too-high"]
P = 0.75
MODULES = {"Dropout", "Dropout1d", "Dropout2d", "Dropout3d", "AlphaDropout", "FeatureAlphaDropout"}
FUNCTIONS = {"dropout", "dropout1d", "dropout2d", "dropout3d", "alpha_dropout", "feature_alpha_dropout"}
# Where the functional form lives (`self.dropout(x)` is a module held by the model, not the function).
FUNCTIONAL = {None, "F", "functional", "nn.functional", "torch.nn.functional", "torch"}


def _off(node: ast.expr) -> bool:
    """An explicit 0 (dropout switched off on purpose: nothing to raise)."""
    return isinstance(node, ast.Constant) and node.value in (0, 0.0) and not isinstance(node.value, bool)


def _set_p(call: ast.Call, pos: int, kw: str, default_on: bool) -> bool:
    """Set the call's rate argument (positional index `pos` or keyword `kw`) to P; add it when the default is on."""
    for k in call.keywords:
        if k.arg == kw:
            if _off(k.value):
                return False
            k.value = ast.Constant(P)
            return True
    if len(call.args) > pos:
        if _off(call.args[pos]) or isinstance(call.args[pos], ast.Starred):
            return False
        call.args[pos] = ast.Constant(P)
        return True
    if default_on:
        call.keywords.append(ast.keyword(arg=kw, value=ast.Constant(P)))
        return True
    return False


def apply(tree: ast.Module) -> bool:
    done = False
    for n in ast.walk(tree):
        if not isinstance(n, ast.Call):
            continue
        f = n.func
        name = f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else ""
        if name in MODULES:
            done |= _set_p(n, 0, "p", True)  # nn.Dropout() drops 0.5 by default
        elif name in FUNCTIONS and (dotted(f.value) if isinstance(f, ast.Attribute) else None) in FUNCTIONAL:
            done |= _set_p(n, 1, "p", True)  # F.dropout(x) drops 0.5 by default (when training=True)
        else:
            for k in n.keywords:  # nn.TransformerEncoderLayer(..., dropout=0.1), nn.GRU(..., dropout=0.2)
                if k.arg == "dropout" and not _off(k.value):
                    k.value = ast.Constant(P)
                    done = True
    return done

"""loss-at-chance and loss-above-chance-at-init: the loss against ln C for C-class cross-entropy.

Needs the number of classes: `diagnose(run, num_classes=C)` (`--classes C`), or a config/params entry
the run logged (num_classes, num_labels, n_classes).
"""

from __future__ import annotations

import math

from traintriage.logs.detectors.base import Context, Detection, finding, fmt, head, sym, tail

IDS = ("loss-at-chance", "loss-above-chance-at-init")
# A model that knows nothing predicts uniform probabilities: cross-entropy = ln C (Karpathy, "A Recipe for
# Training Neural Networks", 2019, "verify loss @ init"; seed 003 O1). Within this relative margin counts as
# "at chance" (a few percent covers a model that learned only the class prior on balanced data).
CHANCE_TOL = 0.05
# "Initial cross-entropy several times ln C" (refs/symptoms.md#loss-above-chance-at-init).
ABOVE_FACTOR = 3.0
# A first loss below this share of ln C is suspicious the other way (leakage or a wrong loss formula).
BELOW_FACTOR = 0.25
CLASS_KEYS = ("num_classes", "num_labels", "n_classes", "classes", "nclasses")
MIN_POINTS = 5


def classes(ctx: Context) -> int | None:
    if ctx.num_classes:
        return int(ctx.num_classes)
    v = ctx.meta(*CLASS_KEYS)
    try:
        c = int(float(v)) if v is not None else None
    except (TypeError, ValueError):
        return None
    return c if c and c >= 2 else None


def detect(ctx: Context) -> list[Detection]:
    c = ctx.curve("train_loss")
    if c is None:
        return []
    c = c.clean()
    C = classes(ctx)
    if C is None:
        ctx.notes.append("loss vs chance not checked: pass --classes C (or log num_classes) to compare with ln C")
        return []
    if len(c) < MIN_POINTS:
        return []
    chance = math.log(C)
    first = float(c.values[0])
    start, end = head(c.values), tail(c.values)
    out: list[Detection] = []
    ev = {"num_classes": C, "chance": chance, "first": first, "start": start, "end": end, "points": len(c)}
    if first > ABOVE_FACTOR * chance:
        msg = (f"{c.name} starts at {fmt(first)}, {first / chance:.1f}x the chance level ln({C}) = {fmt(chance)}: "
               "the initial outputs are confidently wrong")
        out.append(Detection(sym("loss-above-chance-at-init", c.name, c.steps[0], msg, ev), "warning",
                             [finding("bad-init", "warning", 0.5, msg, ev)]))
    elif first < BELOW_FACTOR * chance:
        ctx.notes.append(
            f"{c.name} starts at {fmt(first)}, far below chance ln({C}) = {fmt(chance)}: check the loss formula "
            "and for label leakage (or the logged loss is not cross-entropy over C classes)"
        )
    if abs(end - chance) <= CHANCE_TOL * chance:
        msg = (f"{c.name} ends at {fmt(end)}, within {CHANCE_TOL:.0%} of chance ln({C}) = {fmt(chance)}: the model "
               "predicts no better than uniform")
        out.append(Detection(sym("loss-at-chance", c.name, c.steps[0], msg, ev), "error"))
    return out

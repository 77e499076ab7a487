"""Mechanical claims of the handbook (refs/, SKILL.md) hold against the code (issue 20).

- The relative-update thresholds the pages state are the constants the probe's detectors use: the table in
  refs/diagnostic_metrics.md#relative-update-thresholds names each constant, and every number a page states
  next to "relative update" / "update ratio" is one of those values.
- Every CLI flag a page mentions exists in the real argparse parsers (built from traintriage.cli).
- The label-smoothing loss floor the handbook states is the exact minimum of CrossEntropyLoss.
"""

from __future__ import annotations

import argparse
import importlib
import math
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = sorted([ROOT / "SKILL.md", *(ROOT / "refs").rglob("*.md")])
METRICS = ROOT / "refs" / "diagnostic_metrics.md"


def _section(text: str, heading: str) -> str:
    start = text.index(f"\n## {heading}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else len(text)]


def threshold_table() -> dict[str, float]:
    """{dotted constant name: the value the page states}, parsed from the thresholds table."""
    sec = _section(METRICS.read_text(encoding="utf-8"), "Relative update thresholds")
    rows = re.findall(r"^\| *([0-9.]+e-?[0-9]+) *\|[^|]*\| *`([\w.]+)` *\|$", sec, flags=re.M)
    return {name: float(v) for v, name in rows}


def _constant(dotted: str) -> float:
    mod, _, attr = dotted.rpartition(".")
    return getattr(importlib.import_module(mod), attr)


def test_threshold_table_names_the_detectors_constants_with_their_values():
    table = threshold_table()
    assert len(table) == 5, table  # centre, low warning, low error, high regime, single-step peak
    for name, stated in table.items():
        assert _constant(name) == pytest.approx(stated, rel=1e-12), f"{name}: page says {stated}, code {_constant(name)}"


# a number written next to one of these phrases (within the same sentence) is a relative-update threshold
_PHRASE = re.compile(r"relative update|update ratio|update-to-weight|‖ΔW‖ */ *‖W‖|\|\|ΔW\|\| */ *\|\|W\|\||update/weight",
                     re.I)
_NUMBER = re.compile(r"(?<![\w.])(\d(?:\.\d+)?e-\d+)(?![\w])")


def stated_thresholds(text: str) -> list[tuple[int, str]]:
    """(line number, number) for every scientific-notation number within 120 characters after a phrase."""
    out = []
    flat = text
    for m in _PHRASE.finditer(flat):
        window = flat[m.end() : m.end() + 120]
        window = re.split(r"(?<=[.;])\s|\n\n", window)[0]  # stop at the end of the sentence
        for n in _NUMBER.finditer(window):
            out.append((flat.count("\n", 0, m.end() + n.start()) + 1, n.group(1)))
    return out


def test_every_relative_update_number_a_page_states_is_one_of_the_thresholds():
    allowed = set(threshold_table().values())
    bad = []
    for page in PAGES:
        for line, num in stated_thresholds(page.read_text(encoding="utf-8")):
            if float(num) not in allowed:
                bad.append(f"{page.relative_to(ROOT)}:{line}: {num}")
    assert not bad, "relative-update numbers that are not the shared thresholds:\n" + "\n".join(bad)


def test_the_scanner_sees_a_wrong_threshold():
    assert stated_thresholds("a relative update above 1e-2 per step") == [(1, "1e-2")]
    assert stated_thresholds("the update ratio is near 1e-3. Then eps 1e-8 rounds") == [(1, "1e-3")]


# ------------------------------------------------------------------------------------------ CLI flags


def parser_flags() -> dict[str, set[str]]:
    """{subcommand: its option strings}, from the real parser traintriage.cli builds."""
    from traintriage import cli

    parser = cli.build_parser()
    out: dict[str, set[str]] = {"": {s for a in parser._actions for s in a.option_strings}}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                out[name] = {s for a in sub._actions for s in a.option_strings}
    return out


_CMD = re.compile(r"traintriage\s+([a-z][\w-]*)((?:[ \t]+[^\s`|]+)*)")
_FLAG = re.compile(r"(?<![\w-])(--[a-z][a-z0-9-]*)")


def mentioned_flags(text: str) -> list[tuple[str, str]]:
    """(subcommand, flag) for flags written after `traintriage SUB` on the same line of a page."""
    out = []
    for m in _CMD.finditer(text):
        for f in _FLAG.findall(_ours(m.group(2))):
            out.append((m.group(1), f))
    return out


def bare_flags(text: str) -> set[str]:
    """Every `--flag` written in backticks anywhere on a page (prose such as "given `--classes`")."""
    return {f for code in re.findall(r"`([^`\n]+)`", text) for f in _FLAG.findall(_ours(code))}


def _ours(args: str) -> str:
    """The part of a command line before a bare `--` (what follows is the training script's own)."""
    return re.split(r"(?:^|\s)--(?:\s|$)", args, maxsplit=1)[0]


def test_every_cli_flag_a_page_mentions_exists():
    flags = parser_flags()
    every = set().union(*flags.values())
    bad = []
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        for sub, flag in mentioned_flags(text):
            if sub in flags and flag not in flags[sub] and flag != "--":
                bad.append(f"{page.relative_to(ROOT)}: traintriage {sub} {flag}")
        for flag in bare_flags(text) - every:
            bad.append(f"{page.relative_to(ROOT)}: `{flag}` is no traintriage flag")
    assert not bad, "flags the pages mention that the CLI lacks:\n" + "\n".join(bad)


def test_the_flag_check_catches_a_made_up_flag():
    flags = parser_flags()
    assert ("logs", "--num-classes") in mentioned_flags("`traintriage logs RUN_DIR --num-classes 10`")
    assert mentioned_flags("traintriage probe t.py --json -- --epochs 1") == [("probe", "--json")]
    assert "--num-classes" not in flags["logs"] and "--classes" in flags["logs"]
    assert "--lr-scale" in flags["probe"] and "--optimizer-impl" in flags["triage"]


# ------------------------------------------------------------------------------------------ label smoothing


def test_label_smoothing_floor_the_handbook_states():
    """CrossEntropyLoss(label_smoothing=0.1), 10 classes: the best possible loss is the entropy of the
    smoothed target, about 0.50, and the handbook says so."""
    import torch
    import torch.nn.functional as F

    eps, c = 0.1, 10
    q = torch.full((c,), eps / c)
    q[0] += 1 - eps
    floor = float(-(q * q.log()).sum())
    best = F.cross_entropy(q.log().unsqueeze(0), torch.tensor([0]), label_smoothing=eps)  # logits = log q
    assert math.isclose(float(best), floor, rel_tol=1e-5) and round(floor, 2) == 0.50
    text = (ROOT / "refs" / "catalogue" / "loss.md").read_text(encoding="utf-8")
    assert "label_smoothing=0.1" in text and "0.50" in text


def test_double_softmax_floor_with_label_smoothing_is_the_true_minimum():
    """The detector's floor equals what an optimizer reaches on cross_entropy(softmax(z), y), with and without
    label smoothing (the handbook states 1.46 and 1.55 for C=10)."""
    import torch
    import torch.nn.functional as F
    from traintriage.probe.detectors.double_softmax import floor

    torch.manual_seed(0)
    for eps, stated in ((0.0, 1.46), (0.1, 1.55)):
        z = torch.zeros(1, 10, requires_grad=True)
        opt = torch.optim.Adam([z], lr=0.1)
        for _ in range(2000):
            opt.zero_grad()
            loss = F.cross_entropy(z.softmax(-1), torch.tensor([0]), label_smoothing=eps)
            loss.backward()
            opt.step()
        assert loss.item() == pytest.approx(floor(10, eps), abs=2e-3)
        assert round(floor(10, eps), 2) == stated


DOUBLE_SOFTMAX_LS = """
import torch, torch.nn as nn, torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset
torch.manual_seed(0)
x = torch.randn(256, 8); y = torch.randint(0, 10, (256,))
model = nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 10))
opt = torch.optim.Adam(model.parameters(), lr=1e-2)
crit = nn.CrossEntropyLoss(label_smoothing=0.1)
for xb, yb in DataLoader(TensorDataset(x, y), batch_size=32):
    opt.zero_grad()
    loss = crit(model(xb).softmax(-1), yb)
    loss.backward()
    opt.step()
"""


@pytest.mark.slow
def test_probe_reports_the_smoothed_double_softmax_floor(tmp_path):
    from traintriage.probe import run_probe

    p = tmp_path / "ds_ls.py"
    p.write_text(DOUBLE_SOFTMAX_LS)
    rep = run_probe(p, steps=8, timeout=120)
    ds = [f for f in rep.findings if f.id == "double-softmax"]
    assert ds, [(f.id, f.severity) for f in rep.findings]
    assert ds[0].evidence["label_smoothing"] == pytest.approx(0.1)
    assert ds[0].evidence["loss_floor"] == pytest.approx(1.5511, abs=1e-3)


def test_every_confirm_step_has_a_by_hand_equivalent():
    """Issue 20: people without the tool can run every Confirm step too."""
    from traintriage import catalogue as cat

    missing = [e.id for e in cat.load_catalogue().values() if "by hand" not in e.confirm.lower()]
    assert not missing, f"Confirm without a by-hand check: {missing}"

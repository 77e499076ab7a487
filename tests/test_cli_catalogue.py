"""The catalogue commands, run as a real subprocess through the installed console script."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from traintriage import catalogue as cat


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "traintriage", *args], capture_output=True, text=True, timeout=60
    )


def test_explain_prints_an_actionable_entry():
    r = run("explain", "double-softmax")
    assert r.returncode == 0, r.stderr
    for heading in ("SYMPTOMS", "CAUSE", "CONFIRM", "FIX", "SOURCES"):
        assert heading in r.stdout
    assert "cross_entropy" in r.stdout  # the before/after code is shown


def test_explain_json_is_one_object():
    r = run("explain", "lr-too-high", "--json")
    assert r.returncode == 0
    data = json.loads(r.stdout)
    assert data["kind"] == "cause" and data["cause"]["id"] == "lr-too-high"  # the MCP tool's ExplainResult
    assert data["cause"]["ref"].startswith("refs/catalogue/optimizer.md#")


def test_unknown_id_suggests_closest():
    r = run("explain", "double-softmx")
    assert r.returncode == 2
    assert "did you mean" in r.stderr and "double-softmax" in r.stderr
    r = run("explain", "double-softmx", "--json")
    assert r.returncode == 2 and "double-softmax" in json.loads(r.stdout)["error"]["message"]


def test_explain_symptom_and_text_search():
    r = run("explain", "flat-loss")
    assert r.returncode == 0 and "CANDIDATE CAUSES" in r.stdout
    r = run("explain", "loss", "is", "nan", "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["kind"] == "search"


@pytest.mark.parametrize("cmd", ["catalogue", "symptoms"])
def test_listing_commands(cmd):
    r = run(cmd, "--json")
    assert r.returncode == 0
    data = json.loads(r.stdout)
    expected = len(cat.load_catalogue()) if cmd == "catalogue" else len(cat.load_symptoms())
    assert data["count"] == expected
    assert run(cmd).returncode == 0


def test_catalogue_unknown_family():
    r = run("catalogue", "--family", "nope")
    assert r.returncode == 2 and "families" in r.stderr


@pytest.mark.parametrize(("query", "first"), [
    ("loss is flat and does not go down", "flat-loss"),
    ("the loss isn't decreasing at all", "flat-loss"),
    ("loss becomes nan after a few steps", "nan-loss"),
    ("validation loss goes up while training loss falls", "overfitting"),
])
def test_free_text_explain_ranks_the_matching_symptom_first(query: str, first: str):
    """Issue 19: a description of a curve is a symptom first; the search spans symptoms and causes."""
    from traintriage.explain import explain_query

    res = explain_query(query)
    assert res.kind == "search" and res.results[0].id == first and res.results[0].kind == "symptom"

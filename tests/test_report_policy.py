"""The severity policy (refs/triage.md, issue 12): `broken` needs an error finding; a failed overfit check that
no check charged to a cause is `inconclusive`, never `broken`."""

from __future__ import annotations

from traintriage.report import Finding, verdict_for


def _f(sev: str) -> Finding:
    return Finding(id="lr-too-low", severity=sev, confidence=0.6, message="m")


def test_broken_needs_an_error_finding():
    assert verdict_for([_f("error")], None) == "broken"
    assert verdict_for([_f("error")], False) == "broken"
    assert verdict_for([_f("error")], True) == "broken"


def test_a_failed_overfit_check_alone_is_inconclusive():
    assert verdict_for([], False) == "inconclusive"
    assert verdict_for([_f("warning"), _f("info")], False) == "inconclusive"


def test_healthy_when_nothing_is_wrong():
    assert verdict_for([], None) == "healthy"
    assert verdict_for([_f("warning")], True) == "healthy"

"""Issue 12: no false error on healthy scripts whose mechanism a check misread (real child processes).

pinn_like.py: loss_fn(target, prediction) (a symmetric loss, arguments swapped), a PDE residual from
autograd.grad, an empty validation split forwarded with grad on and never backpropagated (its loss is nan).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from traintriage.probe import run_probe

SCRIPTS = Path(__file__).parent / "probe_scripts"


@pytest.mark.slow
def test_pinn_look_alike_runs_clean_under_the_probe():
    rep = run_probe(SCRIPTS / "pinn_like.py", steps=20)
    assert rep.verdict != "crashed", rep.notes  # max() on the empty validation batch must not raise
    errors = [(f.id, f.message) for f in rep.findings if f.severity == "error"]
    assert errors == []  # no label-leakage from the swapped target, no non-finite-loss from the empty val loss
    assert rep.verdict == "healthy"

"""Cold probes: the cold command line (a fresh `python -m traintriage.probe.harness`) keeps its coverage.

The suite runs its probes warm (tests/conftest.py). Here the hostile-script tests (writes outside, spawned
daemons, the memory cap, the network, a child that dies mid-run, each sandbox layer alone), the hang that times
out, the cancel that kills the child, the first progress line and the MCP server's crash/cancel tests are
collected a second time and run with `TRAINTRIAGE_WARM=0`, as a user who turned warm probes off gets them; the
last test checks that no probe of this module forked from a template.
"""

from __future__ import annotations

import os

import pytest
from test_probe_scripts import test_cancel_kills_the_child, test_hang_times_out_with_partial_evidence  # noqa: F401
from test_progress import test_first_progress_line_comes_at_once_and_names_the_phase  # noqa: F401
from test_sandbox_hostile import *  # noqa: F403 - the same tests, collected again with warm probes off
from test_server_probe import (  # noqa: F401
    test_a_crashing_script_is_a_report_not_a_dead_server,
    test_cancelling_a_probe_kills_the_child,
)
from traintriage.probe import runner, warm

# Not rerun cold: a cold probe runs the same sandbox code (sandbox.sandboxed) as a warm one, after an exec instead
# of a fork, so what a cold rerun can find is in how the layers come up, not in each rule. The write ops keep
# one per kind of kernel access right (remove a file, remove a tree, rename, write into a file); two detector
# checks of an ordinary loop (no sandbox layer involved) are not rerun at all.
del test_write_outside_fails_in_the_script_and_never_reaches_disk  # noqa: F821 - from the * import
del test_a_loop_that_never_steps_is_a_finding, test_a_working_manual_update_loop_is_not_flagged  # noqa: F821
COLD_WRITE_ACTS = ("os.remove", "shutil.rmtree", "os.rename", "os.open")


@pytest.mark.parametrize("act", COLD_WRITE_ACTS)
def test_write_outside_fails_cold(user, act: str) -> None:  # noqa: ANN001 - the hostile module's fixture
    import test_sandbox_hostile as hostile

    assert act in hostile.WRITE_ACTS
    hostile.test_write_outside_fails_in_the_script_and_never_reaches_disk(user, act)

# one xdist worker runs the whole module in order: its last test counts the starts of that process
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("cold")]
_WARM_BEFORE: dict[str, int] = {}


@pytest.fixture(autouse=True, scope="module")
def cold_probes():
    """TRAINTRIAGE_WARM=0 for this module (warm.enabled() reads it at every probe; the MCP server's child reads
    it from the environment it inherits)."""
    _WARM_BEFORE["warm"] = runner.STARTS["warm"]
    before = os.environ.get(warm.ENV_SWITCH)
    os.environ[warm.ENV_SWITCH] = "0"
    yield
    if before is None:
        os.environ.pop(warm.ENV_SWITCH, None)
    else:
        os.environ[warm.ENV_SWITCH] = before


def test_every_probe_in_this_module_was_cold() -> None:
    """Last in the module: no probe above forked from a template."""
    assert runner.STARTS["cold"] > 0
    assert runner.STARTS["warm"] == _WARM_BEFORE["warm"], "a probe forked from a template with warm probes off"

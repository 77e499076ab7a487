"""Suite-wide fixtures.

Warm probes for the whole suite (issue 15, budgets): every probe and plain run of a test forks from a template
that imported torch once (probe/warm.py) instead of paying the import (3-5 CPU-s) again, as `traintriage eval`
and the MCP server do. The cold command line keeps its own coverage: tests/test_cold.py runs the hostile-script,
crash, hang and cancel tests again with `TRAINTRIAGE_WARM=0` and checks that none of them forked.

One intra-op thread per xdist worker: `pytest -q` runs one worker per core (pyproject addopts), so torch in a
worker, and every probe or script a worker starts, would otherwise take every core while the other workers do
the same. Oversubscribed, a small model's steps ran 5-20x slower (test_logs_still_falling's 4000-step run:
1.7 s with one thread, 31 s with torch's default two while the other core was busy; 2026-12-03, 2 cores). The
probe itself gives its children one thread only when it runs several at once (probe/runner.py), which a
worker cannot see: the other workers are other processes. Tests that check thread handling set or delete
these variables themselves.
"""

from __future__ import annotations

import os
import sys

import pytest
from traintriage.probe.warm import THREAD_KEYS


def pytest_configure(config):
    if int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")) > 1:
        for k in THREAD_KEYS:
            os.environ.setdefault(k, "1")
        if "torch" in sys.modules:  # imported before this hook ran: its pool size is already set
            sys.modules["torch"].set_num_threads(int(os.environ["OMP_NUM_THREADS"]))


@pytest.fixture(autouse=True, scope="session")
def warm_probes_for_the_suite():
    from traintriage.probe import warm

    warm.enable()
    yield
    warm.disable()

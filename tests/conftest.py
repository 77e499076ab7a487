"""Suite-wide fixtures.

Warm probes for the whole suite (issue 15, budgets): every probe and plain run of a test forks from a template
that imported torch once (probe/warm.py) instead of paying the import (3-5 CPU-s) again, as `traintriage eval`
and the MCP server do. The cold command line keeps its own coverage: tests/test_cold.py runs the hostile-script,
crash, hang and cancel tests again with `TRAINTRIAGE_WARM=0` and checks that none of them forked.
"""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True, scope="session")
def warm_probes_for_the_suite():
    from traintriage.probe import warm

    warm.enable()
    yield
    warm.disable()

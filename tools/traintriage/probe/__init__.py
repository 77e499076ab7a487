"""Run an unmodified training script in a child process under instrumentation; name the cause.

`run_probe(script, mode="overfit"|"observe", ...) -> Report`. See runner.py (parent), harness.py (child: hooks),
core.py (child: shared context + event dispatch), evidence.py (records -> evidence -> report) and detectors/
(one module per check: its recording half and its judging half).
"""

from __future__ import annotations

from traintriage.probe.runner import run_probe

__all__ = ["run_probe"]

"""Run an unmodified training script in a child process under instrumentation; name the cause.

`run_probe(script, mode="overfit"|"observe", ...) -> Report`. See runner.py (parent), harness.py (child),
evidence.py (records -> evidence -> report) and detectors/ (one module per cause id).
"""

from __future__ import annotations

from traintriage.probe.runner import run_probe

__all__ = ["run_probe"]

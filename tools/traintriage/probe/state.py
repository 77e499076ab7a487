"""State shared, inside a probe's child process, between the harness and `traintriage.term`.

The harness sets `recorder` before the user's script runs. `traintriage.term(name, value)` looks this
module up in `sys.modules` (it never imports it), so outside a probe marking a term costs nothing.

Loss terms of the current optimizer step are kept with their tensors (`current_terms()`), so gradient
decomposition can ask for each term's gradient on shared parameters while the graph is still alive.
"""

from __future__ import annotations

from typing import Any

recorder: Any = None  # the active traintriage.probe.core.Recorder, or None


def on_term(name: str, value: Any) -> Any:
    """Called by traintriage.term(): record a custom loss term for the current step. Returns the value the
    script should use (the same tensor, or the term zeroed under `traintriage grads --ablate NAME`)."""
    r = recorder
    if r is not None:
        r.on_term(name, value, source="term")
        if r.cfg.get("grads"):
            from traintriage.probe import grads_record

            return grads_record.ablate_hook(r, name, value)
    return value


def current_terms() -> list[dict[str, Any]]:
    """Loss terms seen since the last optimizer step: [{'name', 'source', 'tensor'}], oldest first."""
    r = recorder
    return list(r.terms) if r is not None else []


def last_step_terms() -> list[dict[str, Any]]:
    """Terms of the last completed optimizer step (names and float values, tensors released)."""
    r = recorder
    return list(r.last_terms) if r is not None else []

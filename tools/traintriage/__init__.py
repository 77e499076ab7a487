"""traintriage: measured triage for neural-network training runs that execute but do not learn.

The package is torch-free at import time so the CLI and the MCP server start fast; modules that
need torch import it where they use it.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__", "callbacks", "term", "watch"]


def term(name: str, value):  # noqa: ANN001 - a tensor, but torch is not imported here
    """Mark a custom loss term so a traintriage probe can see it; a no-op outside a probe.

    Use it where the term is computed: ``loss = ce + traintriage.term("kl", beta * kl)``. It returns
    ``value`` unchanged, so the script behaves the same with or without traintriage running it.
    """
    import sys

    hook = getattr(sys.modules.get("traintriage.probe.state"), "on_term", None)
    if hook is not None:
        out = hook(name, value)  # under `traintriage grads --ablate NAME` the probe returns the term zeroed
        if out is not None:
            return out
    return value


def __getattr__(name: str):  # noqa: ANN202 - PEP 562 lazy export: `traintriage.watch` without importing torch here
    import importlib

    if name in ("watch", "Watcher"):
        return getattr(importlib.import_module("traintriage.watcher"), name)
    if name == "callbacks":  # `traintriage.callbacks.TraintriageHFCallback()` after a bare `import traintriage`
        return importlib.import_module("traintriage.callbacks")
    raise AttributeError(f"module 'traintriage' has no attribute {name!r}")

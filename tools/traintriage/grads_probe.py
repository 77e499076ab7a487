"""Old home of `traintriage grads`; it now lives in the probe package (probe/grads.py, probe/grads_record.py).

Kept only for server.py, which still looks up `traintriage.grads_probe.grads_script` (the server is being
thinned by another change): point it at `traintriage.probe.grads` and delete this file.
"""

from __future__ import annotations

from traintriage.probe.grads import UnknownTermError, grads_findings, grads_script, terms_seen

__all__ = ["UnknownTermError", "grads_findings", "grads_script", "terms_seen"]

"""Inner module forwards without the probe's hooks, on the steps where no check reads them.

The probe's global module forward hooks (harness.install) stay installed for the whole run: they are how it
sees the top-level forward of a model built by an unmodified script. But while a global forward hook exists,
torch takes its slow path for *every* module call (``Module._call_impl``: a closure, the hook dicts walked,
our hook called), about 2.5 us per module on one core; a 600-module MLP pays ~1.5 ms per forward for it and
~0.4 ms for our two calls per module, while on most steps no check reads an inner module at all.

So when a top-level forward of a model starts and no check wants its inner modules (Check.wants_inner said
no, and the step is not sampled: the activation statistics are taken on sampled steps only), the core lifts
its two global hooks out of torch's dicts for the length of that forward: the model's inner modules take
torch's fast path. The model's own end is still seen: a forward pre-hook and an ``always_call`` forward hook
are registered on that one module for the forward (the pre-hook counts calls of the model inside its own
forward, as the global one would), and the end hook puts the global hooks back, first in their dicts as
installed, before it hands the model's output to the core (its order among the model's own hooks is kept:
ours first). If the forward raises, the end hook still runs (``always_call``) and only restores. A forward
interrupted by a BaseException that skips torch's always-called hooks is restored at the next backward, step
or the end of the run (`Recorder.before_backward`, `opt_pre`, `finish`).

Not lifted: on sampled steps; while the script has global forward hooks of its own (torch's slow path stays,
and ours keep their place before them); for a model holding a torch.compile'd module (dynamo reads the global hook
dicts when it traces; lifting them would trace twice) or none below it; in overfit mode for a model holding
dropout layers (the core's forward hook makes them the identity). Which models qualify is looked up once per
model and again on sampled steps, as the other per-model walks are (probe/steps.py: `_modes`).
"""

from __future__ import annotations

import sys
from typing import Any


class Quiet:
    """The lift-and-restore of the core's two global forward hooks (ids `pre_id`, `post_id` in torch's dicts)."""

    def __init__(self, core: Any, pre_id: int, post_id: int) -> None:
        self.core = core
        self.ids = (pre_id, post_id)
        self.ok: dict[int, bool] = {}  # top-level module id -> its inner forwards may go without our hooks
        self.lifted: tuple[Any, ...] | None = None  # (pre hook, post hook, the model's two handles) while lifted

    def allowed(self, root: Any) -> bool:
        """Whether the inner forwards of `root` may run without the global hooks (see the module doc)."""
        ok = None if self.core.sampling else self.ok.get(id(root))
        if ok is None:
            import torch.nn as nn

            mods = list(root.modules())
            overfit = self.core.mode == "overfit"
            ok = len(mods) > 1 and not any(
                type(m).__name__ == "OptimizedModule" or (overfit and isinstance(m, nn.modules.dropout._DropoutNd))
                for m in mods)
            self.ok[id(root)] = ok
        return ok

    def lift(self, root: Any) -> None:
        """Called by the core's forward pre-hook at the start of `root`'s top-level forward."""
        from torch.nn.modules import module as module_mod

        pre_id, post_id = self.ids
        pre_d, post_d = module_mod._global_forward_pre_hooks, module_mod._global_forward_hooks
        if self.lifted is not None or len(pre_d) != 1 or len(post_d) != 1 or pre_id not in pre_d \
                or post_id not in post_d:
            return  # lifted already, or the script's own global hooks keep torch on its slow path: not worth it
        h_pre = root.register_forward_pre_hook(self._pre)
        h_post = root.register_forward_hook(self._post, always_call=True)
        root._forward_hooks.move_to_end(h_post.id, last=False)  # ours first among the model's own, as the global ran
        root._forward_pre_hooks.move_to_end(h_pre.id, last=False)
        self.lifted = (pre_d.pop(pre_id), post_d.pop(post_id), h_pre, h_post)

    def restore(self) -> bool:
        """Put the global hooks back (first in their dicts) and drop the model's two; False when none was lifted."""
        lifted = self.lifted
        if lifted is None:
            return False
        from torch.nn.modules import module as module_mod

        self.lifted = None
        pre, post, h_pre, h_post = lifted
        h_pre.remove()
        h_post.remove()
        for d, hid, fn in ((module_mod._global_forward_pre_hooks, self.ids[0], pre),
                           (module_mod._global_forward_hooks, self.ids[1], post)):
            d[hid] = fn
            d.move_to_end(hid, last=False)
        return True

    def _pre(self, module: Any, args: Any) -> None:
        # the lifted model called again inside its own forward: counted as the global pre-hook would count it
        self.core.depth += 1

    def _post(self, module: Any, args: Any, out: Any) -> Any:
        core = self.core
        if core.depth > 1:  # the end of a call of the model inside its own forward
            core.depth -= 1
            return None
        if not self.restore():
            return None
        if out is None and sys.exc_info()[1] is not None:  # the forward raised: torch runs always_call hooks
            core.depth = 0
            return None
        return core.fwd_post(module, args, out)

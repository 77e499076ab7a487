"""Run-time changes to the user's optimizer, so two "decisive" checks need no edit to the script:

- `lr_scale` (CLI `--lr-scale F`): every param group's learning rate is multiplied by F when the optimizer is
  built. Schedulers built afterwards take the scaled value as their base (`initial_lr`), so a schedule keeps
  its shape at the new scale. Splits lr-too-high from a wiring or data bug: a run that stops diverging at a
  tenth of the LR was a step-size problem.
- `optimizer_impl="plain"` (CLI `--optimizer-impl plain`): `foreach=False, fused=False` in the defaults and
  every param group, so `step()` takes the per-parameter for-loop path. Splits a fused/foreach kernel problem
  from a problem in the script: the plain path is the reference implementation of the same update rule
  (torch/optim/adam.py `_single_tensor_adam` vs `_multi_tensor_adam` / `_fused_adam`).

The change is made in the child only (the harness calls `install(cfg)` before the script runs), on
optimizers constructed by the script; the script's source is untouched. Pure helpers (`scale_lr`,
`plain_impl`) act on one optimizer and are what the tests call on a real optimizer.
"""

from __future__ import annotations

from typing import Any

#: the values `--optimizer-impl` accepts; "as-is" leaves the optimizer alone (the default).
IMPLS = ("as-is", "plain")

_DONE = "_traintriage_overridden"  # set on an optimizer once its overrides are applied (never twice)


def describe(cfg: dict[str, Any] | None) -> list[str]:
    """One report note per override the child config asks for (empty when nothing is changed)."""
    cfg = cfg or {}
    out = []
    if cfg.get("lr_scale") is not None:
        out.append(f"override: every optimizer's learning rate was multiplied by {cfg['lr_scale']:g} (--lr-scale).")
    if cfg.get("optimizer_impl") == "plain":
        out.append("override: optimizers ran with foreach=False, fused=False (--optimizer-impl plain).")
    return out


def child_config(lr_scale: float | None = None, optimizer_impl: str | None = None) -> dict[str, Any]:
    """The keys the probe's child reads (merged into run_child's `extra`); empty when nothing is overridden."""
    if optimizer_impl is not None and optimizer_impl not in IMPLS:
        raise ValueError(f"optimizer_impl must be one of {IMPLS}, not {optimizer_impl!r}")
    if lr_scale is not None and not lr_scale > 0:
        raise ValueError(f"lr_scale must be positive, not {lr_scale!r}")
    cfg: dict[str, Any] = {}
    if lr_scale is not None and lr_scale != 1.0:
        cfg["lr_scale"] = float(lr_scale)
    if optimizer_impl == "plain":
        cfg["optimizer_impl"] = "plain"
    return cfg


def scale_lr(opt: Any, factor: float) -> None:
    """Multiply the lr of every param group (and the defaults, used by later add_param_group) by factor."""

    def scaled(v: Any) -> Any:
        # out of place: a tensor lr (capturable/fused optimizers) may be one object shared by the defaults and
        # every group, and must be scaled once per place, not once per reference
        numeric = (isinstance(v, (int, float)) and not isinstance(v, bool)) or hasattr(v, "is_floating_point")
        return v * factor if numeric else v

    if "lr" in opt.defaults:
        opt.defaults["lr"] = scaled(opt.defaults["lr"])
    for g in opt.param_groups:
        if "lr" in g:
            g["lr"] = scaled(g["lr"])


def plain_impl(opt: Any) -> None:
    """foreach=False, fused=False wherever the optimizer has those options."""
    was_fused = any(g.get("fused") for g in opt.param_groups) or bool(opt.defaults.get("fused"))
    for d in (opt.defaults, *opt.param_groups):
        for key in ("foreach", "fused"):
            if key in d:
                d[key] = False
    if was_fused:
        # a fused optimizer unscales inside step(); the plain path needs GradScaler to unscale first
        # (torch/amp/grad_scaler.py reads `_step_supports_amp_scaling` to choose)
        opt._step_supports_amp_scaling = False


def apply(opt: Any, cfg: dict[str, Any]) -> None:
    """Apply the overrides cfg asks for to one optimizer, once."""
    if getattr(opt, _DONE, False):
        return
    setattr(opt, _DONE, True)
    if cfg.get("lr_scale") is not None:
        scale_lr(opt, float(cfg["lr_scale"]))
    if cfg.get("optimizer_impl") == "plain":
        plain_impl(opt)


def install(cfg: dict[str, Any]) -> None:
    """In the probe's child: apply the overrides to every optimizer as its construction finishes.

    Each torch optimizer class's own `__init__` is wrapped; the outermost call (AdamW -> Adam -> Optimizer)
    applies the overrides after the whole constructor ran, so flags a subclass sets after `super().__init__`
    (Adam's `_step_supports_amp_scaling` for fused) are already in place and can be undone. No-op when
    cfg asks for nothing.
    """
    if cfg.get("lr_scale") is None and cfg.get("optimizer_impl") != "plain":
        return
    import torch.optim

    def subclasses(cls: type) -> list[type]:
        out = [cls]
        for sub in cls.__subclasses__():
            out += subclasses(sub)
        return out

    for cls in set(subclasses(torch.optim.Optimizer)):
        init = cls.__dict__.get("__init__")
        if init is None or getattr(init, "_traintriage_wrapped", False):
            continue
        cls.__init__ = _wrap(init, cfg)


def _wrap(init: Any, cfg: dict[str, Any]) -> Any:
    def __init__(self: Any, *a: Any, **k: Any) -> None:  # noqa: N807
        depth = self.__dict__.get("_traintriage_init_depth", 0)
        self.__dict__["_traintriage_init_depth"] = depth + 1
        try:
            init(self, *a, **k)
        finally:
            self.__dict__["_traintriage_init_depth"] = depth
        if depth == 0:
            apply(self, cfg)

    __init__._traintriage_wrapped = True  # type: ignore[attr-defined]
    __init__.__wrapped__ = init  # type: ignore[attr-defined]
    return __init__

"""Static lint of PyTorch training scripts: AST only, nothing is imported or executed.

Each rule is one module in `lint/rules/` with RULE (the rule's own id), CAUSE (the catalogue id its
findings carry), SEVERITY, CONFIDENCE and `check(ctx) -> list[Finding]`. RULES below is the registry.
Rules prefer silence to guessing: a name the dataflow cannot follow is "unknown" and is not flagged.
"""

from __future__ import annotations

import time
from pathlib import Path
from types import ModuleType

from traintriage.lint.merge import merge
from traintriage.lint.rules import (
    adam_weight_decay,
    ce_target_form,
    ddp_batchnorm,
    decay_norm_bias,
    double_softmax,
    eval_mode,
    eval_never_called,
    frozen_after_optimizer,
    grad_accum,
    heads_view_no_transpose,
    loss_reduce_order,
    loss_rewrapped,
    metric_one_shard,
    missing_zero_grad,
    nll_input,
    no_grad_training,
    no_step,
    optimizer_model_mismatch,
    params_replaced,
    sampler_set_epoch,
    scheduler_before_step,
    scheduler_per_batch,
    sigmoid_bce,
    strict_false,
    unfreeze_after_filter,
    zero_grad_between,
)
from traintriage.report import Finding, Report, verdict_for

__all__ = ["RULES", "LintError", "lint_file", "lint_source", "merge", "rule_ids"]

# The registry: one line per rule module.
RULES: list[ModuleType] = [
    double_softmax,  # softmax -> CrossEntropyLoss
    heads_view_no_transpose,  # q.view(B, T, H, d) into attention without transpose
    sigmoid_bce,  # sigmoid -> BCEWithLogitsLoss
    nll_input,  # NLLLoss on probabilities / logits
    zero_grad_between,  # backward, zero_grad, step
    missing_zero_grad,  # gradients never cleared
    no_step,  # backward, never step
    scheduler_before_step,  # scheduler.step() before optimizer.step()
    scheduler_per_batch,  # StepLR(step_size=3) stepped every batch
    adam_weight_decay,  # Adam(weight_decay>0)
    decay_norm_bias,  # decay on model.parameters() with norm layers / biases
    params_replaced,  # optimizer built, then model replaced / head attached
    unfreeze_after_filter,  # optimizer built from requires_grad params, then unfreeze
    optimizer_model_mismatch,  # Trainer(other_model, optimizer)
    loss_rewrapped,  # torch.tensor(loss.item(), requires_grad=True)
    no_grad_training,  # loss computed under no_grad
    eval_mode,  # model.eval() and no train() before the next step
    eval_never_called,  # validation under no_grad, never model.eval()
    grad_accum,  # accumulation without dividing the loss
    frozen_after_optimizer,  # requires_grad=False after the optimizer is built
    sampler_set_epoch,  # DistributedSampler, never set_epoch()
    metric_one_shard,  # an eval metric summed over a DistributedSampler's shard, never all-reduced
    ddp_batchnorm,  # BatchNorm under DDP without SyncBatchNorm
    strict_false,  # load_state_dict(strict=False), result discarded
    ce_target_form,  # F.one_hot(...) long targets into CrossEntropyLoss
    loss_reduce_order,  # (pred - y).mean() ** 2, sqrt(((a - b) ** 2).sum())
]


class LintError(ValueError):
    """The script cannot be linted (missing, unreadable, or not valid Python)."""


def rule_ids() -> dict[str, str]:
    """rule id -> catalogue id."""
    return {r.RULE: r.CAUSE for r in RULES}


def lint_source(src: str, filename: str = "<script>") -> list[Finding]:
    """All findings for a script's source text, most important first. Raises LintError on a SyntaxError."""
    from traintriage.lint.context import Ctx
    from traintriage.report import sort_findings

    try:
        ctx = Ctx(src, filename)
    except SyntaxError as e:
        raise LintError(
            f"{filename}:{e.lineno}: not valid Python ({e.msg}); lint reads the source only"
        ) from e
    except RecursionError as e:  # pathologically nested expressions
        raise LintError(f"{filename}: too deeply nested to parse") from e
    out: list[Finding] = []
    seen: set[tuple[str, str | None]] = set()
    for rule in RULES:
        for f in rule.check(ctx):
            key = (f.id, f.where)
            if key not in seen:
                seen.add(key)
                out.append(f)
    return sort_findings(out)


def lint_file(path: str | Path) -> Report:
    """Lint one script: Report(tool='lint'), verdict broken when any finding is an error."""
    p = Path(path)
    if not p.is_file():
        raise LintError(f"{p}: no such file")
    t0 = time.perf_counter()
    try:
        src = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise LintError(f"{p}: cannot read ({e})") from e
    findings = lint_source(src, str(p))
    notes = [] if findings else [f"{len(RULES)} static rules found nothing; lint cannot see runtime values"]
    return Report(
        tool="lint",
        target=str(p),
        verdict=verdict_for(findings, None),
        findings=findings,
        notes=notes,
        seconds=round(time.perf_counter() - t0, 4),
    )

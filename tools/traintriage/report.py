"""The models every tool returns: Finding, Symptom, Report.

A Finding is a conclusion about a *cause* (a catalogue id); a Symptom is what a curve or a log shows
(a symptom id) with ranked candidate causes. Both carry the numbers that produced them.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

Severity = Literal["error", "warning", "info"]
Verdict = Literal["healthy", "broken", "inconclusive", "crashed", "timeout"]
Source = Literal["probe", "lint", "logs", "grads", "crash", "triage"]

_SEVERITY_RANK = {"error": 0, "warning": 1, "info": 2}

# What each verdict means, said once (issue 19 item 5). README.md, SKILL.md and refs/triage.md quote these words,
# the CLI prints them under the verdict, the MCP output schema carries them in the field's description;
# tests/test_verdicts.py checks every place says the same. Exit codes: errors.exit_code_for (0, 1, else 4).
VERDICT_MEANING: dict[str, str] = {
    "healthy": "no finding at error severity and, when the one-batch overfit check ran, it passed",
    "broken": "at least one finding at error severity: measured evidence that this run is wrong",
    "inconclusive": "no finding at error severity, but the one-batch overfit failed with no check naming a "
                    "cause, or there was nothing to judge",
    "crashed": "the script raised an error before it could be judged; its traceback is in stderr_tail",
    "timeout": "the script ran past the time limit before it could be judged",
}


class Finding(BaseModel):
    """A conclusion about a cause, with the evidence that supports it."""

    id: str = Field(description="Catalogue id of the cause, e.g. 'double-softmax'.")
    severity: Severity = Field(description="error: the run cannot learn properly; warning: likely harm; info: context.")
    confidence: float = Field(ge=0.0, le=1.0, description="How sure the tool is, 0..1.")
    message: str = Field(description="One or two sentences a person can act on.")
    evidence: dict[str, Any] = Field(default_factory=dict, description="The measured numbers behind the finding.")
    where: str | None = Field(default=None, description="'file:line' when the cause is located in source.")
    ref: str = Field(default="", description="'refs/<page>.md#<id>': the catalogue entry to confirm and fix it.")
    source: Source = Field(default="probe", description="Which tool produced the finding.")

    def model_post_init(self, __context: Any) -> None:
        if not self.ref:
            from traintriage.catalogue import ref_for

            self.ref = ref_for(self.id)


class Symptom(BaseModel):
    """What a curve or a run shows, with the causes that fit it, most likely first."""

    id: str = Field(description="Symptom id, e.g. 'flat-loss'.")
    metric: str | None = Field(default=None, description="The metric the symptom was seen on.")
    step: int | None = Field(default=None, description="Step where the symptom starts.")
    message: str = Field(description="What was seen, with numbers.")
    evidence: dict[str, Any] = Field(default_factory=dict)
    candidates: list[str] = Field(default_factory=list, description="Candidate cause ids, most likely first.")
    ref: str = Field(default="", description="'refs/symptoms.md#<id>'.")

    def model_post_init(self, __context: Any) -> None:
        if not self.ref:
            self.ref = f"refs/symptoms.md#{self.id}"
        if not self.candidates:
            from traintriage.catalogue import load_symptoms

            sym = load_symptoms().get(self.id)
            if sym is not None:
                self.candidates = list(sym.candidates)


# Root cause -> the findings it produces by itself (its measured consequences). When the cause is found at a
# severity at least as high as a consequence's, the cause is listed first and the consequence carries
# `evidence.consequence_of`: fixing the cause removes the consequence, not the other way round.
CONSEQUENCES: dict[str, frozenset[str]] = {
    # LeCun et al., "Efficient BackProp" (1998) s.4.3 and refs/catalogue/data.md#unnormalized-inputs: a first-layer
    # weight's gradient is proportional to the input it multiplies, so raw-scale inputs make the gradient and the
    # relative update huge (lr-too-high, exploding-gradients, module-gradient-outlier on the first layer), push
    # pre-activations into saturation (saturated-activations) or, after one overshoot, below zero for every
    # sample (dead-relu), overflow (non-finite-loss), and start the loss far above chance (bad-init).
    "unnormalized-inputs": frozenset({"lr-too-high", "exploding-gradients", "module-gradient-outlier",
                                      "saturated-activations", "dead-relu", "non-finite-loss", "bad-init"}),
    # refs/catalogue/structure.md#spectral-norm-uninitialized: a spectral-normalized layer that never ran its power
    # iteration uses its weight sigma/estimate times too large (10-90x per layer on the eval case), so a loss
    # computed against its outputs (a mean teacher's consistency target) has residuals and gradients that large.
    "spectral-norm-uninitialized": frozenset({"lr-too-high", "exploding-gradients", "module-gradient-outlier",
                                             "saturated-activations", "dead-relu", "non-finite-loss", "bad-init"}),
    # refs/catalogue/structure.md#attention-mask-inverted: with only padding to attend to, the pooled position carries
    # no information about the tokens, so the classifier falls back on the majority class; a row without padding
    # has every key masked, and its softmax over all -inf is NaN.
    "attention-mask-inverted": frozenset({"class-imbalance-collapse", "non-finite-loss"}),
    # refs/catalogue/structure.md#attention-softmax-wrong-axis: a softmax over the queries turns a key masked with -inf
    # for every query into a column of all -inf, whose softmax is NaN, and the NaN reaches the loss; short of NaN,
    # each query's weights are no distribution and the model falls back on the majority class.
    "attention-softmax-wrong-axis": frozenset({"non-finite-loss", "class-imbalance-collapse"}),
    # refs/catalogue/data.md#unnormalized-targets: the regression gradient is proportional to the residual, so
    # raw-unit targets make the first updates as large as the targets.
    "unnormalized-targets": frozenset({"lr-too-high", "exploding-gradients", "module-gradient-outlier",
                                       "non-finite-loss"}),
    # refs/catalogue/finetune.md#frozen-bn-stats-drift: frozen BatchNorm left in train mode normalises each batch by
    # its own statistics, so on small fine-tuning batches the features, logits and loss swing from batch to batch
    # (Wu & He, "Group Normalization", 2018, Fig. 1: BN's error climbs as the batch shrinks); the loss spikes that
    # follow read as lr-too-high.
    "frozen-bn-stats-drift": frozenset({"lr-too-high"}),
    # refs/catalogue/wiring.md#params-not-in-optimizer: a layer no optimizer holds stays at its initial weights, so
    # the loss keeps pulling on it as hard as at step 0 while the trained modules' gradients shrink: it ends up
    # holding most of the gradient norm (measured on the optimizer-misses-last-layer mutant of a seq2seq LSTM:
    # decoder.fc_out 140x the median module, issue 12's matrix).
    "params-not-in-optimizer": frozenset({"module-gradient-outlier"}),
}


def sort_findings(findings: list[Finding]) -> list[Finding]:
    """Most important first: severity, then confidence (stable for ties); then each root cause in CONSEQUENCES
    moves ahead of the first of its consequences that is not more severe than it."""
    out = sorted(findings, key=lambda f: (_SEVERITY_RANK[f.severity], -f.confidence))
    for cause, effects in CONSEQUENCES.items():
        ci = next((i for i, f in enumerate(out) if f.id == cause), None)
        if ci is None:
            continue
        c = out[ci]
        hits = [i for i, f in enumerate(out)
                if f.id in effects and _SEVERITY_RANK[f.severity] >= _SEVERITY_RANK[c.severity]]
        for i in hits:
            if out[i].evidence.get("consequence_of") is None:
                out[i] = out[i].model_copy(update={"evidence": {**out[i].evidence, "consequence_of": cause}})
        first = min(hits, default=ci)
        if first < ci:
            out.insert(first, out.pop(ci))
    return out


def verdict_for(findings: list[Finding], overfit_passed: bool | None) -> Verdict:
    """The severity policy (refs/triage.md): `broken` needs an error finding, measured evidence that this run is
    wrong. healthy = no error finding and, when an overfit check ran, it passed. A failed overfit check that no
    check could charge to a cause is `inconclusive`: it says something is off, not what, and an agent must not
    "fix" code on it (issue 12: it made a healthy GPT trainer with LR warm-up `broken`)."""
    if any(f.severity == "error" for f in findings):
        return "broken"
    if overfit_passed is False:
        return "inconclusive"
    return "healthy"


class Report(BaseModel):
    """One tool's answer about one target (script, log, or case)."""

    tool: str = Field(description="triage | probe | lint | logs | grads")
    target: str = Field(description="The script or log path examined.")
    verdict: Verdict = Field(description="; ".join(f"{k}: {v}" for k, v in VERDICT_MEANING.items()))
    findings: list[Finding] = Field(default_factory=list, description="Most important first.")
    symptoms: list[Symptom] = Field(default_factory=list)
    metrics: dict[str, Any] = Field(default_factory=dict, description="Compact, sampled per-step metrics.")
    notes: list[str] = Field(default_factory=list, description="What the tool could not do, and why.")
    stdout_tail: str = ""
    stderr_tail: str = ""
    seconds: float = 0.0

    def model_post_init(self, __context: Any) -> None:
        self.findings = sort_findings(self.findings)

    def top_ids(self, k: int = 3, min_severity: Severity = "warning") -> list[str]:
        """The first k distinct cause ids at or above min_severity."""
        limit = _SEVERITY_RANK[min_severity]
        out: list[str] = []
        for f in self.findings:
            if _SEVERITY_RANK[f.severity] <= limit and f.id not in out:
                out.append(f.id)
        return out[:k]

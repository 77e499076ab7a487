"""The described input fields of the MCP tools, as `Annotated` types (the server's signatures use them).

A client's model sees each description in the tool's input schema, so it knows what to pass. Bounds that
protect the machine are here too. No `mcp` import.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

# A probe step budget bigger than this is almost surely a mistake by the model (the probe needs tens of
# steps, not an epoch); refuse it rather than tie up the machine.
MAX_STEPS = 2000
MAX_TIMEOUT_S = 1800.0

Script = Annotated[
    str,
    Field(description="Path of the training script, absolute or relative to the project root; must lie inside "
          "the allowed roots."),
]
LrScale = Annotated[float | None, Field(gt=0, description="Multiply every optimizer's learning rate by this at "
                    "run time (e.g. 0.1: does the run stop diverging at a tenth of the LR?).")]
OptImpl = Annotated[Literal["as-is", "plain"], Field(description="plain: optimizers run with foreach=False, "
                    "fused=False (does the problem follow the fused/foreach kernel?).")]
MaxMemoryGib = Annotated[float | None, Field(gt=0, description="Memory cap of the script in GiB (default half the "
                         "RAM); going over it ends the probe as crashed, 'out of memory at N GiB'.")]
Checks = Annotated[list[str] | None, Field(description="Probe check ids (catalogue ids) to run only / to turn off.")]
ScriptArgs = Annotated[list[str] | None, Field(description="Command-line arguments for the script (its sys.argv[1:]).")]
Steps = Annotated[int, Field(ge=1, le=MAX_STEPS, description="Stop the script after this many optimizer steps.")]
# Ranks a probe may launch on one machine: each rank is a full copy of the script (its imports, its model); two
# are enough for every cross-rank check (refs/catalogue/distributed.md), a few more cover a rank-count bug.
MAX_NPROC = 8
NprocPerNode = Annotated[int | None, Field(ge=1, le=MAX_NPROC, description="Launch the script through "
                         "torch.distributed.run with this many ranks (gloo on CPU, loopback only), the probe in "
                         "every rank, and compare the ranks; for scripts run with torchrun / DDP. 2 is enough.")]
Timeout = Annotated[float, Field(gt=0, le=MAX_TIMEOUT_S, description="Kill the script after this many seconds.")]
ProbeMode = Annotated[
    Literal["overfit", "observe"],
    Field(description="overfit: replay the first batch; a healthy setup drives its loss near zero. "
          "observe: run the script as written and record its dynamics."),
]
TriageLogs = Annotated[
    str | None,
    Field(description="Optional log file or folder of a real run (TensorBoard, CSV, JSONL) to fold into the report."),
]
Query = Annotated[
    str,
    Field(description="A cause id (e.g. 'double-softmax'), a symptom id (e.g. 'flat-loss'), or a symptom "
          "described in words."),
]

# -- grad_decomposition
Ablate = Annotated[
    str | None,
    Field(description="A loss term to switch off in a second run (question 3 of the rough map: does the metric "
          "reach the same value without it?). A term's name, its id (t1, t2, ...) or its expression text, as the "
          "first run's report lists them (terms are found in the loss's autograd graph; no marker needed)."),
]
GradsMetric = Annotated[
    str | None, Field(description="The term or metric to compare between the two runs (default: the ablated term).")
]

# -- classify_rough_map (numbers in, a reading out)
Term = Annotated[str, Field(description="Name of the loss term (or metric) being examined.")]
DlossDterm = Annotated[
    float,
    Field(description="d(loss)/d(term): how strongly the total loss reacts to this term at the current point "
          "(question 1)."),
]
EffectiveNorm = Annotated[
    float,
    Field(description="Norm of this term's gradient on the parameters as it enters the loss (slope x raw gradient)."),
]
DtermDparamNorm = Annotated[
    float, Field(description="||d(term)/d(params)||: can the parameters move the term at all (question 2).")
]
MaxEffectiveNorm = Annotated[float | None, Field(description="Largest effective_norm over all terms of the same loss.")]
MaxDlossDterm = Annotated[float | None, Field(description="Largest |d(loss)/d(term)| over all terms.")]
MaxDtermDparamNorm = Annotated[float | None, Field(description="Largest ||d(term)/d(params)|| over all terms.")]
MinCosine = Annotated[
    float | None,
    Field(ge=-1.0, le=1.0, description="This term's most negative gradient cosine with another term on shared params."),
]
OtherNormRatio = Annotated[float | None, Field(ge=0.0, description="Norm ratio (smaller/larger) with that other term.")]
MetricOn = Annotated[float | None, Field(description="Ablation: final metric with the term on (question 3).")]
MetricOff = Annotated[float | None, Field(description="Ablation: final metric with the term off.")]
MetricInit = Annotated[float | None, Field(description="Ablation: the metric at the start.")]

# -- read_run_logs, plot_run
LogPath = Annotated[
    str,
    Field(description="A log file or run folder (TensorBoard event files, CSV, JSONL, Lightning/HF output); inside "
          "the allowed roots."),
]
LogFormat = Annotated[str, Field(description="Reader to use; 'auto' detects it.")]
NumClasses = Annotated[
    int | None, Field(ge=2, description="Number of classes, if a classifier: lets the tool spot loss stuck at ln(C).")
]
LogMetric = Annotated[
    str | None, Field(description="Name of one metric to return points for (paginated); omit for summaries only.")
]
Offset = Annotated[int, Field(ge=0, description="First point of the page, for `metric`.")]
Limit = Annotated[int, Field(ge=1, le=5000, description="Points per page, for `metric`.")]
SummaryPoints = Annotated[bool, Field(description="Add up to 50 evenly sampled points per metric to the summary "
                        "(default: statistics only; pass `metric` to page through one series' points).")]
Images = Annotated[bool, Field(description="Also return the figures (loss per step, norms, LR, per-module "
                   "heatmaps; for logs, the curves) as PNG image blocks after the JSON.")]
PlotMetrics = Annotated[list[str] | None, Field(description="Metric names to plot (default: the loss-like ones).")]

# -- the prompt
PromptScript = Annotated[str, Field(description="Path of the training script.")]
PromptSymptom = Annotated[str, Field(description="What the user sees, e.g. 'loss flat at 2.30'.")]
PromptLogs = Annotated[str, Field(description="Optional path of the run's logs.")]

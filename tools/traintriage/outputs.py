"""The answers the MCP tools return, as described pydantic models (next to report.py's Report).

Every field carries a description so a client's model knows what it is reading; the server declares its
tools with these as return types, which gives clients an output schema and structured content. No `mcp`
import here: the CLI and tests build the same models.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from traintriage.report import Report


class SourceOut(BaseModel):
    title: str
    url: str


class CauseOut(BaseModel):
    """A catalogue entry: symptom -> cause -> the check that confirms it -> the fix."""

    id: str = Field(description="Stable catalogue id.")
    title: str
    family: str = Field(description="wiring | optimizer | loss | finetune | dynamics | data | metric-stuck")
    symptoms: str = Field(description="What a person sees in curves and logs.")
    cause: str = Field(description="The mechanism.")
    confirm: str = Field(description="The one check that separates this cause from look-alikes.")
    fix: str = Field(description="The exact knob or code change.")
    sources: list[SourceOut] = Field(description="Where the facts come from.")
    aliases: list[str] = Field(default_factory=list, description="Old ids that resolve to this entry.")
    ref: str = Field(
        description="refs/<page>.md#<id>; also readable as the resource traintriage://catalogue/<id>."
    )


class SymptomOut(BaseModel):
    """A symptom: what is seen (not why), with the causes that produce it, most likely first."""

    id: str
    title: str
    looks_like: str
    detected_by: str
    candidates: list[str] = Field(description="Candidate cause ids, most likely first.")
    ref: str


class SearchHit(BaseModel):
    id: str = Field(description="Catalogue or symptom id; pass it to `explain` for the full entry.")
    title: str
    score: float = Field(description="Share of the query's words found (id/title words count double), 0..1.")
    ref: str
    kind: Literal["cause", "symptom"] = Field(default="cause", description="A cause entry or a symptom.")


class ExplainResult(BaseModel):
    """`explain`'s answer: one cause, one symptom, or the entries that best match free text."""

    kind: Literal["cause", "symptom", "search"] = Field(description="Which of the fields below is filled.")
    cause: CauseOut | None = None
    symptom: SymptomOut | None = None
    query: str | None = Field(default=None, description="The text searched, for kind=search.")
    results: list[SearchHit] = Field(default_factory=list, description="Best matches first, for kind=search.")


class SeriesPage(BaseModel):
    """One page of one metric's points from a run's logs."""

    metric: str
    total_points: int = Field(description="How many points the series has in all.")
    offset: int = Field(description="Index of the first point on this page.")
    steps: list[float] = Field(description="Step (x) values on this page.")
    values: list[float | None] = Field(description="Metric values on this page (None where not finite).")
    next_offset: int | None = Field(description="Pass as `offset` to get the next page; None at the end.")


class RunLogsResult(BaseModel):
    """What `read_run_logs` found: the run's series summaries and the symptoms the curves show."""

    path: str = Field(description="The resolved log file or folder.")
    report: Report = Field(description="Symptoms seen in the curves (with candidate causes) and findings; its "
                           "`metrics` is left empty: the per-metric numbers are in `summary`, said once.")
    summary: Any = Field(description="Per-metric summary (first/last/min/max/trend; sampled points only with "
                         "points=true), the files read and skipped.")
    metrics: list[str] = Field(description="Metric names in the run; pass one as `metric` for its points.")
    series: SeriesPage | None = Field(default=None, description="The requested metric's points, one page.")


def cause_out(entry: Any) -> CauseOut:
    """A catalogue.Entry as the tool's output model (duck-typed: this module does not import the catalogue)."""
    return CauseOut.model_validate(entry.model_dump() | {"ref": entry.ref})


def symptom_out(entry: Any) -> SymptomOut:
    """A catalogue.SymptomEntry as the tool's output model."""
    return SymptomOut.model_validate(entry.model_dump() | {"ref": entry.ref})

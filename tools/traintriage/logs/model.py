"""The normalized model every reader produces: a Run holding one Series per metric.

A Series keeps the writer's original metric name and adds a `role` (train_loss, val_loss, lr, ...) so the
detectors can find "the training loss" whatever the writer called it. Readers append points through a
SeriesBuilder, which handles resumed runs: repeated or backwards steps keep the *last* write per step,
and the Run's `skipped` notes say so.
"""

from __future__ import annotations

import math
import re
from array import array
from typing import Any

from pydantic import BaseModel, Field

ROLES = (
    "train_loss", "val_loss", "lr", "grad_norm", "grad_clip_ratio", "param_norm", "update_norm",
    "update_ratio", "effective_lr_ratio", "loss_scale", "accuracy", "val_accuracy", "epoch", "other",
)


class LogReadError(ValueError):
    """A log could not be read at all (missing, empty, unknown format, garbage, not a regular file); the message
    names the path (and the line, where one is to blame) and says what to do. The only exception `read_run`
    lets out: every other problem in the input is a skipped line or value, counted on the Run."""


# Steps are stored as int64 (array 'q', numpy): a step outside this range is a skipped value, never an
# OverflowError. Source: the TensorBoard/W&B protos declare step as int64.
STEP_MIN, STEP_MAX = -(1 << 63), (1 << 63) - 1


class LineSkip(BaseModel):
    """The first line (or record) a reader skipped, and why."""

    line: int = Field(description="1-based line number (record number for binary formats).")
    reason: str


class FileSkip(BaseModel):
    """A log file in a run folder that was not read, and why (logs/sources.py)."""

    path: str = Field(description="The file or folder left out, relative to the folder given.")
    why: str = Field(description="Why it was not read.")


class Series(BaseModel):
    """One metric over steps. Values may be NaN or +-inf: they are data (a diverged run), not errors."""

    name: str = Field(description="The metric name exactly as the writer logged it.")
    role: str = Field(description="What the metric is: " + ", ".join(ROLES))
    steps: list[int] = Field(default_factory=list, description="Optimizer step (or epoch / line index) per point.")
    values: list[float] = Field(default_factory=list)
    wall_times: list[float] | None = Field(default=None, description="Unix seconds per point, when the format has them.")

    def __len__(self) -> int:
        return len(self.values)


class Run(BaseModel):
    """Everything read from one log path."""

    path: str
    format: str = Field(description="text | csv | jsonl | hf | tensorboard | wandb | mlflow")
    metadata: dict[str, Any] = Field(default_factory=dict, description="Config, hyper-parameters, run ids.")
    series: dict[str, Series] = Field(default_factory=dict, description="Metric name -> Series.")
    skipped: list[str] = Field(default_factory=list, description="What was skipped or only partly read, and why.")
    skipped_lines: int = Field(default=0, description="How many lines / records were skipped as unreadable.")
    first_skip: LineSkip | None = Field(default=None, description="The first skipped line and why.")
    files_read: list[str] = Field(default_factory=list, description="The files (or run folders) read, relative to "
                                  "the folder given; the file itself when a file was given.")
    files_skipped: list[FileSkip] = Field(default_factory=list, description="Log files in the folder not read, "
                                          "and why (our own traintriage_watch.jsonl is preferred).")

    def by_role(self, role: str) -> list[Series]:
        return [s for s in self.series.values() if s.role == role]

    def primary(self, role: str) -> Series | None:
        """The main series for a role: the one with the most points (ties: the shorter, plainer name)."""
        cands = [s for s in self.by_role(role) if len(s) > 0]
        if not cands:
            return None
        # Prefer an overall value ("grad_norm", "grad_norm/total") over per-module ones ("grad_norm/layer1").
        return max(cands, key=lambda s: (len(s), _plain(s.name), -len(s.name)))


# --- roles -------------------------------------------------------------------------------------------------

_VAL = r"(?:^|[/_])(?:val|valid|validation|eval|test|dev)(?:[/_]|$)"
# Order matters: the first match wins ("loss_scale" is not a loss; "val_acc" is not a train accuracy).
_ROLE_RULES: list[tuple[str, re.Pattern[str]]] = [
    ("loss_scale", re.compile(r"loss_?scale|grad_?scale|amp_?scale|scaler")),
    ("effective_lr_ratio", re.compile(r"effective_?lr")),
    ("update_ratio", re.compile(r"relative_?update|update_?(?:to_?)?(?:weight|param)?_?ratio|rel_?update|upd_?ratio")),
    ("update_norm", re.compile(r"update_?norm")),
    ("grad_clip_ratio", re.compile(r"clip_?(?:ratio|frac|fraction|coef)")),
    ("grad_norm", re.compile(r"grad(?:ient)?s?_?(?:l2_?)?norm|gradnorm|total_norm|grad_?l2")),
    ("param_norm", re.compile(r"(?:param(?:eter)?s?|weights?)_?norm")),
    ("lr", re.compile(r"(?:^|[/_])(?:lr|learning_?rate|learningrate)(?:[/_]|$)|^lr")),
    ("epoch", re.compile(r"^(?:.*/)?epochs?$")),
    ("val_loss", re.compile(rf"{_VAL}.*loss|loss.*{_VAL}|^(?:val|valid|eval|test)loss")),
    ("train_loss", re.compile(r"loss|^nll$|^ce$|cross_?entropy")),
    ("val_accuracy", re.compile(rf"{_VAL}.*acc|acc.*{_VAL}")),
    ("accuracy", re.compile(r"acc(?:uracy)?(?:[/_]|$)|^acc")),
]


def _plain(name: str) -> bool:
    n = name.lower()
    return "/" not in n.strip("/") or any(w in n for w in ("overall", "total", "global", "train/", "val/"))


def _norm_name(name: str) -> str:
    n = name.strip().lower()
    n = re.sub(r"[\s.\-]+", "_", n)
    return n


# Longest metric name given a role. Writers' names are short (tags, column names: tens of characters); the role
# patterns have `.*` between two words, quadratic in the name's length (a 600 KB key took minutes).
MAX_ROLE_NAME = 512


def role_for(name: str) -> str:
    """Map a metric name as writers spell it to a role; unknown names are 'other'."""
    if len(name) > MAX_ROLE_NAME:  # a runaway "name" (a whole line): not a metric any writer names
        return "other"
    n = _norm_name(name)
    for role, pat in _ROLE_RULES:
        if pat.search(n):
            return role
    return "other"


# Raw points a series buffers before its downsampler (logs/downsample.py) thins them: 1 MB of steps+values,
# large enough that the numpy pass is cheap per point, small enough that memory does not follow the log's
# length. A series shorter than this is kept whole (and never imports the downsampler or numpy).
RAW_POINTS = 1 << 16

# --- building series ---------------------------------------------------------------------------------------


class SeriesBuilder:
    """Collect points in write order; finish() keeps the last write per step and sorts by step."""

    __slots__ = ("name", "steps", "values", "walls", "has_wall", "expect_repeats", "sampler")

    def __init__(self, name: str) -> None:
        self.name = name
        self.steps = array("q")
        self.values = array("d")
        self.walls = array("d")
        self.has_wall = False
        self.expect_repeats = False  # progress bars re-print the same counter: repeats are normal there
        self.sampler = None  # a logs.downsample.Downsampler once the series passes RAW_POINTS

    def __len__(self) -> int:
        return len(self.steps) + (len(self.sampler) if self.sampler is not None else 0)

    def _spill(self) -> None:
        """Hand the raw buffer to the downsampler (memory stays bounded however long the log is), in pieces of
        RAW_POINTS: the downsampler sees the same buffers whether the points came one by one (add) or in bulk
        (extend), so a reader's bulk path keeps exactly the points its line-by-line path keeps."""
        if self.sampler is None:
            from traintriage.logs.downsample import Downsampler

            self.sampler = Downsampler()
        n = len(self.values)
        cut = n - n % RAW_POINTS if n >= RAW_POINTS else n  # whole pieces (all of it when finishing)
        for a in range(0, cut, RAW_POINTS):
            b = min(a + RAW_POINTS, cut)
            self.sampler.push(self.steps[a:b], self.values[a:b], self.walls[a:b] if self.has_wall else None)
        self.steps, self.values = self.steps[cut:], self.values[cut:]
        self.walls = self.walls[cut:] if self.has_wall else array("d")

    def add(self, step: int, value: float, wall: float | None = None) -> None:
        self.steps.append(step)
        self.values.append(value)
        if wall is not None:
            if not self.has_wall:  # first wall time: back-fill the points before it
                self.has_wall = True
                self.walls.extend(array("d", [math.nan]) * (len(self.values) - 1))
            self.walls.append(wall)
        elif self.has_wall:
            self.walls.append(math.nan)
        if len(self.values) >= RAW_POINTS:
            self._spill()

    def extend(self, steps, values, walls=None) -> None:
        """Bulk add (arrays, lists or iterables); walls None means no wall times for these points."""
        self.steps.extend(steps)
        n0 = len(self.values)
        self.values.extend(values)
        if walls is not None:
            if not self.has_wall:
                self.has_wall = True
                self.walls.extend(array("d", [math.nan]) * n0)
            self.walls.extend(walls)
        elif self.has_wall:
            self.walls.extend(array("d", [math.nan]) * (len(self.values) - n0))
        if len(self.values) >= RAW_POINTS:
            self._spill()

    def finish(self, notes: list[str]) -> Series:
        if self.sampler is not None:
            return self._finish_sampled(notes)
        steps, values, walls = self.steps, self.values, self.walls
        n = len(steps)
        ordered = all(steps[i] < steps[i + 1] for i in range(n - 1)) if n < 5_000 else _ordered_np(steps)
        if not ordered:
            last: dict[int, int] = {}
            backwards = 0
            prev = None
            for i, s in enumerate(steps):
                if prev is not None and s < prev:
                    backwards += 1
                prev = s
                last[s] = i
            keep = sorted(last.items())
            self._repeats_note(n - len(keep), backwards, notes)
            steps = array("q", (s for s, _ in keep))
            values = array("d", (values[i] for _, i in keep))
            walls = array("d", (walls[i] for _, i in keep)) if self.has_wall else walls
        return self._series(steps.tolist(), values.tolist(), walls.tolist() if self.has_wall else None)

    def _series(self, steps: list[int], values: list[float], walls: list[float] | None) -> Series:
        return Series.model_construct(name=self.name, role=role_for(self.name), steps=steps, values=values,
                                      wall_times=walls)

    def _repeats_note(self, repeated: int, backwards: int, notes: list[str]) -> None:
        if not ((self.expect_repeats or role_for(self.name) == "epoch") and backwards == 0):
            notes.append(
                f"metric '{self.name}': {repeated} repeated step(s) and {backwards} backwards jump(s) "
                "(a resumed run or several runs in one log?); kept the last write per step"
            )

    def _finish_sampled(self, notes: list[str]) -> Series:
        ds = self.sampler
        if len(self.steps):
            self._spill()
        if ds.repeated or ds.backwards:
            self._repeats_note(ds.repeated, ds.backwards, notes)
        notes.append(ds.note(self.name))
        return self._series(ds.steps.tolist(), ds.values.tolist(),
                            ds.walls.tolist() if ds.walls is not None else None)


def _ordered_np(steps: array) -> bool:
    import numpy as np

    a = np.frombuffer(steps, dtype=np.int64)
    return bool(np.all(a[1:] > a[:-1]))


class RunBuilder:
    """What a reader fills in: builders by metric name, metadata, notes."""

    def __init__(self, path: str, fmt: str) -> None:
        self.path = path
        self.format = fmt
        self.metadata: dict[str, Any] = {}
        self.builders: dict[str, SeriesBuilder] = {}
        self.skipped: list[str] = []
        self.skipped_lines = 0
        self.first_skip: LineSkip | None = None

    def skip_line(self, line: int, reason: str) -> None:
        """Count one unreadable line (or record); the first one is kept with its reason."""
        self.skipped_lines += 1
        if self.first_skip is None:
            self.first_skip = LineSkip(line=line, reason=reason)

    def series(self, name: str) -> SeriesBuilder:
        b = self.builders.get(name)
        if b is None:
            b = self.builders[name] = SeriesBuilder(name)
        return b

    def add(self, name: str, step: int, value: float, wall: float | None = None) -> None:
        self.series(name).add(step, value, wall)

    def finish(self) -> Run:
        notes = list(self.skipped)
        if self.skipped_lines:
            notes.append(f"{self.skipped_lines} unreadable line(s) skipped (first at line {self.first_skip.line}: "
                         f"{self.first_skip.reason})")
        series = {name: b.finish(notes) for name, b in self.builders.items() if len(b)}
        return Run(path=self.path, format=self.format, metadata=self.metadata, series=series, skipped=notes,
                   skipped_lines=self.skipped_lines, first_skip=self.first_skip)

    def no_metrics(self, what: str) -> LogReadError:
        """The error for a file with nothing readable, naming the first bad line when one was skipped."""
        why = f"; {self.skipped_lines} unreadable line(s), the first at line {self.first_skip.line}: " \
              f"{self.first_skip.reason}" if self.first_skip else ""
        return LogReadError(f"{self.path}: {what}{why}")


def to_float(v: Any) -> float | None:
    """A metric value as a float: numbers, numeric strings ('1.553', 'NaN', 'inf'), bools; else None.
    An int too large for a float (a 400-digit number) is None: a skipped value, not an OverflowError."""
    if isinstance(v, bool):
        return float(v)
    if isinstance(v, (int, float)):
        try:
            return float(v)
        except OverflowError:
            return None
    if isinstance(v, str):
        try:
            return float(v.strip())
        except (ValueError, OverflowError):
            return None
    return None


def to_step(v: Any) -> int | None:
    """A step as an int64: ints, integral floats and numeric strings ('10', '10.0', '1e3'); else None
    (null, NaN, inf, bools, text, or a number outside int64 such as 1e999 or 99999999999999999999)."""
    if isinstance(v, bool) or v is None:
        return None
    if isinstance(v, int):
        return v if STEP_MIN <= v <= STEP_MAX else None
    if isinstance(v, (str, bytes)):
        v = to_float(v.decode("ascii", "replace") if isinstance(v, bytes) else v)
    if not isinstance(v, float) or not math.isfinite(v) or not STEP_MIN <= v < STEP_MAX:
        return None
    return int(v)

"""The MCP server: a thin shell over traintriage's pure functions. The only module that imports `mcp`.

Shape follows the MCP reference servers (modelcontextprotocol/servers src/git, src/fetch): the logic lives
in plain functions tested on their own; here we only validate paths, bridge threads to the async API and
translate errors. Every tool's inputs are described fields; every output is a pydantic model (so clients
get an output schema and structured content); every tool carries annotations that say whether it runs the
user's code.

Safety:
- scripts and logs must resolve inside the allowed roots: the client's roots (MCP roots capability) when
  it declares them, else the `--root` folders, else the working directory (see paths.py);
- torch and the probe machinery are imported inside the tools, so starting the server stays cheap;
- a probe runs in a child process (probe/runner.py); a crash, hang or OOM there comes back as a Report
  with verdict crashed/timeout, never as a dead server; cancelling the MCP request sets the `cancel`
  event, which makes the runner kill the child.

Note: no `from __future__ import annotations` here: the SDK reads the tool signatures at runtime and the
tools are closures, so their annotations must be real objects.
"""

import functools
import importlib.util
import inspect
import logging
import math
import os
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

import anyio
import anyio.from_thread
import anyio.lowlevel
import anyio.to_thread
from mcp.server.mcpserver import Context, Image, ListRoots, MCPServer, Resolve
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.mcpserver.prompts.base import UserMessage
from mcp.server.mcpserver.resources.base import Resource
from mcp.types import ListRootsResult, ToolAnnotations
from pydantic import BaseModel, Field

from traintriage import __version__
from traintriage import catalogue as cat
from traintriage.paths import PathError, normalize_roots, resolve_in_roots, root_from_uri
from traintriage.report import Report

log = logging.getLogger("traintriage.server")

# At most this many probes (child processes running the user's script) at once; more calls wait their
# turn instead of oversubscribing the CPU. Each probe is a full training process; two is what a laptop
# (and the 2-core CI box) can run without the step timings the detectors read becoming noise.
MAX_CONCURRENT_PROBES = 2

# A probe step budget bigger than this is almost surely a mistake by the model (the probe needs tens of
# steps, not an epoch); refuse it rather than tie up the machine.
MAX_STEPS = 2000
MAX_TIMEOUT_S = 1800.0

# Points per metric in read_run_logs' summary: enough to see a curve's shape, small enough for a context window.
SUMMARY_POINTS = 50

INSTRUCTIONS = """\
traintriage triages neural-network training runs that execute but do not learn (flat, crawling or
diverging loss; a metric that will not move). Start with `triage_script` on the user's training script:
it lints the source and runs the script briefly under instrumentation, and returns ranked findings, each
with a catalogue id. Read `explain` (or the resource traintriage://catalogue/{id}) for how to confirm and
fix each finding before editing code. If the user has logs of a real run (TensorBoard, CSV, JSONL), read
them with `read_run_logs` first. `lint_script` is static and cheap. Scripts run in a child process with
writes redirected to a temporary folder; paths must lie inside the project roots.
"""


# ---------------------------------------------------------------------------------------------------------
# Output models (described fields, so the client's model knows what it is reading)


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
    id: str = Field(description="Catalogue id; pass it to `explain` for the full entry.")
    title: str
    score: float = Field(description="Share of the query's words found in the entry, 0..1.")
    ref: str


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
    report: Report = Field(description="Symptoms seen in the curves (with candidate causes) and findings.")
    summary: Any = Field(description="Per-metric summary (first/last/min/max/trend, sampled points).")
    metrics: list[str] = Field(description="Metric names in the run; pass one as `metric` for its points.")
    series: SeriesPage | None = Field(default=None, description="The requested metric's points, one page.")


# ---------------------------------------------------------------------------------------------------------
# Plumbing


def _provides(module: str, attr: str) -> bool:
    """True when traintriage.<module> exists and defines <attr>, checked without importing it.

    Importing the probe or logs packages here would pull in torch/matplotlib and slow the server's start;
    a tool is registered only when its function is there, so a half-landed module never ships a tool that
    always errors. The check reads the module's source (or its package __init__) for the name.
    """
    try:
        spec = importlib.util.find_spec(f"traintriage.{module}")
    except (ImportError, ValueError):
        return False
    if spec is None or spec.origin is None:  # None origin: an empty namespace folder
        return False
    try:
        return attr in Path(spec.origin).read_text(encoding="utf-8")
    except OSError:
        return False


def _as_tool_error(exc: BaseException) -> ToolError:
    """Errors the model can act on keep their text; the caller re-raises unknown ones as they are."""
    return ToolError(str(exc))


# Exception types whose message is written for the user (bad path, unreadable log, unknown id, bad input).
def _user_errors() -> tuple[type[BaseException], ...]:
    from traintriage.cli import UsageError

    return (
        PathError,
        FileNotFoundError,
        IsADirectoryError,
        PermissionError,
        UnicodeDecodeError,
        UsageError,
        cat.CatalogueError,
        ValueError,
    )


async def _client_roots(ctx: Context) -> ListRoots | None:
    """Resolver: ask the client for its roots when it declares the roots capability, else None."""
    caps = ctx.client_capabilities
    if caps is not None and caps.roots is not None:
        return ListRoots()
    return None


ClientRoots = Annotated[ListRootsResult | None, Resolve(_client_roots)]


class _Server:
    """State behind the tools: configured roots and the probe limiter."""

    def __init__(self, roots: Sequence[str | os.PathLike[str]] | None) -> None:
        self.configured = normalize_roots(roots or [Path.cwd()])
        self._limiter: anyio.CapacityLimiter | None = None

    @property
    def limiter(self) -> anyio.CapacityLimiter:
        # Created lazily: an anyio limiter binds to the running event loop.
        if self._limiter is None:
            self._limiter = anyio.CapacityLimiter(MAX_CONCURRENT_PROBES)
        return self._limiter

    def roots(self, client_roots: ListRootsResult | None) -> list[Path]:
        """The client's file:// roots when it sent any, else the configured ones."""
        if client_roots is not None:
            paths = [p for r in client_roots.roots if (p := root_from_uri(str(r.uri))) is not None]
            if paths:
                return normalize_roots(paths)
        return self.configured

    def path(self, raw: str, client_roots: ListRootsResult | None, kind: str = "file") -> Path:
        try:
            return resolve_in_roots(raw, self.roots(client_roots), kind=kind)
        except PathError as e:
            raise ToolError(str(e)) from None


async def _run_in_thread(fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
    """Run a blocking pure function off the event loop, turning user-facing errors into ToolError."""
    try:
        return await anyio.to_thread.run_sync(functools.partial(fn, *args, **kwargs))
    except _user_errors() as e:
        raise _as_tool_error(e) from e


async def _run_cancellable(ctx: Context, fn: Callable[..., Any], /, **kwargs: Any) -> Any:
    """Run a probe-style function (on_progress, cancel) in a worker thread.

    Progress: the worker calls on_progress(done, total, message); we hop it onto the event loop through a
    memory stream and forward it with ctx.report_progress (a no-op when the client sent no progress token).
    Cancel: when the request is cancelled (the client's notifications/cancelled, or the server shutting
    down), we set the `cancel` event; the runner polls it and kills its child process. The thread is
    abandoned rather than awaited, so the cancellation answers at once.
    """
    cancel = threading.Event()
    send, recv = anyio.create_memory_object_stream[tuple[float, float | None, str]](math.inf)
    token = anyio.lowlevel.current_token()

    def on_progress(done: float, total: float | None = None, message: str = "") -> None:
        try:
            anyio.from_thread.run_sync(send.send_nowait, (done, total, message), token=token)
        except Exception:  # the loop is gone or the stream closed: progress is best-effort
            log.debug("progress dropped", exc_info=True)

    async def forward() -> None:
        async with recv:
            async for done, total, message in recv:
                try:
                    await ctx.report_progress(done, total, message or None)
                except Exception:  # a client that went away must not fail the tool
                    log.debug("progress notification failed", exc_info=True)

    call = functools.partial(fn, on_progress=on_progress, cancel=cancel, **kwargs)
    result: Any = None
    error: Exception | None = None
    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(forward)
            try:
                result = await anyio.to_thread.run_sync(call, abandon_on_cancel=True)
            except Exception as e:  # kept out of the task group so it is not wrapped in an ExceptionGroup
                error = e
            finally:
                send.close()
    except BaseException:
        cancel.set()  # the request was cancelled: the runner sees this and kills the child
        raise
    if error is not None:
        cancel.set()
        if isinstance(error, _user_errors()):
            raise _as_tool_error(error) from error
        raise error
    return result


def _tool(server: MCPServer, **kw: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """server.tool with the docstring dedented (Python < 3.13 keeps a closure's indentation)."""

    def deco(fn: Callable[..., Any]) -> Callable[..., Any]:
        server.add_tool(fn, description=inspect.cleandoc(fn.__doc__ or ""), **kw)
        return fn

    return deco


def _cause_out(e: cat.Entry) -> CauseOut:
    return CauseOut(
        id=e.id,
        title=e.title,
        family=e.family,
        symptoms=e.symptoms,
        cause=e.cause,
        confirm=e.confirm,
        fix=e.fix,
        sources=[SourceOut(title=s.title, url=s.url) for s in e.sources],
        aliases=e.aliases,
        ref=e.ref,
    )


def _symptom_out(s: cat.SymptomEntry) -> SymptomOut:
    return SymptomOut(
        id=s.id,
        title=s.title,
        looks_like=s.looks_like,
        detected_by=s.detected_by,
        candidates=list(s.candidates),
        ref=s.ref,
    )


_ID_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789-")


def explain_query(query: str) -> ExplainResult:
    """Pure: a cause id (or alias), a symptom id, or free text to search. Raises ToolError with suggestions."""
    q = query.strip()
    if not q:
        raise ToolError("empty query; pass a catalogue id such as 'double-softmax' or a symptom in words")
    e = cat.resolve(q)
    if e is not None:
        return ExplainResult(kind="cause", cause=_cause_out(e))
    syms = cat.load_symptoms()
    if q in syms:
        return ExplainResult(kind="symptom", symptom=_symptom_out(syms[q]))
    looks_like_id = set(q) <= _ID_CHARS and " " not in q
    if looks_like_id:
        close = cat.suggest(q)
        if close or "-" in q:
            hint = (
                f"did you mean: {', '.join(close)}?" if close else "the list is at traintriage://catalogue."
            )
            raise ToolError(f"unknown id '{q}'; {hint} Or describe the symptom in words to search.")
    hits = cat.search(q)
    if not hits:
        raise ToolError(
            f"nothing in the catalogue matches '{q}'. Describe what the curve does (e.g. 'loss flat at ln(10) "
            "from the first step'), or read traintriage://catalogue for every id."
        )
    return ExplainResult(
        kind="search",
        query=q,
        results=[SearchHit(id=e.id, title=e.title, score=round(s, 3), ref=e.ref) for e, s in hits],
    )


class _TextResource(Resource):
    """A resource whose text is produced when it is read (the handbook can change while we run)."""

    reader: Callable[[], str] = Field(exclude=True)

    async def read(self) -> str:
        return self.reader()


def _refs_pages() -> dict[str, Path]:
    """'catalogue/loss.md' -> path, for every Markdown page under refs/."""
    base = cat.refs_dir()
    return {p.relative_to(base).as_posix(): p for p in sorted(base.rglob("*.md"))}


def read_refs_page(page: str) -> str:
    """The text of refs/<page> ('symptoms', 'catalogue/loss.md', 'refs/catalogue/loss.md#id' all work)."""
    name = page.split("#", 1)[0].strip().removeprefix("refs/")
    if not name.endswith(".md"):
        name += ".md"
    pages = _refs_pages()
    if name not in pages:  # the lookup is in a listing, so '..' or an absolute path can never match
        raise ToolError(f"no refs page '{page}'; pages: {', '.join(pages)}")
    return pages[name].read_text(encoding="utf-8")


def entry_markdown(id_: str) -> str:
    e = cat.resolve(id_)
    if e is None:
        close = cat.suggest(id_)
        raise ToolError(
            f"unknown catalogue id '{id_}'" + (f"; did you mean: {', '.join(close)}?" if close else "")
        )
    src = "\n".join(f"- [{s.title}]({s.url})" for s in e.sources)
    return (
        f"# {e.id} — {e.title}\n\nfamily: {e.family} · ref: {e.ref}\n\n"
        f"## Symptoms\n{e.symptoms}\n\n## Cause\n{e.cause}\n\n## Confirm\n{e.confirm}\n\n## Fix\n{e.fix}\n\n"
        f"## Sources\n{src}\n"
    )


# ---------------------------------------------------------------------------------------------------------
# The server


def build_server(roots: Sequence[str | os.PathLike[str]] | None = None) -> MCPServer:
    """An MCPServer with traintriage's tools, resources and prompt. `roots`: allowed folders (default: cwd)."""
    state = _Server(roots)
    server = MCPServer("traintriage", version=__version__, instructions=INSTRUCTIONS)

    read_only = ToolAnnotations(
        read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=False
    )
    # A probe executes the user's script: not read-only. Its writes (checkpoints, W&B/TensorBoard/MLflow)
    # are redirected to a temporary folder, so it does not destroy anything; it does not reach out to
    # the world on our behalf (the script itself might: that is the user's code, so we say so in words).
    runs_code = ToolAnnotations(
        read_only_hint=False, destructive_hint=False, idempotent_hint=False, open_world_hint=False
    )

    Script = Annotated[
        str,
        Field(
            description="Path of the training script, absolute or relative to the "
            "project root; must lie inside the allowed roots."
        ),
    ]
    ScriptArgs = Annotated[
        list[str] | None, Field(description="Command-line arguments for the script (its sys.argv[1:]).")
    ]
    Steps = Annotated[
        int, Field(ge=1, le=MAX_STEPS, description="Stop the script after this many optimizer steps.")
    ]
    Timeout = Annotated[
        float, Field(gt=0, le=MAX_TIMEOUT_S, description="Kill the script after this many seconds.")
    ]
    LrScale = Annotated[float | None, Field(gt=0, description="Multiply every optimizer's learning rate by this "
                        "at run time (e.g. 0.1: does the run stop diverging at a tenth of the LR?).")]
    OptImpl = Annotated[Literal["as-is", "plain"], Field(description="plain: optimizers run with foreach=False, "
                        "fused=False (does the problem follow the fused/foreach kernel?).")]

    # -- explain ------------------------------------------------------------------------------------------
    @_tool(server, title="Explain a catalogue id or search by symptom", annotations=read_only)
    def explain(
        query: Annotated[
            str,
            Field(
                description="A cause id (e.g. 'double-softmax'), a symptom id "
                "(e.g. 'flat-loss'), or a symptom described in words."
            ),
        ],
    ) -> ExplainResult:
        """Look up a failure cause or symptom in the traintriage catalogue: how to confirm it and how to fix
        it, with sources. Free text searches the catalogue by symptom."""
        return explain_query(query)

    # -- lint ---------------------------------------------------------------------------------------------
    if _provides("lint", "lint_file"):

        @_tool(server, title="Lint a training script (static)", annotations=read_only)
        async def lint_script(script: Script, client_roots: ClientRoots = None) -> Report:
            """Static checks on a training script's source (no code runs): detached losses, double softmax,
            missing zero_grad, step order, ... Each finding names a catalogue id and a file:line."""
            from traintriage.lint import lint_file

            path = state.path(script, client_roots)
            return await _run_in_thread(lint_file, path)

    # -- probe --------------------------------------------------------------------------------------------
    if _provides("probe", "run_probe"):

        @_tool(server, title="Probe a training script (runs it)", annotations=runs_code)
        async def probe_script(
            script: Script,
            ctx: Context,
            mode: Annotated[
                Literal["overfit", "observe"],
                Field(
                    description="overfit: replay the first batch; a healthy setup drives its loss near zero. "
                    "observe: run the script as written and record its dynamics."
                ),
            ] = "overfit",
            steps: Steps = 30,
            timeout: Timeout = 120.0,
            args: ScriptArgs = None,
            client_roots: ClientRoots = None,
            lr_scale: LrScale = None,
            optimizer_impl: OptImpl = "as-is",
        ) -> Report:
            """Runs the user's code: the training script executes in a child process for a few steps (file
            writes go to a temporary folder) under instrumentation and report measured findings:
            gradients that never reach parameters, updates that are too small or large, dead units, loss
            that does not fall on one batch. Sends progress notifications; cancelling kills the child."""
            from traintriage.probe import run_probe

            path = state.path(script, client_roots)
            async with state.limiter:
                return await _run_cancellable(
                    ctx,
                    run_probe,
                    script=path,
                    mode=mode,
                    steps=steps,
                    timeout=timeout,
                    args=tuple(args or ()),
                    cwd=path.parent,
                    extra=__import__("traintriage.probe.overrides", fromlist=["x"]).child_config(lr_scale, optimizer_impl),
                )

    # -- triage -------------------------------------------------------------------------------------------
    if _provides("triage", "triage_script"):

        @_tool(server, title="Triage a training script (lint + probe)", annotations=runs_code)
        async def triage_script(
            script: Script,
            ctx: Context,
            steps: Steps = 30,
            timeout: Timeout = 120.0,
            args: ScriptArgs = None,
            logs: Annotated[
                str | None,
                Field(
                    description="Optional log file or folder of a real run (TensorBoard, CSV, JSONL) to fold "
                    "into the report."
                ),
            ] = None,
            client_roots: ClientRoots = None,
            lr_scale: LrScale = None,
            optimizer_impl: OptImpl = "as-is",
        ) -> Report:
            """Start here. Lints the script, then runs the user's code briefly under instrumentation (a child
            process; file writes go to a temporary folder), then returns one ranked report:
            verdict, findings with catalogue ids and evidence. Sends progress; cancelling kills the child."""
            from traintriage.triage import triage_script as triage

            path = state.path(script, client_roots)
            logs_path = state.path(logs, client_roots, kind="any") if logs else None
            async with state.limiter:
                return await _run_cancellable(
                    ctx,
                    triage,
                    script=path,
                    steps=steps,
                    timeout=timeout,
                    args=tuple(args or ()),
                    cwd=path.parent,
                    logs=logs_path,
                    overrides=__import__("traintriage.probe.overrides", fromlist=["x"]).child_config(lr_scale, optimizer_impl),
                )

    # -- gradients ----------------------------------------------------------------------------------------
    if _provides("gradients", "classify_rough_map"):
        _register_rough_map(server, read_only)
    if _provides("grads_probe", "grads_script"):
        _register_grad_decomposition(server, state, Script, ScriptArgs, Steps, Timeout, runs_code)

    # -- logs ---------------------------------------------------------------------------------------------
    if _provides("logs", "read_run") and _provides("logs.diagnosis", "def diagnose"):
        _register_logs_tools(server, state, read_only, plot=_provides("logs.plot", "def plot_run"))

    _register_resources(server)
    _register_prompt(server)
    return server


def _register_grad_decomposition(
    server: MCPServer,
    state: _Server,
    Script: Any,
    ScriptArgs: Any,
    Steps: Any,
    Timeout: Any,
    runs_code: ToolAnnotations,
) -> None:
    @_tool(server, title="Decompose gradients per loss term (runs the script)", annotations=runs_code)
    async def grad_decomposition(
        script: Script,
        ctx: Context,
        steps: Steps = 40,
        timeout: Timeout = 120.0,
        args: ScriptArgs = None,
        ablate: Annotated[
            str | None,
            Field(
                description="A loss term to switch off in a second run (question 3 of the rough map: does the "
                "metric reach the same value without it?). Term names are in the first run's report."
            ),
        ] = None,
        metric: Annotated[
            str | None,
            Field(
                description="The term or metric to compare between the two runs (default: the ablated term)."
            ),
        ] = None,
        client_roots: ClientRoots = None,
    ) -> Report:
        """For a metric or loss term that will not move while the loss does. Runs the user's code (the script
        executes in a child process; file writes go to a temporary folder) and splits the gradient by loss
        term: each term's d(loss)/d(term), its gradient norm and cosine with the others on shared parameters,
        and the metric-stuck rough-map reading as findings (loss-saturated, structural-ceiling,
        competing-losses, same-basin). Custom terms are seen where the script marks them with
        traintriage.term(name, value). Sends progress; cancelling kills the child."""
        from traintriage.grads_probe import grads_script

        path = state.path(script, client_roots)
        async with state.limiter:
            return await _run_cancellable(
                ctx,
                grads_script,
                script=path,
                steps=steps,
                timeout=timeout,
                args=tuple(args or ()),
                cwd=path.parent,
                ablate=ablate,
                metric=metric,
            )


def _register_rough_map(server: MCPServer, read_only: ToolAnnotations) -> None:
    """classify_rough_map is pure (numbers in, a reading out) and torch-free at import."""
    from traintriage.gradients import RoughMapReading
    from traintriage.gradients import classify_rough_map as classify

    @_tool(server, title="Read the metric-stuck rough map", annotations=read_only)
    def classify_rough_map(
        term: Annotated[str, Field(description="Name of the loss term (or metric) being examined.")],
        dloss_dterm: Annotated[
            float,
            Field(
                description="d(loss)/d(term): how strongly the total loss reacts "
                "to this term at the current point (question 1)."
            ),
        ],
        effective_norm: Annotated[
            float,
            Field(
                description="Norm of this term's gradient on the parameters "
                "as it enters the loss (slope x raw gradient)."
            ),
        ],
        dterm_dparam_norm: Annotated[
            float,
            Field(description="||d(term)/d(params)||: can the parameters move the term at all (question 2)."),
        ],
        max_effective_norm: Annotated[
            float | None, Field(description="Largest effective_norm over all terms of the same loss.")
        ] = None,
        max_dloss_dterm: Annotated[
            float | None, Field(description="Largest |d(loss)/d(term)| over all terms.")
        ] = None,
        max_dterm_dparam_norm: Annotated[
            float | None, Field(description="Largest ||d(term)/d(params)|| over all terms.")
        ] = None,
        min_cosine: Annotated[
            float | None,
            Field(
                ge=-1.0,
                le=1.0,
                description="This term's most negative gradient cosine with another term on shared params.",
            ),
        ] = None,
        other_norm_ratio: Annotated[
            float | None, Field(ge=0.0, description="Norm ratio (smaller/larger) with that other term.")
        ] = None,
        metric_on: Annotated[
            float | None, Field(description="Ablation: final metric with the term on (question 3).")
        ] = None,
        metric_off: Annotated[
            float | None, Field(description="Ablation: final metric with the term off.")
        ] = None,
        metric_init: Annotated[float | None, Field(description="Ablation: the metric at the start.")] = None,
    ) -> RoughMapReading:
        """Place a stuck metric/loss term on the metric-stuck rough map from the three measured answers (does
        the loss react to the term, can the parameters move it, is it the same with the term off) and return
        the row and the catalogue id it points to (loss-saturated, structural-ceiling, competing-losses,
        same-basin, or none). Numbers in, reading out; runs nothing. `grad_decomposition` measures them."""
        return classify(
            term,
            dloss_dterm=dloss_dterm,
            effective_norm=effective_norm,
            dterm_dparam_norm=dterm_dparam_norm,
            max_effective_norm=max_effective_norm,
            max_dloss_dterm=max_dloss_dterm,
            max_dterm_dparam_norm=max_dterm_dparam_norm,
            min_cosine=min_cosine,
            other_norm_ratio=other_norm_ratio,
            metric_on=metric_on,
            metric_off=metric_off,
            metric_init=metric_init,
        )


def _register_logs_tools(server: MCPServer, state: _Server, read_only: ToolAnnotations, plot: bool) -> None:
    @_tool(server, title="Read a run's logs", annotations=read_only)
    async def read_run_logs(
        path: Annotated[
            str,
            Field(
                description="A log file or run folder (TensorBoard event files, CSV, "
                "JSONL, Lightning/HF output); inside the allowed roots."
            ),
        ],
        format: Annotated[str, Field(description="Reader to use; 'auto' detects it.")] = "auto",
        num_classes: Annotated[
            int | None,
            Field(
                ge=2,
                description="Number of classes, if a classifier: lets the tool spot loss stuck at ln(C).",
            ),
        ] = None,
        metric: Annotated[
            str | None,
            Field(
                description="Name of one metric to return points for (paginated); omit for summaries only."
            ),
        ] = None,
        offset: Annotated[int, Field(ge=0, description="First point of the page, for `metric`.")] = 0,
        limit: Annotated[int, Field(ge=1, le=5000, description="Points per page, for `metric`.")] = 500,
        client_roots: ClientRoots = None,
    ) -> RunLogsResult:
        """Read a training run's logs and report what the curves show: per-metric summaries and symptoms
        (flat-loss, divergence, nan-loss, plateau, ...) each with ranked candidate causes. Read-only."""
        resolved = state.path(path, client_roots, kind="any")
        return await _run_in_thread(read_logs, resolved, format, num_classes, metric, offset, limit)

    if not plot:
        return

    @_tool(server, title="Plot a run's curves (PNG)", annotations=read_only)
    async def plot_run(
        path: Annotated[str, Field(description="A log file or run folder; inside the allowed roots.")],
        metrics: Annotated[
            list[str] | None, Field(description="Metric names to plot (default: the loss-like ones).")
        ] = None,
        format: Annotated[str, Field(description="Reader to use; 'auto' detects it.")] = "auto",
        client_roots: ClientRoots = None,
    ) -> Image:
        """Render a run's curves as a PNG image so you can look at their shape. Read-only."""
        resolved = state.path(path, client_roots, kind="any")
        png = await _run_in_thread(render_plot, resolved, format, metrics)
        return Image(data=png, format="png")


def _series_points(run: Any, name: str) -> tuple[list[float], list[float]]:
    """(steps, values) of one series; the logs engineer's Series exposes steps/values."""
    series = getattr(run, "series", {})
    s = series.get(name) if isinstance(series, dict) else next((x for x in series if x.name == name), None)
    if s is None:
        names = list(series) if isinstance(series, dict) else [x.name for x in series]
        raise ValueError(f"no metric '{name}' in the run; metrics: {', '.join(map(str, names))}")
    return list(s.steps), list(s.values)


def _metric_names(run: Any) -> list[str]:
    series = getattr(run, "series", {})
    return list(series) if isinstance(series, dict) else [x.name for x in series]


def read_logs(
    path: Path, format: str, num_classes: int | None, metric: str | None, offset: int, limit: int
) -> RunLogsResult:
    """Pure-ish: read, diagnose, summarize, and page one series."""
    from traintriage import logs
    from traintriage.logs import diagnose

    run = logs.read_run(path, format=format)
    report = diagnose(run, num_classes=num_classes)
    try:
        summary = logs.summarize(run, max_points=SUMMARY_POINTS)
    except ImportError:  # summary module not there yet: the report's symptoms still stand
        summary = {name: {"points": len(s)} for name, s in run.series.items()}
    if hasattr(summary, "model_dump"):
        summary = summary.model_dump(mode="json")
    page = None
    if metric is not None:
        steps, values = _series_points(run, metric)
        chunk = slice(offset, offset + limit)
        nxt = offset + limit if offset + limit < len(steps) else None
        page = SeriesPage(
            metric=metric,
            total_points=len(steps),
            offset=offset,
            steps=[float(x) for x in steps[chunk]],
            values=[float(v) if v is not None and math.isfinite(v) else None for v in values[chunk]],
            next_offset=nxt,
        )
    return RunLogsResult(
        path=str(path), report=report, summary=summary, metrics=_metric_names(run), series=page
    )


def render_plot(path: Path, format: str, metrics: list[str] | None) -> bytes:
    import tempfile

    from traintriage import logs

    run = logs.read_run(path, format=format)
    if metrics:
        unknown = [m for m in metrics if m not in run.series]
        if unknown:
            raise ValueError(
                f"no metric {', '.join(map(repr, unknown))} in the run; metrics: {', '.join(run.series)}"
            )
        run = run.model_copy(update={"series": {m: run.series[m] for m in metrics}})
    try:
        from traintriage.logs import diagnose

        report = diagnose(run)
    except Exception:  # noqa: BLE001 - the plot is still worth having without symptom marks
        report = None
    with tempfile.TemporaryDirectory(prefix="traintriage-plot-") as tmp:
        out = Path(tmp) / "run.png"
        try:
            res = logs.plot_run(run, out, report=report)
        except logs.PlotUnavailable as e:
            raise ValueError(f"{e}; install matplotlib (pip install 'traintriage[plot]')") from e
        return Path(res or out).read_bytes()


def _register_resources(server: MCPServer) -> None:
    @server.resource(
        "traintriage://catalogue",
        name="catalogue",
        title="Catalogue of failure causes",
        mime_type="application/json",
    )
    def catalogue_index() -> str:
        import json

        return json.dumps(
            [
                {"id": e.id, "family": e.family, "title": e.title, "ref": e.ref}
                for e in cat.load_catalogue().values()
            ]
        )

    @server.resource(
        "traintriage://catalogue/{id}",
        name="catalogue-entry",
        title="One catalogue entry",
        mime_type="text/markdown",
    )
    def catalogue_entry(id: str) -> str:
        """A catalogue entry by id (or alias): symptoms, cause, the confirming check, the fix, sources."""
        return entry_markdown(id)

    @server.resource(
        "traintriage://refs/{+page}",
        name="refs-page",
        title="A page of the refs/ handbook",
        mime_type="text/markdown",
    )
    def refs_page(page: str) -> str:
        """A handbook page by its path under refs/, e.g. symptoms.md or catalogue/loss.md."""
        return read_refs_page(page)

    # Static listings so clients can browse: every page and every entry. Cheap (the handbook is parsed
    # once, ~ms) and read lazily.
    try:
        for name in _refs_pages():
            server.add_resource(
                _TextResource(
                    uri=f"traintriage://refs/{name}",
                    name=f"refs/{name}",
                    mime_type="text/markdown",
                    reader=functools.partial(read_refs_page, name),
                )
            )
        for e in cat.load_catalogue().values():
            server.add_resource(
                _TextResource(
                    uri=f"traintriage://catalogue/{e.id}",
                    name=e.id,
                    title=e.title,
                    mime_type="text/markdown",
                    description=f"[{e.family}] {e.title}",
                    reader=functools.partial(entry_markdown, e.id),
                )
            )
    except cat.CatalogueError as e:  # a broken handbook must not stop the server; explain will say why
        log.warning("handbook not listed as resources: %s", e)


def _register_prompt(server: MCPServer) -> None:
    @server.prompt(name="triage-training-run", title="Triage a training run that does not learn")
    def triage_training_run(
        script: Annotated[str, Field(description="Path of the training script.")],
        symptom: Annotated[str, Field(description="What the user sees, e.g. 'loss flat at 2.30'.")] = "",
        logs: Annotated[str, Field(description="Optional path of the run's logs.")] = "",
    ) -> list[UserMessage]:
        """Walk an agent through triaging a training script: measure first, then confirm, then fix."""
        steps = [
            f"My training script `{script}` runs but does not learn."
            + (f" What I see: {symptom}." if symptom else ""),
            "",
            "Triage it with the traintriage tools, measuring before changing anything:",
        ]
        n = 1
        if logs:
            steps.append(f"{n}. Call `read_run_logs` on `{logs}` and note the symptoms and candidate causes.")
            n += 1
        steps += [
            f"{n}. Call `triage_script` on `{script}`"
            + (f" with logs=`{logs}`" if logs else "")
            + ". It lints the source and runs the script for a few steps in a sandboxed child process.",
            f"{n + 1}. For each finding at error or warning severity, call `explain` with its id and run the "
            "check under 'confirm' before editing code.",
            f"{n + 2}. If a metric will not move while the loss does, call `grad_decomposition`.",
            f"{n + 3}. Propose the smallest fix from the entry's 'fix', apply it, and re-run `triage_script` to "
            "show the finding is gone (verdict healthy or the finding absent).",
            "Report each cause as: id, the measured evidence, the fix, and the before/after verdict.",
        ]
        return [UserMessage("\n".join(steps))]


# ---------------------------------------------------------------------------------------------------------
# Entry points (called by commands/serve_cmds.py)


def serve_stdio(roots: Sequence[str | os.PathLike[str]] | None = None) -> None:
    build_server(roots).run("stdio")


def serve_http(roots: Sequence[str | os.PathLike[str]] | None = None, port: int = 8765) -> None:
    """Streamable HTTP on 127.0.0.1 only, with the SDK's DNS-rebinding protection (Host/Origin checks)."""
    from mcp.server.transport_security import TransportSecuritySettings

    security = TransportSecuritySettings(
        enable_dns_rebinding_protection=True,
        allowed_hosts=["127.0.0.1:*", "localhost:*"],
        allowed_origins=["http://127.0.0.1:*", "http://localhost:*"],
    )
    build_server(roots).run("streamable-http", host="127.0.0.1", port=port, transport_security=security)

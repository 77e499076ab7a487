"""The MCP server: declares traintriage's tools, resources and prompt, and turns errors into ToolErrors.
The only module that imports `mcp`. The logic lives below: outputs.py / tool_inputs.py (models, described
inputs), catalogue.py (explain, refs), render_md.py, logs/present.py, bridge.py, paths.py, errors.py.

Safety:
- roots are a ceiling: a path must resolve inside the `--root` folders (default the working directory),
  narrowed to the client's roots when it declares them (MCP roots), never widened (paths.allowed_roots);
- every failure reaches the client as a ToolError with its reason: the user's input (bad path, unreadable
  log, unknown id) in its own words, anything else as one line naming the tool; the server keeps serving;
- an error about a log never quotes the log (errors.redact_file_content);
- torch and the probe are imported inside the tools, so starting the server stays cheap; a probe runs in
  a child process, so a crash, hang or OOM there is a Report (crashed/timeout), never a dead server.

Note: no `from __future__ import annotations` here: the SDK reads the tool signatures at runtime and the
tools are closures, so their annotations must be real objects.
"""

import base64
import functools
import importlib.util
import inspect
import json
import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Annotated, Any

import anyio
import anyio.to_thread
from mcp.server.mcpserver import Context, Image, ListRoots, MCPServer, Resolve
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.mcpserver.prompts.base import UserMessage
from mcp.server.mcpserver.resources.base import Resource
from mcp.types import CallToolResult, ImageContent, ListRootsResult, TextContent, ToolAnnotations
from pydantic import BaseModel, Field

from traintriage import __version__
from traintriage import catalogue as cat
from traintriage import tool_inputs as ti
from traintriage.bridge import run_cancellable
from traintriage.errors import internal_message, is_user_error, redact_file_content, user_message
from traintriage.outputs import ExplainResult, RunLogsResult
from traintriage.paths import (
    PathError,
    allowed_roots,
    inside_roots,
    normalize_roots,
    resolve_in_roots,
    root_from_uri,
)
from traintriage.render_md import entry_markdown, triage_prompt
from traintriage.report import Report

log = logging.getLogger("traintriage.server")

# At most this many probes (child processes running the user's script) at once; more calls wait their
# turn instead of oversubscribing the CPU. Each probe is a full training process; two is what a laptop
# (and the 2-core CI box) can run without the step timings the detectors read becoming noise.
MAX_CONCURRENT_PROBES = 2

# Tool arguments that name a log the tool parses: an error's text is kept from quoting it.
_LOG_ARGS = ("path", "logs")

INSTRUCTIONS = """\
traintriage triages neural-network training runs that execute but do not learn (flat, crawling or
diverging loss; a metric that will not move). Start with `triage_script` on the user's training script:
it lints the source and runs the script briefly under instrumentation, and returns ranked findings, each
with a catalogue id. Read `explain` (or the resource traintriage://catalogue/{id}) for how to confirm and
fix each finding before editing code. If the user has logs of a real run (TensorBoard, CSV, JSONL), read
them with `read_run_logs` first. `lint_script` is static and cheap. Scripts run in a child process with
writes redirected to a temporary folder; paths must lie inside the project roots.
"""


def _provides(module: str, attr: str) -> bool:
    """True when traintriage.<module> exists and its source names <attr>, checked without importing it
    (importing the probe or logs would pull in torch/matplotlib): a half-landed module ships no tool."""
    # find_spec("traintriage.probe.grads") would import the parent package traintriage.probe (its __init__
    # imports the runner): look the file up by path beneath the package instead
    base = Path(importlib.util.find_spec("traintriage").origin).parent.joinpath(*module.split("."))  # type: ignore[arg-type]
    for f in (base.with_suffix(".py"), base / "__init__.py"):
        try:
            return attr in f.read_text("utf-8")
        except OSError:
            continue
    return False


# Set by serve_stdio / serve_http: the running server keeps a warm probe template (probe/warm.py), started by its
# first probe call; a server built in-process (the tests) probes cold.
_WARM = {"on": False}


def _warm() -> None:
    if _WARM["on"]:
        from traintriage.probe import warm

        warm.keep()


def _overrides(lr_scale: float | None, optimizer_impl: str) -> dict[str, Any]:
    from traintriage.probe.overrides import child_config

    return child_config(lr_scale, optimizer_impl)


def _gib(gib: float | None) -> int | None:
    return int(gib * 2**30) if gib else None


async def _client_roots(ctx: Context) -> ListRoots | None:
    """Resolver: ask the client for its roots when it declares the roots capability, else None."""
    caps = ctx.client_capabilities
    return ListRoots() if caps is not None and caps.roots is not None else None


ClientRoots = Annotated[ListRootsResult | None, Resolve(_client_roots)]


class _Server:
    """State behind the tools: the roots ceiling and the probe limiter."""

    def __init__(self, roots: Sequence[str | os.PathLike[str]] | None) -> None:
        self.configured = normalize_roots(roots or [Path.cwd()])
        self._limiter: anyio.CapacityLimiter | None = None

    @property
    def limiter(self) -> anyio.CapacityLimiter:
        if self._limiter is None:  # created lazily: an anyio limiter binds to the running event loop
            self._limiter = anyio.CapacityLimiter(MAX_CONCURRENT_PROBES)
        return self._limiter

    def roots(self, client_roots: ListRootsResult | None) -> list[Path]:
        """The configured roots, narrowed to the client's file:// roots when it sent any."""
        uris = [] if client_roots is None else [str(r.uri) for r in client_roots.roots]
        client = [p for u in uris if (p := root_from_uri(u)) is not None]
        return allowed_roots(self.configured, client or None)

    def path(self, raw: str, client_roots: ListRootsResult | None, kind: str = "file") -> Path:
        roots = self.roots(client_roots)
        if not roots:
            ceiling = ", ".join(map(str, self.configured))
            raise PathError(f"the client's roots do not overlap the server's --root ({ceiling}); nothing is allowed")
        return resolve_in_roots(raw, roots, kind=kind)

    def tool_error(self, tool: str, exc: Exception, arguments: dict[str, Any]) -> ToolError:
        """The client's view of a failure: the user's input error in its words, else one line naming the tool."""
        logs = [p for k in _LOG_ARGS if (p := inside_roots(arguments.get(k), self.configured)) is not None]
        if is_user_error(exc):
            return ToolError(redact_file_content(user_message(exc), logs))
        log.error("tool %s failed", tool, exc_info=exc)
        message = redact_file_content(internal_message(f"tool {tool}", exc), logs)
        return ToolError(f"{message} (a bug in traintriage; the server keeps running)")

    def tool(self, server: MCPServer, **kw: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """server.add_tool with errors converted and the docstring dedented (Python < 3.13 keeps a closure's
        indentation). The wrapper keeps fn's signature (functools.wraps), which the SDK reads."""

        def deco(fn: Callable[..., Any]) -> Callable[..., Any]:
            if not inspect.iscoroutinefunction(fn):  # one error wrapper, so every tool is async
                raise TypeError(f"tool {fn.__name__} must be async")

            @functools.wraps(fn)
            async def guarded(*args: Any, **kwargs: Any) -> Any:
                try:
                    return await fn(*args, **kwargs)
                except ToolError:
                    raise
                except Exception as e:
                    raise self.tool_error(fn.__name__, e, kwargs) from e

            server.add_tool(guarded, description=inspect.cleandoc(fn.__doc__ or ""), **kw)
            return fn

        return deco


async def _in_thread(fn: Callable[..., Any], /, *args: Any) -> Any:
    return await anyio.to_thread.run_sync(functools.partial(fn, *args))


def _answer(model: BaseModel, pngs: dict[str, bytes] | None = None) -> CallToolResult:
    """A tool's answer: its JSON once as compact text (the SDK's default indents it, about twice the characters)
    and as structured content, then each figure as a named PNG image block."""
    data = model.model_dump(mode="json")
    content: list[Any] = [TextContent(type="text", text=json.dumps(data, separators=(",", ":")))]
    for name, png in (pngs or {}).items():
        content.append(TextContent(type="text", text=f"figure: {name}"))
        content.append(ImageContent(type="image", data=base64.b64encode(png).decode("ascii"), mime_type="image/png"))
    return CallToolResult(content=content, structured_content=data)


async def _report_answer(rep: Report, images: bool) -> Report | CallToolResult:
    """A probe-style Report, with its figures (the HTML report's, report_html.figures) when asked."""
    if not images:
        return rep
    from traintriage import report_html

    try:
        pngs = await _in_thread(report_html.figures, rep)
    except report_html.HtmlUnavailable as e:
        raise ToolError(f"{e} (or call again with images=false)") from e
    return _answer(rep, pngs)


class _TextResource(Resource):
    """A resource whose text is produced when it is read (the handbook can change while we run)."""

    reader: Callable[[], str] = Field(exclude=True)

    async def read(self) -> str:
        return self.reader()


# A probe executes the user's script: not read-only. Its writes (checkpoints, W&B/TensorBoard/MLflow) are
# redirected to a temporary folder, so it destroys nothing; it does not reach out to the world on our behalf
# (the script itself might: that is the user's code, so the descriptions say so in words).
READ_ONLY = ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=False)
RUNS_CODE = ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=False, open_world_hint=False)


def build_server(roots: Sequence[str | os.PathLike[str]] | None = None) -> MCPServer:
    """An MCPServer with traintriage's tools, resources and prompt. `roots`: the --root ceiling (default cwd)."""
    state = _Server(roots)
    server = MCPServer("traintriage", version=__version__, instructions=INSTRUCTIONS)
    tool = functools.partial(state.tool, server)

    @tool(title="Explain a catalogue id or search by symptom", annotations=READ_ONLY)
    async def explain(query: ti.Query) -> ExplainResult:
        """Look up a failure cause or symptom in the traintriage catalogue: how to confirm it and how to fix
        it, with sources. Free text searches the catalogue by symptom."""
        from traintriage.explain import explain_query

        return explain_query(query)

    if _provides("lint", "lint_file"):

        @tool(title="Lint a training script (static)", annotations=READ_ONLY)
        async def lint_script(script: ti.Script, client_roots: ClientRoots = None) -> Report:
            """Static checks on a training script's source (no code runs): detached losses, double softmax,
            missing zero_grad, step order, ... Each finding names a catalogue id and a file:line."""
            from traintriage.lint import lint_file

            return await _in_thread(lint_file, state.path(script, client_roots))

    if _provides("probe", "run_probe"):

        @tool(title="Probe a training script (runs it)", annotations=RUNS_CODE)
        async def probe_script(
            script: ti.Script, ctx: Context, mode: ti.ProbeMode = "overfit", steps: ti.Steps = 30,
            timeout: ti.Timeout = 120.0, args: ti.ScriptArgs = None, client_roots: ClientRoots = None,
            lr_scale: ti.LrScale = None, optimizer_impl: ti.OptImpl = "as-is", max_memory_gib: ti.MaxMemoryGib = None,
            only: ti.Checks = None, skip: ti.Checks = None, images: ti.Images = False,
            nproc_per_node: ti.NprocPerNode = None,
        ) -> Report:
            """Runs the user's code: the training script executes in a child process for a few steps (file
            writes go to a temporary folder) under instrumentation and report measured findings:
            gradients that never reach parameters, updates that are too small or large, dead units, loss
            that does not fall on one batch. Sends progress notifications; cancelling kills the child."""
            from traintriage.probe import run_probe

            _warm()

            path = state.path(script, client_roots)
            async with state.limiter:
                rep = await run_cancellable(ctx.report_progress, run_probe, script=path, mode=mode, steps=steps,
                                            timeout=timeout, args=tuple(args or ()), cwd=path.parent,
                                            extra=_overrides(lr_scale, optimizer_impl), only=only, skip=skip,
                                            max_memory=_gib(max_memory_gib), nproc_per_node=nproc_per_node)
            return await _report_answer(rep, images)

    if _provides("triage", "triage_script"):

        @tool(title="Triage a training script (lint + probe)", annotations=RUNS_CODE)
        async def triage_script(
            script: ti.Script, ctx: Context, steps: ti.Steps = 30, timeout: ti.Timeout = 120.0,
            args: ti.ScriptArgs = None, logs: ti.TriageLogs = None, client_roots: ClientRoots = None,
            lr_scale: ti.LrScale = None, optimizer_impl: ti.OptImpl = "as-is", max_memory_gib: ti.MaxMemoryGib = None,
            only: ti.Checks = None, skip: ti.Checks = None, images: ti.Images = False,
            nproc_per_node: ti.NprocPerNode = None,
        ) -> Report:
            """Start here. Lints the script, then runs the user's code briefly under instrumentation (a child
            process; file writes go to a temporary folder), then returns one ranked report:
            verdict, findings with catalogue ids and evidence. Sends progress; cancelling kills the child."""
            from traintriage.triage import triage_script as triage

            _warm()

            path = state.path(script, client_roots)
            logs_path = state.path(logs, client_roots, kind="any") if logs else None
            async with state.limiter:
                rep = await run_cancellable(ctx.report_progress, triage, script=path, steps=steps, timeout=timeout,
                                            args=tuple(args or ()), cwd=path.parent, logs=logs_path,
                                            overrides=_overrides(lr_scale, optimizer_impl), only=only, skip=skip,
                                            max_memory=_gib(max_memory_gib), nproc_per_node=nproc_per_node)
            return await _report_answer(rep, images)

    if _provides("gradients", "classify_rough_map"):
        from traintriage.gradients import RoughMapReading

        @tool(title="Read the metric-stuck rough map", annotations=READ_ONLY)
        async def classify_rough_map(
            term: ti.Term, dloss_dterm: ti.DlossDterm, effective_norm: ti.EffectiveNorm,
            dterm_dparam_norm: ti.DtermDparamNorm, max_effective_norm: ti.MaxEffectiveNorm = None,
            max_dloss_dterm: ti.MaxDlossDterm = None, max_dterm_dparam_norm: ti.MaxDtermDparamNorm = None,
            min_cosine: ti.MinCosine = None, other_norm_ratio: ti.OtherNormRatio = None,
            metric_on: ti.MetricOn = None, metric_off: ti.MetricOff = None, metric_init: ti.MetricInit = None,
        ) -> RoughMapReading:
            """Place a stuck metric/loss term on the metric-stuck rough map from the three measured answers (does
            the loss react to the term, can the parameters move it, is it the same with the term off) and return
            the row and the catalogue id it points to (loss-saturated, structural-ceiling, competing-losses,
            same-basin, or none). Numbers in, reading out; runs nothing. `grad_decomposition` measures them."""
            from traintriage.gradients import classify_rough_map as classify

            measured = dict(locals())  # the parameters above, by name: classify takes the same keywords
            del measured["classify"]
            return classify(measured.pop("term"), **measured)

    if _provides("probe.grads", "grads_script"):

        @tool(title="Decompose gradients per loss term (runs the script)", annotations=RUNS_CODE)
        async def grad_decomposition(
            script: ti.Script, ctx: Context, steps: ti.Steps = 40, timeout: ti.Timeout = 120.0,
            args: ti.ScriptArgs = None, ablate: ti.Ablate = None, metric: ti.GradsMetric = None,
            client_roots: ClientRoots = None, images: ti.Images = False,
        ) -> Report:
            """For a metric or loss term that will not move while the loss does. Runs the user's code (the script
            executes in a child process; file writes go to a temporary folder) and splits the gradient by loss
            term: each term's d(loss)/d(term), its gradient norm and cosine with the others on shared parameters,
            and the metric-stuck rough-map reading as findings (loss-saturated, structural-ceiling,
            competing-losses, same-basin). Custom terms are seen where the script marks them with
            traintriage.term(name, value). Sends progress; cancelling kills the child."""
            from traintriage.probe.grads import grads_script

            _warm()

            path = state.path(script, client_roots)
            async with state.limiter:
                rep = await run_cancellable(ctx.report_progress, grads_script, script=path, steps=steps,
                                            timeout=timeout, args=tuple(args or ()), cwd=path.parent,
                                            ablate=ablate, metric=metric)
            return await _report_answer(rep, images)

    if _provides("logs", "read_run") and _provides("logs.diagnosis", "def diagnose"):
        from traintriage.logs import present

        @tool(title="Read a run's logs", annotations=READ_ONLY)
        async def read_run_logs(
            path: ti.LogPath, format: ti.LogFormat = "auto", num_classes: ti.NumClasses = None,
            metric: ti.LogMetric = None, offset: ti.Offset = 0, limit: ti.Limit = 500,
            points: ti.SummaryPoints = False, images: ti.Images = False, client_roots: ClientRoots = None,
        ) -> RunLogsResult:
            """Read a training run's logs and report what the curves show: per-metric summaries and symptoms
            (flat-loss, divergence, nan-loss, plateau, ...) each with ranked candidate causes, and which files
            of a run folder were read and which skipped. Each number comes once: statistics per metric here,
            one metric's points page by page with `metric`/`offset`/`limit`. Read-only."""
            resolved = state.path(path, client_roots, kind="any")
            result, pngs = await _in_thread(present.read_logs, resolved, format, num_classes, metric, offset, limit,
                                            points, images)
            return _answer(result, pngs)

        if _provides("logs.plot", "def plot_run"):

            @tool(title="Plot a run's curves (PNG)", annotations=READ_ONLY)
            async def plot_run(
                path: ti.LogPath, metrics: ti.PlotMetrics = None, format: ti.LogFormat = "auto",
                client_roots: ClientRoots = None,
            ) -> Image:
                """Render a run's curves as a PNG image so you can look at their shape. Read-only."""
                resolved = state.path(path, client_roots, kind="any")
                return Image(data=await _in_thread(present.render_plot, resolved, format, metrics), format="png")

    _register_resources(server)

    @server.prompt(name="triage-training-run", title="Triage a training run that does not learn")
    def triage_training_run(
        script: ti.PromptScript, symptom: ti.PromptSymptom = "", logs: ti.PromptLogs = ""
    ) -> list[UserMessage]:
        """Walk an agent through triaging a training script: measure first, then confirm, then fix."""
        return [UserMessage(triage_prompt(script, symptom, logs))]

    return server


def _register_resources(server: MCPServer) -> None:
    @server.resource("traintriage://catalogue", name="catalogue", title="Catalogue of failure causes",
                     mime_type="application/json")
    def catalogue_index() -> str:
        import json

        entries = cat.load_catalogue().values()
        return json.dumps([{"id": e.id, "family": e.family, "title": e.title, "ref": e.ref} for e in entries])

    @server.resource("traintriage://catalogue/{id}", name="catalogue-entry", title="One catalogue entry",
                     mime_type="text/markdown")
    def catalogue_entry(id: str) -> str:
        """A catalogue entry by id (or alias): symptoms, cause, the confirming check, the fix, sources."""
        return entry_markdown(id)

    @server.resource("traintriage://refs/{+page}", name="refs-page", title="A page of the refs/ handbook",
                     mime_type="text/markdown")
    def refs_page(page: str) -> str:
        """A handbook page by its path under refs/, e.g. symptoms.md or catalogue/loss.md."""
        return cat.read_refs_page(page)

    # Static listings so clients can browse: every page and every entry (the handbook parses in ~ms; read lazily).
    try:
        for name in cat.refs_pages():
            server.add_resource(_TextResource(uri=f"traintriage://refs/{name}", name=f"refs/{name}",
                                              mime_type="text/markdown",
                                              reader=functools.partial(cat.read_refs_page, name)))
        for e in cat.load_catalogue().values():
            server.add_resource(_TextResource(uri=f"traintriage://catalogue/{e.id}", name=e.id, title=e.title,
                                              mime_type="text/markdown", description=f"[{e.family}] {e.title}",
                                              reader=functools.partial(entry_markdown, e.id)))
    except cat.CatalogueError as e:  # a broken handbook must not stop the server; explain will say why
        log.warning("handbook not listed as resources: %s", e)


# Entry points (called by commands/serve_cmds.py)


def serve_stdio(roots: Sequence[str | os.PathLike[str]] | None = None) -> None:
    _WARM["on"] = True
    build_server(roots).run("stdio")


def serve_http(roots: Sequence[str | os.PathLike[str]] | None = None, port: int = 8765) -> None:
    """Streamable HTTP on 127.0.0.1 only, with the SDK's DNS-rebinding protection (Host/Origin checks)."""
    from mcp.server.transport_security import TransportSecuritySettings

    _WARM["on"] = True

    security = TransportSecuritySettings(
        enable_dns_rebinding_protection=True,
        allowed_hosts=["127.0.0.1:*", "localhost:*"],
        allowed_origins=["http://127.0.0.1:*", "http://localhost:*"],
    )
    build_server(roots).run("streamable-http", host="127.0.0.1", port=port, transport_security=security)

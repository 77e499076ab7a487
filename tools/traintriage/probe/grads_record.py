"""`traintriage grads`, child side (in the probe process): decompose the loss into its terms at sampled steps.

Called by the probe harness when its config carries a `grads` key. At a few sampled optimizer steps, right
before the real backward (the graph is still alive), `child_hook` takes the loss terms captured since the last
backward (every standard loss call, plus `traintriage.term(...)` markers) and runs
`gradients.decompose(loss, terms, params)`: d(loss)/d(term), ||d(term)/d(params)||, each term's effective
gradient per module, pairwise cosines. It writes one `grads` record per sampled step. `ablate_hook`
multiplies one named term by zero (question 3's "term off"). The parent side is probe/grads.py.

Term names: the loss function's name (`mse_loss`, `cross_entropy`, ...) or the marker's name; the k-th call
of the same name within one optimizer step is `name#k` (k >= 2). `--ablate` and `--metric` take these names.
"""

from __future__ import annotations

from typing import Any

from traintriage.probe.term_names import discover_terms

# Steps at which the gradient is decomposed: the start (the init operating point), the middle and the last
# step. Three points are enough to tell "always ~0" (saturated, structural) from "~0 once satisfied", and
# keep the cost at three extra backward passes per term (decompose runs 3 autograd.grad calls per term).
N_SAMPLES = 3
# Rows of d(metric)/d(param) kept in a record (largest first).
MAX_PARAM_ROWS = 40


def sample_steps(steps: int) -> list[int]:
    steps = max(1, int(steps))
    return sorted({0, steps // 2, steps - 1})[:N_SAMPLES]


def child_config(steps: int, *, ablate: str | None = None, metric: str | None = None,
                 decompose: bool = True, watch: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The `extra` config for probe.runner.run_child that switches the grads hooks on.

    triage can pass `child_config(steps)` to run_child/run_probe and then `grads_findings(raw["records"])`.
    """
    return {"grads": {"sample_steps": sample_steps(steps) if decompose else [], "ablate": ablate,
                      "metric": metric, "watch": watch or []}}


def _key(rec: Any, name: str, upto: int | None = None) -> str:
    """Unique name of the latest term called `name` this step: name, name#2, name#3, ..."""
    terms = rec.terms if upto is None else rec.terms[:upto]
    k = sum(1 for t in terms if t["name"] == name)
    return name if k <= 1 else f"{name}#{k}"


def ablate_hook(rec: Any, name: str, value: Any) -> Any:
    """Return `value` unchanged, or zeroed (graph kept, so backward still works) for the ablated term."""
    g = rec.cfg.get("grads") or {}
    target = g.get("ablate")
    if not target:
        return value
    import torch

    if not isinstance(value, torch.Tensor):
        return value
    if _key(rec, name) != target:
        return value
    st = _state(rec)
    if not st["ablated"]:
        st["ablated"] = True
        rec.emit("grads-ablated", term=target, step=rec.n_steps)
    return value * 0.0


def _state(rec: Any) -> dict[str, Any]:
    st = getattr(rec, "_grads_state", None)
    if st is None:
        st = {"done": set(), "mark": (None, 0), "ablated": False, "seconds": 0.0}
        rec._grads_state = st
    return st


def child_hook(rec: Any, tensors: Any) -> None:
    """Before the real backward: on a sampled step, decompose the loss into the terms seen since the last
    backward and emit one `grads` record. Never raises into the user's script."""
    import time

    import torch

    st = _state(rec)
    lst, start = st["mark"]
    if lst is not rec.terms:
        start = 0  # the recorder started a new step's term list
    st["mark"] = (rec.terms, len(rec.terms))
    g = rec.cfg.get("grads") or {}
    step = rec.n_steps
    tracer = st.get("tracer")
    try:
        if step not in (g.get("sample_steps") or []) or step in st["done"]:
            return
        loss = tensors[0] if isinstance(tensors, (list, tuple)) and tensors else tensors
        if not isinstance(loss, torch.Tensor) or loss.numel() != 1 or not loss.requires_grad:
            return
        st["done"].add(step)
        t0 = time.perf_counter()
        try:
            _decompose_step(rec, g, step, loss, start)
        except Exception as e:  # noqa: BLE001 - measurement must never break the user's run
            rec.emit("grads-error", step=step, error=f"{type(e).__name__}: {e}"[:500])
        st["mark"] = (rec.terms, len(rec.terms))  # terms named by the decomposition belong to this backward
        st["seconds"] += time.perf_counter() - t0
    finally:
        if tracer is not None:
            tracer.window_done()


def install(rec: Any) -> None:
    """Start the term tracer (probe/term_trace.py) before the script runs: it names the loss's terms, records
    a discovered term's value every step (`watch`, from the normal run) and zeroes it under --ablate."""
    from traintriage.probe.term_trace import TermTracer

    g = rec.cfg.get("grads") or {}
    tracer = TermTracer(rec, watch=g.get("watch") or [], ablate=g.get("ablate"))
    tracer.__enter__()
    _state(rec)["tracer"] = tracer


def _decompose_step(rec: Any, g: dict[str, Any], step: int, loss: Any, start: int) -> None:
    import torch

    from traintriage.gradients import decompose

    terms: dict[str, Any] = {}
    sources: dict[str, str] = {}
    skipped: list[str] = []
    targets: dict[str, float | None] = {}
    for i in range(start, len(rec.terms)):
        t = rec.terms[i]
        key = _key(rec, t["name"], upto=i + 1)
        tensor = t["tensor"]
        if not tensor.is_floating_point():
            continue
        if not tensor.requires_grad and t["source"] == "loss":
            skipped.append(key)  # a loss computed under no_grad (validation): not part of this backward
            continue
        terms[key] = tensor
        sources[key] = t["source"]
        if "target_const" in t:
            targets[key] = t["target_const"]
    st = _state(rec)
    found = discover_terms(loss, terms, st.get("tracer"))
    for key, tensor in found.new_terms.items():
        terms[key] = tensor
        sources[key] = "expr"
    if not terms:
        rec.emit("grads", step=step, terms=[], skipped=skipped, loss=float(loss.detach()),
                 transforms=found.transforms, unnamed=found.unnamed, detached=found.detached)
        return
    rec._refresh_tracked()
    named = [(rec.name(p), p) for p in rec.tracked if p.requires_grad]
    if not named:
        return
    connected: dict[str, bool] = {}
    for k, t in terms.items():
        if not t.requires_grad:
            connected[k] = False
            continue
        (d,) = torch.autograd.grad(loss, t, retain_graph=True, allow_unused=True)
        connected[k] = d is not None
    dec = decompose(loss, terms, named, partition=found.partition or None)
    rec_out: dict[str, Any] = {
        "step": step, "loss": float(loss.detach()), "decomposition": dec.model_dump(mode="json"),
        "sources": sources, "connected": connected, "skipped": skipped, "targets": targets,
        "exprs": found.exprs, "partition": found.partition, "transforms": found.transforms,
        "unnamed": found.unnamed, "complete": found.complete, "watch": found.watch, "detached": found.detached,
    }
    tracer = st.get("tracer")
    if tracer is not None and found.watch:
        known = {w["key"] for w in tracer.watch}
        tracer.set_watch([*[{**w, "core": list(w["core"] or []), "top": list(w["top"] or [])} for w in tracer.watch],
                          *[w for w in found.watch if w["key"] not in known]])
    for key, tensor in found.new_terms.items():  # this step's value: the tracer records later steps' itself
        if tensor.numel() == 1:
            rec.on_term(key, tensor, source="expr")
    metric = g.get("metric")
    if metric and metric in terms and terms[metric].requires_grad:
        rec_out["metric_param_grads"] = _param_grads(terms[metric], named)
    rec.emit("grads", **rec_out)


def _param_grads(metric: Any, named: list[tuple[str, Any]]) -> list[dict[str, Any]]:
    """||d(metric)/d(param)|| per trainable parameter (None: the parameter does not reach the metric)."""
    import torch

    ps = [p for _, p in named]
    grads = torch.autograd.grad(metric.sum(), ps, retain_graph=True, allow_unused=True)
    rows = [{"param": n, "norm": None if gr is None else float(gr.norm())} for (n, _), gr in zip(named, grads, strict=True)]
    rows.sort(key=lambda r: -1.0 if r["norm"] is None else -r["norm"])
    return rows[:MAX_PARAM_ROWS]


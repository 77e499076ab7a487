"""Turn the child's JSON-lines records into one evidence dict, and the evidence into a Report.

The evidence dict is what every detector reads (`detect(evidence) -> list[Finding]`), so it is plain
JSON: tests can build one by hand. Keys (all optional except mode/status):

    mode, status (stopped|finished|exit|crashed|timeout|cancelled|no-end), exit_code, crash,
    roots, optimizers, steps (primary optimizer), steps_all, losses, loss_calls, acts, inputs,
    backwards, params, schedulers, bn, evalfwd, loaders, manual, end, overfit, pinned, lossgrad
"""

from __future__ import annotations

import math
import re
from typing import Any

from traintriage.report import Finding, Report, Symptom

# Overfit-one-batch check (Karpathy, "A Recipe for Training Neural Networks", 2019: overfit a single
# batch and verify the loss can approach zero). In a few dozen steps a healthy script at its own LR
# should at least halve its loss on one replayed batch; a bug that blocks learning leaves it near 1.0.
OVERFIT_PASS_FRACTION = 0.5
# A slower script still passes when its loss fell by at least 10 % and is still falling at the end: the
# last quarter of the run contributes at least this share of the total drop (a plateau contributes ~0,
# a steady decline 25 %). Plateaus above zero (double softmax, a stuck head) fail; slow learners pass.
SLOW_MAX_RATIO = 0.9
STILL_FALLING_SHARE = 0.15
# Steps averaged at the end of the run to read the final loss (one noisy step must not decide).
FINAL_WINDOW = 3
# Most points kept per metric series in the report (compact; the first and last are always kept).
MAX_POINTS = 20


def _sample(xs: list[Any], n: int = MAX_POINTS) -> list[Any]:
    if len(xs) <= n:
        return list(xs)
    idx = sorted({round(i * (len(xs) - 1) / (n - 1)) for i in range(n)})
    return [xs[i] for i in idx]


def _r(x: Any, d: int = 5) -> Any:
    if isinstance(x, float):
        if not math.isfinite(x):
            return None
        return float(f"{x:.{d}g}")
    return x


def chance_loss(loss_calls: list[dict[str, Any]]) -> tuple[float | None, str | None]:
    """Loss of a uniform guess: ln C for C-class cross-entropy, ln 2 for binary cross-entropy, per element when
    the call takes the mean; N ln C when it sums N elements (reduction='sum', size_average=False); none when
    the call returns per-element losses (the script reduces them itself, chance is then unknown)."""
    for c in loss_calls:
        if c.get("fn") in ("cross_entropy", "nll_loss") and c.get("num_classes", 0) >= 2:
            per, expr = math.log(c["num_classes"]), f"ln({c['num_classes']})"
        elif c.get("fn") in ("binary_cross_entropy", "binary_cross_entropy_with_logits"):
            per, expr = math.log(2), "ln(2)"
        else:
            continue
        red = c.get("reduction", "mean")
        if red == "mean":
            return per, expr
        if red == "sum" and c.get("n_targets"):
            return per * c["n_targets"], f"{c['n_targets']}*{expr}"
        return None, None
    return None, None


def build_evidence(raw: dict[str, Any]) -> dict[str, Any]:
    recs = raw.get("records", [])
    by: dict[str, list[dict[str, Any]]] = {}
    for r in recs:
        by.setdefault(r.get("kind", "?"), []).append(r)
    end = by.get("end", [None])[-1]
    status = raw.get("status", "exited")
    if status == "exited":
        status = end["status"] if end else "no-end"
    steps_all = by.get("step", [])
    steps = [s for s in steps_all if s.get("opt") == 0]
    manual = by.get("manual", [None])[-1]
    losses = [s.get("loss") for s in steps]
    if not steps and manual:
        losses = list(manual.get("losses", []))
    loaders = (by.get("loaders") or [{}])[-1].get("loaders") or []
    if not loaders:  # killed before the end record: rebuild from the per-iter records
        last: dict[int, dict[str, Any]] = {}
        for r in by.get("loader", []):
            last[r["index"]] = r
        loaders = list(last.values())
    ev: dict[str, Any] = {
        "mode": raw.get("mode", "overfit"),
        "steps_requested": raw.get("steps"),
        "status": status,
        "exit_code": (end or {}).get("exit_code"),
        "crash": (end or {}).get("crash"),
        "end": end,
        "roots": by.get("root", []),
        "optimizers": by.get("optimizer", []),
        "steps": steps,
        "steps_all": steps_all,
        "losses": losses,
        "loss_calls": by.get("loss", []),
        "acts": by.get("act", []),
        "inputs": by.get("input", []),
        "backwards": by.get("backward", []),
        "params": (by.get("params") or [None])[-1],
        "schedulers": by.get("scheduler", []),
        "bn": (by.get("bn") or [None])[-1],
        "evalfwd": by.get("evalfwd", []),
        "loaders": loaders,
        "manual": manual,
        "harness_errors": by.get("harness-error", []),
        "lossgrad": by.get("lossgrad", []),
        "checks_off": ((by.get("checks") or [{}])[-1]).get("off") or [],  # turned off by only/skip
        # every record by kind: a new check reads its own record kind here without a line in this function
        "records": by,
    }
    ev["pinned"] = ev["mode"] == "overfit" and any(ld.get("batches", 0) > 0 for ld in loaders)
    ev["overfit"] = overfit_summary(ev)
    from traintriage.probe.ranks import merge

    merge(ev, raw)  # torchrun: ev["ranks"], and the run's crash is the rank that raised (probe/ranks.py)
    return ev


def overfit_summary(ev: dict[str, Any]) -> dict[str, Any] | None:
    losses = [x for x in ev.get("losses", []) if isinstance(x, (int, float))]
    if len(losses) < 2:
        return None
    initial = losses[0]
    tail = losses[-FINAL_WINDOW:]
    final = sum(tail) / len(tail)
    chance, chance_expr = chance_loss(ev.get("loss_calls", []))
    # Soft targets / label smoothing: the loss cannot go below the targets' entropy; measure the fall above it,
    # but only when that loss is the whole objective (its value is the value passed to backward()).
    floor = 0.0
    c0 = next((c for c in ev.get("loss_calls", []) if c.get("loss_floor") is not None), None)
    if c0 is not None and c0.get("value") is not None and abs(c0["value"] - initial) <= 1e-4 * max(1.0, abs(initial)):
        floor = min(c0["loss_floor"], min(losses))
    out: dict[str, Any] = {
        "initial": initial, "final": final, "min": min(losses), "steps": len(losses),
        "ratio": (final - floor) / (initial - floor) if initial - floor > 0 else None, "floor": floor or None,
        "threshold": OVERFIT_PASS_FRACTION,
        "chance": chance, "chance_expr": chance_expr,
        "init_over_chance": initial / chance if chance else None,
        "nonfinite": any(not math.isfinite(x) for x in losses) or len(losses) < len(ev.get("losses", [])),
    }
    if out["ratio"] is not None:
        out["passed"] = out["ratio"] <= OVERFIT_PASS_FRACTION and not out["nonfinite"]
        q = losses[(3 * len(losses)) // 4:]
        if not out["passed"] and not out["nonfinite"] and out["ratio"] <= SLOW_MAX_RATIO and len(q) >= 3:
            drop_total = initial - final
            drop_last = sum(q[:2]) / 2 - sum(q[-2:]) / 2
            out["last_quarter_share"] = drop_last / drop_total if drop_total > 0 else 0.0
            if out["last_quarter_share"] >= STILL_FALLING_SHARE:
                out["passed"], out["slow"] = True, True
    else:  # a loss that starts at or below zero: judge by the drop alone
        out["passed"] = final < initial - abs(initial) * OVERFIT_PASS_FRACTION
    if (ev.get("manual") or {}).get("inside_step") and not out["passed"]:
        # a closure optimizer's evaluations include its line search's trial points: they are not one update
        # each, and a run cut inside its first step(closure) has made few real iterations
        out["passed"], out["not_applicable"] = None, (
            "the backward passes are closure evaluations inside one step(closure) (line-search trial points, "
            "not updates)")
    n_games = separate_optimizers(ev)
    if n_games >= 2 and not out["passed"]:
        # several optimizers over disjoint parameter sets, each stepping: a GAN's generator and discriminator
        # (or an actor and a critic) play a game whose losses settle at an equilibrium (D at ln 2, Goodfellow et
        # al. 2014), not at 0; a loss that holds on one batch is no evidence that the script cannot learn
        out["passed"], out["not_applicable"] = None, (
            f"{n_games} optimizers over disjoint parameter sets step in turn (a game such as a GAN's, whose losses "
            "hold an equilibrium rather than fall)")
    return out


def separate_optimizers(ev: dict[str, Any]) -> int:
    """How many optimizers step over parameter sets no other optimizer holds (0 or 1: a single objective)."""
    opts = ev.get("optimizers") or []
    if len(opts) < 2:
        return 0
    stepped = {s.get("opt") for s in ev.get("steps_all") or []}
    names = [{n for g in o.get("groups", []) for n in g.get("names", [])} for o in opts if o.get("index") in stepped]
    if len(names) < 2 or any(not n for n in names):
        return 0
    seen: set[str] = set()
    for n in names:
        if n & seen:
            return 0
        seen |= n
    return len(names)


# ------------------------------------------------------------------ crashes -> catalogue ids
CRASH_PATTERNS: list[tuple[str, str]] = [
    (r"does not require grad and does not have a grad_fn", "loss-detached"),
    (r"optimizer got an empty parameter list", "no-trainable-params"),
    (r"Target -?\d+ is out of bounds", "ce-target-form"),
    (r"multi-target not supported", "ce-target-form"),
    (r"0D or 1D target tensor expected", "ce-target-form"),
    (r"Expected target size", "ce-target-form"),
    (r"expected scalar type Long but found", "ce-target-form"),
    (r"Expected floating point type for target with class probabilities", "ce-target-form"),
    (r"only batches of spatial targets supported", "ce-target-form"),
    (r"\"nll_loss.*\" not implemented for 'Float'", "ce-target-form"),
    (r"Using a target size .* that is different to the input size", "ce-target-form"),
    (r"all elements of input should be between 0 and 1", "sigmoid-bceloss"),
    (r"size mismatch for", "state-dict-shape-mismatch"),
    (r"Error\(s\) in loading state_dict", "state-dict-shape-mismatch"),
    (r"returned nan values", "non-finite-loss"),
]


def crash_findings(ev: dict[str, Any]) -> list[Finding]:
    crash = ev.get("crash")
    if not crash:
        return []
    msg = f"{crash.get('type')}: {crash.get('message', '')}"
    for pat, cid in CRASH_PATTERNS:
        if re.search(pat, msg):
            if cid == "loss-detached":
                roots = ev.get("roots", [])
                if roots and all(r.get("n_trainable", 0) == 0 for r in roots):
                    cid = "no-trainable-params"
            text = {
                "loss-detached": "backward() failed: the loss is not connected to any trainable parameter "
                                 "(detached, recreated from a Python number, or computed under no_grad).",
                "no-trainable-params": "nothing to train: every parameter has requires_grad=False.",
                "ce-target-form": "the loss rejected its targets: class indices vs one-hot / probabilities, "
                                  "dtype or shape do not match what the loss expects.",
                "state-dict-shape-mismatch": "a checkpoint's tensor shapes do not match the model's.",
                "sigmoid-bceloss": "BCELoss got values outside [0, 1]: it expects probabilities "
                                   "(use BCEWithLogitsLoss on logits).",
                "non-finite-loss": "autograd anomaly detection found NaN in the backward pass.",
            }[cid]
            return [Finding(id=cid, severity="error", confidence=0.9, source="crash",
                            message=f"The script crashed: {text}",
                            evidence={"exception": crash.get("type"), "error": crash.get("message", "")[:500],
                                      "line": crash.get("line")},
                            where=crash.get("where"))]
    return []


# ------------------------------------------------------------------ report
def metrics_for(ev: dict[str, Any]) -> dict[str, Any]:
    steps = ev.get("steps", [])
    m: dict[str, Any] = {}
    if not steps:
        if ev.get("losses"):
            m["loss"] = [_r(x) for x in _sample(ev["losses"])]
        return m
    idx = _sample(list(range(len(steps))))
    pick = [steps[i] for i in idx]
    m["step"] = [s["step"] for s in pick]
    m["loss"] = [_r(s.get("loss")) for s in pick]
    m["grad_norm"] = [_r(s.get("grad_norm")) for s in pick]  # before clipping, right after backward
    m["grad_norm_at_step"] = [_r(s.get("grad_norm_at_step")) for s in pick]  # what the optimizer saw
    m["update_norm"] = [_r(s.get("update_norm")) for s in pick]
    m["param_norm"] = [_r(s.get("param_norm")) for s in pick]
    m["rel_update"] = [_r(s.get("rel_update")) for s in pick]
    ng = len(steps[0].get("groups", []))
    m["lr"] = [[_r(s["groups"][g]["lr"]) if g < len(s.get("groups", [])) else None for s in pick] for g in range(ng)]
    m["rel_update_per_group"] = [
        [_r(s["groups"][g]["rel_update"]) if g < len(s.get("groups", [])) else None for s in pick] for g in range(ng)
    ]
    eff = []
    for g in range(ng):
        row = []
        for s in pick:
            gg = s["groups"][g] if g < len(s.get("groups", [])) else None
            gn = s.get("grad_norm_at_step")
            if gg and gg.get("lr") and gn:
                row.append(_r(gg["update"] / gn / gg["lr"]))  # ||Δθ|| / (lr·||g||): 1 for plain SGD
            else:
                row.append(None)
        eff.append(row)
    m["effective_lr_ratio"] = eff
    # per-module gradient norm (before clipping) on the first and last sampled steps
    per = [s for s in steps if s.get("params")]
    if per:
        for label, s in (("first", per[0]), ("last", per[-1])):
            mods: dict[str, float] = {}
            for p in s["params"]:
                if p.get("grad") is None:
                    continue
                mod = p["name"].rsplit(".", 1)[0] if "." in p["name"] else "(root)"
                mods[mod] = mods.get(mod, 0.0) + p["grad"] ** 2
            top = sorted(mods.items(), key=lambda kv: -kv[1])[:12]
            m[f"module_grad_norm_{label}"] = {k: _r(math.sqrt(v)) for k, v in top}
    if ev.get("overfit"):
        m["overfit"] = {k: _r(v) for k, v in ev["overfit"].items()}
    from traintriage.probe.module_series import module_series

    m.update(module_series(steps))  # per-module series for people (the HTML report's heatmaps)
    return m


def build_report(ev: dict[str, Any], raw: dict[str, Any], tool: str = "probe") -> Report:
    from traintriage.probe.detectors import run_detectors

    notes: list[str] = []
    status = ev["status"]
    findings = crash_findings(ev)
    det, det_notes = run_detectors(ev)
    findings += [f for f in det if f.id not in {c.id for c in findings}]
    notes += det_notes
    of = ev.get("overfit")
    if ev["mode"] == "overfit":
        if not ev.get("pinned") and ev.get("steps"):
            notes.append("no DataLoader batch was seen, so the batch could not be pinned: the script slices "
                         "its data itself; the loss curve is judged as observed, not as a one-batch overfit.")
        if of and of.get("not_applicable"):
            notes.append(f"overfit-one-batch not applicable: {of['not_applicable']}; loss {of['initial']:.4g} -> "
                         f"{of['final']:.4g} in {of['steps']} steps.")
        elif of:
            chance = f", chance {of['chance_expr']}={of['chance']:.4g} (init/chance {of['init_over_chance']:.2f})" \
                if of.get("chance") else ""
            # a ratio above the pass line is never called "passed": a slow but steady fall is "still falling"
            verdict_word = ("not passed yet (still falling steadily)" if of.get("slow") else "passed") \
                if of["passed"] else "FAILED"
            # without a pinned batch there was no one-batch overfit: a verdict word would contradict the verdict
            label = "overfit-one-batch " + verdict_word if ev.get("pinned") else \
                "loss as observed (no batch pinned, so no overfit verdict)"
            ratio = of['ratio'] if of['ratio'] is None else round(of['ratio'], 3)
            bar = f", pass <= {OVERFIT_PASS_FRACTION}" if ev.get("pinned") else ""
            notes.append(f"{label}: loss {of['initial']:.4g} -> {of['final']:.4g} in "
                         f"{of['steps']} steps (final/initial {ratio}{bar}){chance}")
    if (ev.get("manual") or {}).get("inside_step"):
        notes.append(f"the probe stopped inside {ev['manual']['inside_step']}.step(closure) after "
                     f"{ev['manual'].get('backward')} closure evaluations: a closure optimizer's evaluations are its "
                     "steps (the loss curve comes from them).")
    elif ev.get("manual"):
        notes.append("no optimizer.step() was seen: the script updates parameters by hand (or never); "
                     "the loss curve comes from backward() calls.")
    for h in ev.get("harness_errors", [])[:3]:
        notes.append(f"harness: {str(h.get('error'))[:300]}")
    symptoms: list[Symptom] = []
    overfit_passed: bool | None = None
    if of and ev["mode"] == "overfit" and ev.get("pinned"):
        overfit_passed = bool(of["passed"])
    elif of and ev["mode"] == "overfit":
        overfit_passed = bool(of["passed"]) if of["passed"] else None
    if of and not of.get("passed") and not of.get("not_applicable"):
        symptoms += _symptoms(of)
    if status == "crashed":
        verdict = "crashed"
        c = ev.get("crash") or {}
        on_rank = f" on rank {c['rank']}" if c.get("rank") is not None else ""
        notes.append(f"crashed{on_rank} at {c.get('where') or '?'}: {c.get('type')}: {str(c.get('message'))[:300]}")
    elif status == "timeout":
        verdict = "timeout"
        notes.append(f"the script did not reach {ev.get('steps_requested')} optimizer steps within "
                     f"{raw.get('timeout')} s; evidence below is what was measured before it was stopped "
                     f"({len(ev.get('steps', []))} steps).")
    elif status == "cancelled":
        verdict = "inconclusive"
        notes.append("cancelled: the child process was killed before the probe finished.")
    elif not ev.get("steps") and not ev.get("manual") and not ev.get("backwards"):
        verdict = "inconclusive" if not any(f.severity == "error" for f in findings) else "broken"
        code = ev.get("exit_code")
        notes.append("the script ended without a training step"
                     + (f" (sys.exit({code!r}))" if status == "exit" else f" (status {status})")
                     + "; nothing to measure.")
    else:
        from traintriage.report import verdict_for

        verdict = verdict_for(findings, overfit_passed)
        if verdict == "inconclusive":
            notes.append("inconclusive: the overfit-one-batch check failed but no check could name a cause; the "
                         "flat-loss symptom lists the candidates to test (refs/metric_stuck.md).")
        if status == "exit":
            notes.append(f"the script called sys.exit({ev.get('exit_code')!r}) after "
                         f"{len(ev.get('steps', []))} steps.")
        elif status == "finished" and len(ev.get("steps", [])) < (ev.get("steps_requested") or 0):
            notes.append(f"the script finished after {len(ev.get('steps', []))} optimizer steps, fewer than the "
                         f"{ev.get('steps_requested')} asked for.")
    from traintriage.probe.ranks import rank_metrics, rank_notes

    notes += rank_notes(ev)
    metrics = metrics_for(ev)
    if ev.get("ranks"):
        metrics["ranks"] = rank_metrics(ev)
    return Report(tool=tool, target=raw.get("script", ""), verdict=verdict, findings=findings, symptoms=symptoms,
                  metrics=metrics, notes=notes, stdout_tail=raw.get("stdout_tail", ""),
                  stderr_tail=raw.get("stderr_tail", ""), seconds=round(raw.get("seconds", 0.0), 3))


def _symptoms(of: dict[str, Any]) -> list[Symptom]:
    try:
        from traintriage.catalogue import load_symptoms

        known = load_symptoms()
    except Exception:  # noqa: BLE001 - no handbook: report no symptom rather than fail
        return []
    out = []
    ratio = of.get("ratio")
    if of.get("nonfinite") and "nan-loss" in known:
        out.append(Symptom(id="nan-loss", metric="loss", message="the loss became NaN/inf during the probe"))
    elif ratio is not None and ratio > 1.5 and "divergence" in known:
        out.append(Symptom(id="divergence", metric="loss", message=f"loss rose {ratio:.3g}x on one batch",
                           evidence={"initial": of["initial"], "final": of["final"]}))
    elif "flat-loss" in known:
        out.append(Symptom(id="flat-loss", metric="loss",
                           message=f"loss on one replayed batch went {of['initial']:.4g} -> {of['final']:.4g} "
                                   f"(ratio {ratio if ratio is None else round(ratio, 3)}); a healthy script "
                                   f"gets below {OVERFIT_PASS_FRACTION}x",
                           evidence={"initial": of["initial"], "final": of["final"], "ratio": ratio}))
    return out

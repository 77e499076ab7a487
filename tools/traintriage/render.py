"""Human-readable text of a Report (what `probe`, `triage` and `grads` print without --json).

Below the commands: commands/ and the grads command import it; it imports only the report's data.
"""

from __future__ import annotations

from typing import Any

from traintriage.errors import exit_code_for
from traintriage.report import VERDICT_MEANING, Report


def explain_command(fid: str) -> str:
    """The command that explains a finding or symptom: every text output ends an item with it."""
    return f"traintriage explain {fid}"


def verdict_line(verdict: str) -> str:
    """What the verdict means and the exit code it gives, in the words README.md and SKILL.md use."""
    return f"  ({VERDICT_MEANING.get(verdict, verdict)}; exit {exit_code_for(verdict)})"


def format_report(rep) -> str:  # noqa: ANN001
    lines = [f"{rep.tool}: {rep.target}", f"verdict: {rep.verdict}   ({rep.seconds:.1f} s)", verdict_line(rep.verdict)]
    if rep.findings:
        lines.append("")
        lines.append("findings (most likely first):")
        for f in rep.findings:
            lines.append(f"  [{f.severity}] {f.id}  (confidence {f.confidence:.2f}, {f.source})"
                         + (f"  at {f.where}" if f.where else ""))
            lines.append(f"      {f.message}")
            lines.append(f"      handbook: {f.ref}")
            lines.append(f"      explain: {explain_command(f.id)}")
    for s in rep.symptoms:
        lines.append(f"  symptom {s.id}: {s.message}  -> {', '.join(s.candidates[:4])}")
        lines.append(f"      explain: {explain_command(s.id)}")
    m = rep.metrics or {}
    if m.get("loss"):
        lines.append("")
        lines.append("loss: " + " ".join(f"{x:.4g}" if isinstance(x, (int, float)) else "nan" for x in m["loss"]))
    if rep.notes:
        lines.append("")
        lines += [f"note: {n}" for n in rep.notes]
    if rep.verdict == "crashed" and rep.stderr_tail:
        lines.append("")
        lines.append("stderr (tail):")
        lines += ["  " + x for x in rep.stderr_tail.strip().splitlines()[-15:]]
    return "\n".join(lines)


def _fmt(x: Any) -> str:
    return "n/a" if x is None else f"{x:.3g}" if isinstance(x, float) else str(x)


def format_grads(rep: Report) -> str:
    """Human-readable report: the per-term table at each sampled step, the rough map, the findings."""
    lines = [format_report(rep), ""]
    m = rep.metrics or {}
    label: dict[str, str] = {}
    if m.get("terms_found"):
        lines.append("terms of the loss (found in its autograd graph; --ablate takes the id, name or expression):")
        for t in m["terms_found"]:
            label[t["name"]] = t["id"]
            shown = t["name"] if t["name"] == t["expr"] else f"{t['name']} = {t['expr']}"
            lines.append(f"  {t['id']:<4} {shown}" + (f"   ({t['where']})" if t.get("where") else ""))
    for tr in m.get("transforms") or []:
        over = "the whole loss" if tr.get("whole_loss") else ", ".join(label.get(k, k) for k in tr["terms"]) or "?"
        lines.append(f"  outer transform {tr['op']} `{tr['expr']}`" + (f" ({tr['where']})" if tr.get("where") else "")
                     + f" over {over}: d {tr['op']}/d inner {_fmt(tr.get('slope'))}"
                     + (f" at inner value {_fmt(tr['inner_value'])}" if tr.get("inner_value") is not None else ""))
    for d in m.get("detached_terms") or []:
        lines.append(f"  detached term `{d['expr']}` ({d['where']}): added to the loss with no gradient "
                     f"(value {_fmt(d['value'])})")
    if label or m.get("transforms") or m.get("detached_terms"):
        lines.append("")
    for d in m.get("decomposition", []):
        lines.append(f"step {d['step']}: loss {_fmt(d['loss'])}  ||grad|| {_fmt(d['whole_norm'])}  "
                     f"sum-of-parts residual {_fmt(d['parts_residual'])}")
        lines.append(f"  {'term':<22}{'value':>11}{'dL/dterm':>11}{'|dterm/dθ|':>12}{'|grad via|':>12}")
        for t in d["terms"]:
            flag = "" if t["connected"] else "  (not in this loss)"
            lines.append(f"  {label.get(t['name'], t['name'])[:22]:<22}{_fmt(t['value']):>11}{_fmt(t['dloss_dterm']):>11}"
                         f"{_fmt(t['dterm_dparam_norm']):>12}{_fmt(t['effective_norm']):>12}{flag}")
        if d["cosines"]:
            lines.append("  cosines: " + ", ".join(
                f"{'|'.join(label.get(x, x) for x in k.split('|'))} {_fmt(v)}" for k, v in d["cosines"].items()))
    if m.get("rough_map"):
        lines.append("")
        lines.append("rough map (last sampled step):")
        for r in m["rough_map"]:
            off = {True: "yes", False: "no", None: "?"}[r["same_with_term_off"]]
            lines.append(f"  {label.get(r['term'], r['term'])[:22]:<22} d(loss)/d(term) {r['dloss_dterm']:<6} d(term)/d(params) "
                         f"{r['dterm_dparam']:<6} same with term off: {off:<4} -> {r['cause'] or 'optimized'}")
    if m.get("ablation"):
        a = m["ablation"]
        lines.append("")
        lines.append(f"ablation: {a['metric']} starts {_fmt(a['init'])}, ends {_fmt(a['on'])} with {a['term']} on, "
                     f"{_fmt(a['off'])} with it off")
    return "\n".join(lines)

"""`explain ID`, `catalogue`, `symptoms`: read the handbook from the terminal."""

from __future__ import annotations

import argparse
import textwrap

from traintriage import catalogue as cat
from traintriage.cli import UsageError, add_json, emit


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("explain", help="print a catalogue entry or symptom by id (or search by text)")
    p.add_argument("id", nargs="+", help="a cause or symptom id, e.g. double-softmax; or free text to search")
    add_json(p)
    p.set_defaults(func=run_explain)

    p = sub.add_parser("catalogue", help="list every cause in the catalogue")
    p.add_argument("--family", help="only this family (wiring, optimizer, loss, ...)")
    add_json(p)
    p.set_defaults(func=run_catalogue)

    p = sub.add_parser("symptoms", help="list the symptom vocabulary with ranked candidate causes")
    add_json(p)
    p.set_defaults(func=run_symptoms)


def _wrap(text: str, indent: str = "  ") -> str:
    """Refill Markdown paragraphs for a terminal; keep code blocks, lists and tables as they are."""
    out: list[str] = []
    para: list[str] = []
    in_code = False

    def flush() -> None:
        if para:
            out.append(textwrap.fill(" ".join(para), 100, initial_indent=indent, subsequent_indent=indent))
            para.clear()

    for line in text.split("\n"):
        if line.startswith("```"):
            flush()
            in_code = not in_code
            continue
        if in_code or line.lstrip().startswith(("- ", "* ", "|", "1.", "2.", "3.", "4.", "5.")) or not line.strip():
            flush()
            out.append(indent + line if line.strip() else "")
        else:
            para.append(line.strip())
    flush()
    return "\n".join(out)


def format_entry(e: cat.Entry) -> str:
    parts = [f"{e.id}  [{e.family}]", e.title, f"ref: {e.ref}", ""]
    for label, body in (("SYMPTOMS", e.symptoms), ("CAUSE", e.cause), ("CONFIRM", e.confirm), ("FIX", e.fix)):
        parts += [label, _wrap(body), ""]
    parts.append("SOURCES")
    parts += [f"  - {s.title}: {s.url}" for s in e.sources]
    return "\n".join(parts)


def format_symptom(s: cat.SymptomEntry) -> str:
    lines = [f"{s.id}  [symptom]", s.title, f"ref: {s.ref}", "", "LOOKS LIKE", _wrap(s.looks_like), ""]
    lines += ["DETECTED BY", _wrap(s.detected_by), "", "CANDIDATE CAUSES (most likely first)"]
    catalogue = cat.load_catalogue()
    for i, c in enumerate(s.candidates, 1):
        lines.append(f"  {i}. {c} — {catalogue[c].title if c in catalogue else '?'}")
    return "\n".join(lines)


def run_explain(args: argparse.Namespace) -> int:
    from traintriage.explain import explain_query

    res = explain_query(" ".join(args.id))  # the same lookup and JSON as the MCP tool `explain`
    if res.kind == "cause":
        text = format_entry(cat.resolve(res.cause.id))
    elif res.kind == "symptom":
        text = format_symptom(cat.load_symptoms()[res.symptom.id])
    else:
        text = f"no id '{res.query}'; closest entries by text:\n" + "\n".join(
            f"  {r.id:<28} {r.title}" for r in res.results
        )
    return emit(args, res, text)


def run_catalogue(args: argparse.Namespace) -> int:
    entries = [e for e in cat.load_catalogue().values() if not args.family or e.family == args.family]
    if args.family and not entries:
        families = sorted({e.family for e in cat.load_catalogue().values()})
        raise UsageError(f"unknown family '{args.family}'; families: {', '.join(families)}")
    payload = {
        "count": len(entries),
        "entries": [{"id": e.id, "family": e.family, "title": e.title, "ref": e.ref} for e in entries],
    }
    lines = [f"{len(entries)} causes"]
    fam = None
    for e in sorted(entries, key=lambda e: (e.family, e.id)):
        if e.family != fam:
            fam = e.family
            lines.append(f"\n[{fam}]")
        lines.append(f"  {e.id:<28} {e.title}")
    return emit(args, payload, "\n".join(lines))


def run_symptoms(args: argparse.Namespace) -> int:
    syms = cat.load_symptoms()
    payload = {
        "count": len(syms),
        "symptoms": [{"id": s.id, "title": s.title, "candidates": s.candidates, "ref": s.ref} for s in syms.values()],
    }
    lines = [f"{len(syms)} symptoms"]
    for s in syms.values():
        lines.append(f"  {s.id:<22} {s.title}\n  {'':<22} -> {', '.join(s.candidates)}")
    return emit(args, payload, "\n".join(lines))

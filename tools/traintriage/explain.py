"""`explain`: one lookup for the CLI and the MCP tool. A cause id (or alias) gives its entry, a symptom id its
symptom, anything else is free text searched over symptoms and causes together (issue 19: a description of a
curve is first of all a symptom, so "loss is flat and does not go down" must find `flat-loss`).

Above `catalogue` and `outputs` in the import order (both are below it), so there is no cycle.
"""

from __future__ import annotations

import re

from traintriage.catalogue import load_catalogue, load_symptoms, resolve, suggest
from traintriage.errors import UsageError
from traintriage.outputs import ExplainResult, SearchHit, cause_out, symptom_out

# Characters of a catalogue or symptom id: a query made only of these, with no space, is an id (mistyped or
# not), so it gets "did you mean" rather than a word search.
_ID_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789-")
_EVERY_ID = "every id: `traintriage catalogue`, or the MCP resource traintriage://catalogue"
# Words that say nothing about which failure it is (they appear in every entry's prose).
STOP = {"the", "and", "not", "does", "doesn", "with", "from", "that", "this", "for", "but", "are", "was", "its",
        "has", "have", "into", "after", "when", "then", "than", "very", "all", "any", "can", "will", "just",
        "model", "training", "train", "my", "our", "get", "gets", "got", "what", "why", "how", "still"}
# Synonyms people use for the words the symptom pages use: "flat" for a loss that "does not go down".
SYNONYMS = {"stuck": "flat", "plateau": "plateaus", "plateaued": "plateaus", "nan": "nan", "explodes": "diverges",
            "exploding": "diverges", "blows": "diverges", "diverging": "diverges", "spiky": "spikes",
            "spiking": "spikes", "oscillating": "oscillates", "overfitting": "overfits"}
# A negated movement ("does not go down", "isn't improving", "never decreases") describes a flat curve; the
# bare word "down" would instead match every page about a loss that does go down.
_NEGATED_MOVE = re.compile(r"\b(?:not|n't|never|no longer)\s+(?:\w+\s+){0,2}?(?:go(?:es|ing)?\s+)?"
                           r"(?:down|decreas\w*|improv\w*|mov\w*|learn\w*|chang\w*|fall\w*|drop\w*)\b")
LIMIT = 6


def _words(text: str) -> set[str]:
    text = _NEGATED_MOVE.sub(" flat ", text.lower().replace("n’t", "n't"))
    ws = {w for w in re.findall(r"[a-z0-9]+", text) if len(w) > 2 and w not in STOP}
    return ws | {SYNONYMS[w] for w in ws if w in SYNONYMS}


def _score(words: set[str], head: str, body: str) -> float:
    """Share of the query's words found; words in the id/title count double (they name the thing)."""
    h, b = _words(head), _words(body)
    return sum(2.0 if w in h else 1.0 if w in b else 0.0 for w in words) / (2.0 * len(words))


def search_all(text: str, limit: int = LIMIT) -> list[SearchHit]:
    """Symptoms and causes whose text best matches `text`; on equal score a symptom comes first."""
    words = _words(text)
    if not words:
        return []
    hits = []
    for s in load_symptoms().values():
        sc = _score(words, f"{s.id} {s.title}", s.looks_like)
        if sc > 0:
            hits.append((sc, 0, SearchHit(id=s.id, title=s.title, score=round(sc, 3), ref=s.ref, kind="symptom")))
    for e in load_catalogue().values():
        sc = _score(words, f"{e.id} {e.title}", f"{e.symptoms} {e.cause}")
        if sc > 0:
            hits.append((sc, 1, SearchHit(id=e.id, title=e.title, score=round(sc, 3), ref=e.ref, kind="cause")))
    hits.sort(key=lambda t: (-t[0], t[1]))
    return [h for _, _, h in hits[:limit]]


def explain_query(query: str) -> ExplainResult:
    """A cause id (or alias), a symptom id, or free text to search. Raises UsageError with suggestions."""
    q = query.strip()
    if not q:
        raise UsageError("empty query; pass a catalogue id such as 'double-softmax' or a symptom in words")
    e = resolve(q)
    if e is not None:
        return ExplainResult(kind="cause", cause=cause_out(e))
    syms = load_symptoms()
    if q in syms:
        return ExplainResult(kind="symptom", symptom=symptom_out(syms[q]))
    if set(q) <= _ID_CHARS and " " not in q:
        close = suggest(q)
        if close or "-" in q:
            hint = f"did you mean: {', '.join(close)}?" if close else f"{_EVERY_ID}."
            raise UsageError(f"unknown id '{q}'; {hint} Or describe the symptom in words to search.")
    hits = search_all(q)
    if not hits:
        raise UsageError(
            f"nothing in the catalogue matches '{q}'. Describe what the curve does (e.g. 'loss flat at ln(10) "
            f"from the first step'); {_EVERY_ID}."
        )
    return ExplainResult(kind="search", query=q, results=hits)

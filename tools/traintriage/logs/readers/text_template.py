"""The text reader's template: a line layout learned from one metric line (its text with the numbers cut
out, as a regex, and where each value sits among the whitespace tokens), so the lines that repeat it are
read without the full line parse. Bounded in width and length: compiling a regex costs grow with both.
"""

from __future__ import annotations

import bisect
import re

from traintriage.logs.readers.text_grammar import _NUM, IGNORE_KEYS, STEP_KEYS

_DIGITS = re.compile(rb"\d+")
# Widest line (metric pairs) learned as a template. A template is one regex with a group per pair, and
# compiling Python regexes grows faster than linearly in the groups (4,500 pairs: 9 s, issue 14's 144 KB
# single-line log took 72 s). Real metric lines carry tens of metrics; a wider line is still read, by the
# line parser (linear), it just never becomes the template.
MAX_TEMPLATE_PAIRS = 256
# Longest line learned as a template, for the same reason: compiling its literal text costs ~10 us a byte
# (a 600 KB line: 9 s). Metric lines are well under this.
MAX_TEMPLATE_BYTES = 4096


def _learnable(line: bytes, pairs: list) -> bool:
    return len(pairs) <= MAX_TEMPLATE_PAIRS and len(line) <= MAX_TEMPLATE_BYTES


class _Template:
    """A line layout learned from one metric line: literal text with the numbers replaced by groups, and
    where each value sits among the line's whitespace tokens (for the vectorized block path)."""

    def __init__(self, line: bytes, pairs: list[tuple[str, int, int, int, int]]) -> None:
        parts: list[bytes] = [b"^"]
        pos = 0
        self.keys: list[str] = []
        for key, ks, ke, vs, ve in pairs:
            # the key itself stays literal ("top1_acc" must not match "top5_acc"); other digit runs vary
            parts += [_literal(line[pos:ks]), re.escape(line[ks:ke]), _literal(line[ke:vs]), rb"(" + _NUM + rb")"]
            self.keys.append(key)
            pos = ve
        parts.append(_literal(line[pos:]))
        parts.append(rb"[ \t]*$")
        self.rx = re.compile(b"".join(parts))
        low = [k.lower() for k in self.keys]
        # the line parser keeps the last step key that converts ("iter 3 step 10": 10): so does the template
        self.step_idxs = [i for i, k in enumerate(low) if k in STEP_KEYS]
        self.step_idx = self.step_idxs[-1] if self.step_idxs else None
        self.metric_idx = [i for i, k in enumerate(low) if k not in STEP_KEYS and k not in IGNORE_KEYS]
        self._columnar(line, pairs)

    def _columnar(self, line: bytes, pairs: list[tuple[str, int, int, int, int]]) -> None:
        """Token layout, matching what the regex matches token by token: value tokens (index, literal prefix,
        literal suffix); tokens without digits (words, keys, '|') that must match exactly (check_tok); and
        tokens with digits outside a key (timestamps, counters) whose digit runs may vary, as in the regex:
        (index, text, elements), an element a literal byte or -1 for a digit run (pattern_tok). ntok = 0 when the
        layout cannot be used (a value not inside one token)."""
        self.ntok = 0
        spans = [(m.start(), m.end()) for m in re.finditer(rb"\S+", line)]
        self.val_tok: list[tuple[int, bytes, bytes]] = []
        starts = [a for a, _ in spans]
        for _, _, _, vs, ve in pairs:
            k = bisect.bisect_right(starts, vs) - 1  # the token starting at or before the value (one lookup)
            if k < 0 or ve > spans[k][1]:
                return
            self.val_tok.append((k, line[spans[k][0] : vs], line[ve : spans[k][1]]))
        used = {k for k, _, _ in self.val_tok}
        if len(used) != len(self.val_tok):
            return
        in_key = set()
        for _, ks, ke, _, _ in pairs:
            in_key.update(range(ks, ke))
        self.check_tok: list[tuple[int, bytes]] = []
        self.pattern_tok: list[tuple[int, bytes, list[int]]] = []
        for i, (a, b) in enumerate(spans):
            if i in used:
                continue
            elements: list[int] = []
            for j in range(a, b):
                c = line[j]
                if 48 <= c <= 57 and j not in in_key:  # a digit run outside a key, as _literal lets it vary
                    if not elements or elements[-1] != -1:
                        elements.append(-1)
                else:
                    elements.append(c)
            # (a literal digit right after a digit run - impossible for _PAIR keys - would make it ambiguous)
            ambiguous = any(x == -1 and 48 <= y <= 57 for x, y in zip(elements, elements[1:], strict=False))
            if -1 in elements and not ambiguous:
                self.pattern_tok.append((i, line[a:b], elements))
            else:
                self.check_tok.append((i, line[a:b]))
        self.ntok = len(spans)


def _literal(seg: bytes) -> bytes:
    """Escape a literal segment, letting digit runs vary (timestamps, counters, '/1000')."""
    out = []
    pos = 0
    for m in _DIGITS.finditer(seg):
        out.append(re.escape(seg[pos : m.start()]))
        out.append(rb"\d+")
        pos = m.end()
    out.append(re.escape(seg[pos:]))
    return b"".join(out)


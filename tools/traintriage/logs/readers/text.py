"""Plain-text training logs: whatever a training script prints.

Understood: `step 10 loss 0.31 lr 1e-3`, `step: 10, loss: 0.31`, `loss=0.3`, `iter 10: loss 3.2`,
the dict lines the HF Trainer prints (`{'loss': '1.553', 'learning_rate': '5e-05', 'epoch': '0.5'}`),
tqdm / Lightning progress bars (`Epoch 1:  45%|###  | 45/100 [00:02<00:03, loss=0.123]`, `\\r`-separated),
Keras progress lines (`- loss: 0.3 - accuracy: 0.9`). Non-UTF-8 bytes are tolerated (bytes are parsed).

Steps: an explicit step/iter/global_step key; else the tqdm counter (epoch * total + n); else the last
explicit step seen; else the index of the line among metric lines (noted in `skipped`).

Speed: the file is streamed in blocks (constant memory). The first metric line becomes a *template*
(its text with the numbers cut out, a regex). When a template has a step field and numpy is installed, a
whole block is split into whitespace tokens with numpy, the lines with the template's token layout are
checked token by token exactly as the regex would (words and keys literal, other digit runs free) and
their numbers converted column by column (a DFA over byte columns; rows it cannot convert exactly, such as
nan, go to float()), which is what makes 100+ MB logs cheap. Lines the template does not match are parsed
one by one. VECTORIZED = False reads every block line by line; both give the same result.
"""

from __future__ import annotations

import bisect
import re
from array import array
from pathlib import Path

from traintriage.logs.model import LogReadError, Run, RunBuilder, to_step
from traintriage.logs.readers._common import MAX_LINE_BYTES

FORMAT = "text"

# False: every block is parsed line by line (the reference behaviour the vectorized path must reproduce)
VECTORIZED = True
BLOCK = 8 << 20  # bytes read per block: big enough to amortize regex calls, small enough to stay in cache-ish
# (\d+(?:\.\d*)? rather than \d+\.?\d*: the same numbers, but a long digit run has one way to match, not n;
# the ambiguous form made a 150 KB run of digits backtrack quadratically)
_NUM = rb"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?|[-+]?(?:nan|NaN|NAN|inf|Inf|INF|Infinity|infinity)"
_NUM_FULL = re.compile(rb"(?:" + _NUM + rb")\Z")
_PAIR = re.compile(
    rb"(?<![\w./\-'\"])['\"]?([A-Za-z_][\w./\-]*)['\"]?\s*(?:[:=]\s*|\s+)(?:tensor\()?['\"]?(" + _NUM
    + rb")['\"]?(?=[\s,;:|})\]/]|$)"
)
_TQDM = re.compile(rb"\|\s*(\d+)/(\d+|\?)\s*\[")
_EPOCH_PREFIX = re.compile(rb"^\s*Epoch\s+(\d+)\b")
STEP_KEYS = {
    "step", "steps", "global_step", "globalstep", "iter", "iters", "iteration", "it", "update", "updates",
    "num_updates", "train_step", "trainer/global_step", "_step", "batch_idx",
}
# Numbers printed next to these words are bookkeeping, not metrics.
IGNORE_KEYS = {
    "v_num", "rank", "local_rank", "world_size", "pid", "seed", "version", "line", "gpu", "gpus", "cuda", "eta",
    "elapsed", "remaining", "worker", "workers", "port", "tip", "epochs", "total", "of", "size", "batch_size",
    "using", "dataloader", "available", "cores", "tpu", "hpu", "ipu", "nodes", "devices", "device",
}
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
# In prose ("queue depth 7 of 8") a word followed by a number is not a metric. Whitespace-separated pairs
# count only on lines that also have a step, a key=value / key: value pair, or a metric-like key name.
_METRIC_WORD = re.compile(r"loss|lr|learning_rate|acc|norm|ppl|perplexity|err|score|reward|f1|bleu|auc|mse|mae")


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


def sniff(path: Path) -> bool:
    return path.is_file()


def _looks_binary(head: bytes) -> bool:
    if not head:
        return False
    if b"\x00" in head:
        return True
    text = sum(1 for b in head if b >= 0x20 or b in (9, 10, 13))
    return text / len(head) < 0.85


class _State:
    def __init__(self, rb: RunBuilder) -> None:
        self.rb = rb
        self.record = 0  # index of metric lines
        self.last_step: int | None = None
        self.inferred = 0  # metric lines whose step came from line order
        self.template: _Template | None = None
        self.misses = 0
        self.hits = 0
        self.miss_line: tuple[bytes, list] | None = None
        self.keys: dict[bytes, str] = {}
        self.tqdm_lines = 0
        self.noise: set[bytes] = set()
        self.np = _numpy() if VECTORIZED else None

    def key(self, raw: bytes) -> str:
        k = self.keys.get(raw)
        if k is None:
            k = self.keys[raw] = raw.decode("utf-8", "replace")
        return k


def _numpy():
    try:
        import numpy
    except ImportError:  # no numpy: every line takes the line-by-line path (correct, slower)
        return None
    return numpy


_F_DIGIT = re.compile(r"f\d")  # the one metric word with a digit ('f1'): its line shape says nothing


def _parse(line: bytes, st: _State):
    """Parse one line: (step or None, [(key, value bytes)], tqdm?, pairs) for a metric line; None for a
    line without metrics whose shape (digits -> 0) may be cached as noise; False for one that may not."""
    pairs = []
    step = None
    epoch = None
    strong = False  # a step key, a key=value/key: value pair, or a metric-like name
    cacheable = True
    for m in _PAIR.finditer(line):
        key = st.key(m.group(1))
        low = key.lower()
        if low in IGNORE_KEYS:
            continue
        ks, ke = m.span(1)
        vs, ve = m.span(2)
        sep = line[ke:vs]
        if b":" in sep or b"=" in sep or _METRIC_WORD.search(low):
            strong = True
        if _F_DIGIT.search(low):
            cacheable = False
        if low in STEP_KEYS:
            strong = True
            v = to_step(m.group(2))
            if v is None:  # nan, inf, 1e999, beyond int64: a skipped value (the line keeps its other step)
                cacheable = False
                continue
            step = v
            pairs.append((key, ks, ke, vs, ve))
            continue
        if low == "epoch":
            epoch = m.group(2)
        pairs.append((key, ks, ke, vs, ve))
    if not strong:
        return None if cacheable else False
    metrics = [(p[0], p[3], p[4]) for p in pairs if p[0].lower() not in STEP_KEYS]
    if not metrics or all(k.lower() == "epoch" for k, _, _ in metrics):
        return None if cacheable else False
    tqdm = False
    if step is None:
        t = _TQDM.search(line)
        if t is not None:
            n = int(t.group(1))
            if n == 0:  # a bar reset for the next epoch: no step has completed, the postfix is stale
                return False
            tqdm = True
            e = _EPOCH_PREFIX.match(line)
            total = t.group(2)
            step = int(e.group(1)) * int(total) + n if e is not None and total != b"?" else n
            if epoch is not None:
                metrics = [p for p in metrics if p[0].lower() != "epoch"]
    return step, [(k, line[vs:ve]) for k, vs, ve in metrics], tqdm, pairs


def _resolve_step(step: int | None, st: _State) -> int:
    """The step of a metric line (sequential path): its own, else the last seen, else its index."""
    if step is None:
        if st.last_step is not None:
            step = st.last_step
        else:
            step = st.record
            st.inferred += 1
    else:
        st.last_step = step
    st.record += 1
    return step


def _emit(line: bytes, r: tuple, st: _State) -> None:
    """Record a parsed metric line (sequential path) and learn / relearn the template from it."""
    step, metrics, tqdm, pairs = r
    step = _resolve_step(step, st)
    series = st.rb.series
    for key, v in metrics:
        b = series(key)
        b.add(step, float(v))
        if tqdm:
            b.expect_repeats = True
    if tqdm:
        st.tqdm_lines += 1
        return  # progress-bar lines vary too much to make a useful template
    if not _learnable(line, pairs):
        return  # parsed, but too wide to learn as a template
    if st.template is None:
        st.template = _Template(line, pairs)
    else:
        st.miss_line = (line, pairs)


_DIGITS_TO_0 = bytes.maketrans(b"123456789", b"000000000")
MAX_NOISE_SHAPES = 20_000  # bound on remembered non-metric line shapes (memory stays constant)
# Lines with at least this many remaining (non-template) lines are split in one C call, else sliced one by one.
_SPLIT_ALL = 2_000


def _block(chunk: bytes, st: _State) -> None:
    if b"\r" in chunk:
        chunk = chunk.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    tpl = st.template
    if tpl is not None and tpl.step_idx is not None and tpl.ntok and st.np is not None:
        _fast(chunk, tpl, st)
    else:
        _sequential(chunk, st)
    # Relearn when most metric lines of the block missed the template.
    if st.misses > st.hits and st.miss_line is not None:
        line, pairs = st.miss_line
        st.template = _Template(line, pairs)
    st.misses = st.hits = 0
    st.miss_line = None


def _sequential(chunk: bytes, st: _State) -> None:
    """Line by line: template regex first, then the full parse; non-metric shapes are remembered."""
    tpl = st.template
    rx = tpl.rx if tpl is not None else None
    seen = st.noise
    pos = 0
    for line in chunk.split(b"\n"):
        pos += len(line) + 1
        if not line or line.isspace():
            continue
        if rx is not None and (m := rx.match(line)) is not None:
            _from_template(m.groups(), tpl, st)
            st.hits += 1
            continue
        shape = line.translate(_DIGITS_TO_0)
        if shape in seen:
            continue
        r = _parse(line, st)
        if not r:
            if r is None and len(seen) < MAX_NOISE_SHAPES:
                seen.add(shape)
            continue
        _emit(line, r, st)
        if rx is not None:
            st.misses += 1
        elif st.template is not None:
            tpl = st.template
            rx = tpl.rx
            if tpl.step_idx is not None and tpl.ntok and st.np is not None and pos < len(chunk):
                _fast(chunk[pos:], tpl, st)  # learned a step template: vectorized path for the rest
                return


def _from_template(groups: tuple, tpl: _Template, st: _State) -> None:
    step = None
    for i in reversed(tpl.step_idxs):
        step = to_step(groups[i])
        if step is not None:
            break
    step = _resolve_step(step, st)
    add = st.rb.add
    for i in tpl.metric_idx:
        add(tpl.keys[i], step, float(groups[i]))


# --- vectorized block path ---------------------------------------------------------------------------------

_MAX_NUM = 24  # longer number tokens are converted one by one
_TWO53 = 1 << 53
_NP: dict[str, object] = {}

# A DFA for the finite numbers of _NUM, [-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?, stepped on raw bytes; the
# bytes after a number are set to b" " (never inside a whitespace token), which ends it. nan / inf / anything
# else ends in _DEAD and is left to the one-by-one conversion.
_START, _SIGN, _INT, _DOT1, _DOT0, _FRAC, _EXP, _XSIGN, _XDIG, _DEAD, _OK = range(11)
_MOVES = {
    _START: {"d": _INT, ".": _DOT0, "+-": _SIGN},
    _SIGN: {"d": _INT, ".": _DOT0},
    _INT: {"d": _INT, ".": _DOT1, "eE": _EXP, " ": _OK},
    _DOT1: {"d": _FRAC, "eE": _EXP, " ": _OK},  # '1.' and '1.e5' are numbers
    _DOT0: {"d": _FRAC},
    _FRAC: {"d": _FRAC, "eE": _EXP, " ": _OK},
    _EXP: {"d": _XDIG, "+-": _XSIGN},
    _XSIGN: {"d": _XDIG},
    _XDIG: {"d": _XDIG, " ": _OK},
    _OK: {" ": _OK},
}


def _tables(np) -> dict:
    t = _NP
    if not t:
        tr = np.full((11, 256), _DEAD, np.uint16)
        for s, moves in _MOVES.items():
            for chars, to in moves.items():
                tr[s, list(range(48, 58)) if chars == "d" else list(chars.encode())] = to
        t["dfa"] = (tr * 256).ravel()  # states premultiplied by 256: state + byte indexes the table
        t["p10f"] = np.array([10.0**i for i in range(23)])  # exact doubles
    return t


def _numbers(np, buf, s, e):
    """Parse the decimal numbers buf[s:e] (one per row) in bulk.

    Returns (values, exact, ints, is_int): exact rows match _NUM's finite form and got the correctly rounded
    double of the text - mantissa < 2**53 and |exponent| <= 22 make m * 10**k (or m / 10**-k) a single
    rounding of exact operands, the same result float() gives; is_int rows are plain (signed) digit runs
    < 2**53 whose integer is `ints`. Other rows (nan, inf, very long or odd text) are left to the caller.
    The bytes are read column by column (byte j of every row at once) through a DFA, accumulating the
    mantissa and exponent digits (Horner), so the cost is a few array operations per byte position."""
    t = _tables(np)
    dfa = t["dfa"]
    n = len(s)
    L = e - s
    W = min(int(L.max()), _MAX_NUM) if n else 1
    cols = np.arange(W)
    M = buf[cols[:, None] + s[None, :]]  # W x n: byte j of every row is contiguous
    M[cols[:, None] >= L[None, :]] = 32
    state = np.zeros(n, np.uint16)
    m = np.zeros(n, np.int64)  # mantissa digits, as an integer
    nmd = np.zeros(n, np.uint8)
    nfrac = np.zeros(n, np.uint8)
    has_e = bool(((M | np.uint8(32)) == 101).any())
    if has_e:
        x = np.zeros(n, np.int64)
        nxd = np.zeros(n, np.uint8)
        xneg = np.zeros(n, bool)
    s_int, s_frac, s_xsign, s_xdig = _INT << 8, _FRAC << 8, _XSIGN << 8, _XDIG << 8
    for j in range(W):
        c = M[j]
        state += c
        state = dfa[state]
        fr = state == s_frac
        md = (state == s_int) | fr
        d = c - np.uint8(48)
        m *= md * np.uint8(9) + np.uint8(1)
        m += d * md
        nmd += md
        nfrac += fr
        if has_e:
            xd = state == s_xdig
            x *= xd * np.uint8(9) + np.uint8(1)
            x += d * xd
            nxd += xd
            xneg |= (state == s_xsign) & (c == 45)
    state += np.uint16(32)  # the end of a W-byte row
    ok = (dfa[state] == _OK << 8) & (L <= W) & (nmd <= 18) & (m < _TWO53)  # <= 18 digits: m did not wrap
    neg = M[0] == 45
    is_int = ok & (nmd + (neg | (M[0] == 43)) == L)
    ints = np.where(neg, -m, m)
    k = -nfrac.astype(np.int64)
    if has_e:
        ok &= nxd <= 4
        k += np.where(xneg, -x, x) * (nxd <= 4)  # (x may have wrapped where nxd > 4)
    ak = np.abs(k)
    exact = ok & (ak <= 22)
    p = t["p10f"][np.minimum(ak, 22)]
    mf = m.astype(np.float64)
    vals = np.where(k < 0, mf / p, mf * p)
    vals = np.where(neg, -vals, vals)
    return vals, exact, ints, is_int


def _pattern_dfa(np, elements: list[int]):
    """A DFA (table, accepting state) for one token pattern: literal bytes and digit runs (-1), stepped on
    the token's bytes followed by b" ". States are premultiplied by 256: state + byte indexes the table."""
    n = len(elements)
    dead, ok = n + 1, n + 2
    tr = np.full((n + 3, 256), dead, np.uint16 if n + 3 <= 256 else np.uint32)
    digits = list(range(48, 58))
    for i, el in enumerate(elements):
        tr[i, digits if el == -1 else el] = i + 1
        if el == -1:
            tr[i + 1, digits] = i + 1  # the run goes on
    tr[n, 32] = ok
    tr[ok, 32] = ok
    return (tr * 256).ravel(), ok * 256


def _pattern_dfa_ok(np, buf, s, e, dfa, cap: int):
    """Rows whose token buf[s:e] matches the pattern of `dfa` (longer than cap bytes: no)."""
    table, accept = dfa
    L = e - s
    W = min(int(L.max()), cap) if len(s) else 1
    cols = np.arange(W)
    M = buf[cols[:, None] + s[None, :]]  # W x n: byte j of every row is contiguous
    M[cols[:, None] >= L[None, :]] = 32
    state = np.zeros(len(s), table.dtype)
    for j in range(W):
        state += M[j]
        state = table[state]
    state += 32
    return (table[state] == accept) & (L <= W)


_SWAR_HI, _SWAR_30, _SWAR_LO, _SWAR_06, _SWAR_10 = (int(b * 8, 16) for b in ("F0", "30", "0F", "06", "10"))


class _Pattern:
    """A token whose digit runs may vary (a timestamp, a counter). Rows with the template token's length are
    checked position by position, 8 bytes per unaligned load: literal bytes equal, digit positions digits
    (SWAR: high nibble 3, low nibble + 6 without a carry into 0x10). The rest (other lengths, or digit runs
    laid out differently) go through the token's DFA, which is exactly the template regex's `_literal`."""

    def __init__(self, np, k: int, text: bytes, elements: list[int]) -> None:
        self.k, self.n = k, len(text)
        self.cap = len(text) + 32
        self.pieces = []
        for j in range(0, len(text), 8):
            lm = lv = dm = 0
            for q, c in enumerate(text[j : j + 8]):
                if 48 <= c <= 57:
                    dm |= 0xFF << 8 * q
                else:
                    lm |= 0xFF << 8 * q
                    lv |= c << 8 * q
            u = np.uint64
            self.pieces.append((j, u(lm), u(lv), u(dm), u(_SWAR_HI & dm), u(_SWAR_30 & dm), u(_SWAR_LO & dm),
                                u(_SWAR_06 & dm), u(_SWAR_10 & dm)))
        self.dfa = _pattern_dfa(np, elements)

    def match(self, np, buf, u64, s, e, ok):
        """ok &= rows whose token buf[s:e] matches."""
        pos = (e - s) == self.n
        for j, lm, lv, dm, hi, x30, lo, x06, x10 in self.pieces:
            g = u64[s + j] if j else u64[s]
            pos &= (g & lm) == lv
            if dm:
                pos &= (g & hi) == x30
                pos &= ((g & lo) + x06) & x10 == 0
        redo = np.flatnonzero(ok & ~pos)  # (rows with ok and pos stay ok)
        if len(redo):
            ok[redo] = _pattern_dfa_ok(np, buf, s[redo], e[redo], self.dfa, self.cap)


def _probes(tpl: _Template) -> list:
    """The template's literal bytes in pieces of up to 8: (token, from its end?, offset, bytes)."""
    pr = tpl.__dict__.get("_probes")
    if pr is None:
        parts = [(k, False, 0, text) for k, text in tpl.check_tok]
        for k, pre, suf in tpl.val_tok:
            parts += [(k, False, 0, pre), (k, True, -len(suf), suf)]
        pr = tpl._probes = [(k, at_end, off + j, text[j : j + 8]) for k, at_end, off, text in parts
                            for j in range(0, len(text), 8)]
    return pr


def _fast(chunk: bytes, tpl: _Template, st: _State) -> None:
    """A block of a log whose template has a step: every line with the template's token layout is cut
    into columns and converted with numpy; the other lines are parsed one by one (known non-metric shapes
    skipped) and merged back in line order."""
    np = st.np
    nb = len(chunk)
    if not chunk.endswith(b"\n"):
        chunk += b"\n"
        nb += 1
    probes = _probes(tpl)
    patterns = tpl.__dict__.get("_patterns")
    if patterns is None:
        patterns = tpl._patterns = [_Pattern(np, k, t, el) for k, t, el in tpl.pattern_tok]
    longest = max([len(t) for _, t in tpl.check_tok] + [len(p) + len(q) for _, p, q in tpl.val_tok]
                  + [p.cap for p in patterns] + [_MAX_NUM])
    padded = chunk + b"\0" * (longest + 16)  # gathers past a token's end (masked out) stay in the buffer
    buf = np.frombuffer(padded, np.uint8)
    u64 = np.ndarray((nb + longest + 8,), "<u8", padded, 0, (1,))  # u64[i]: the 8 bytes from i, unaligned
    body = buf[:nb]
    isws = (body == 32) | ((body - np.uint8(9)) < 5)  # exactly what bytes.split() splits on: b" \t\n\v\f\r"
    edge = np.empty(nb, bool)
    edge[0] = not isws[0]
    np.not_equal(isws[1:], isws[:-1], out=edge[1:])
    bounds = np.flatnonzero(edge)  # token i is bounds[2i]:bounds[2i+1]; the chunk ends with '\n', so it ends
    nl = np.flatnonzero(body == 10)
    lstart = np.concatenate((np.zeros(1, nl.dtype), nl[:-1] + 1))
    first = np.searchsorted(bounds, lstart)  # 2 x index of the line's first token (bounds before it come in pairs)
    cnt = np.diff(np.append(first, len(bounds)))  # 2 x tokens per line
    cand = np.flatnonzero(cnt == 2 * tpl.ntok)
    f = first[cand]
    tok_s, tok_e = {}, {}

    def tok_start(k):
        if k not in tok_s:
            tok_s[k] = bounds[f + 2 * k]
        return tok_s[k]

    def tok_end(k):
        if k not in tok_e:
            tok_e[k] = bounds[f + (2 * k + 1)]
        return tok_e[k]

    ok = np.ones(len(cand), bool)
    for k, text in tpl.check_tok:
        ok &= (tok_end(k) - tok_start(k)) == len(text)
    for k, at_end, off, text in probes:
        base = tok_end(k) if at_end else tok_start(k)
        if off < 0:  # a suffix of a too-short token may start before the buffer: clipped (that row fails below)
            base = np.maximum(base + off, 0)
        elif off:
            base = base + off
        if len(text) <= 3:  # short pieces byte by byte; longer ones as one unaligned 8-byte load
            for j, c in enumerate(text):
                ok &= (buf[base + j] if j else buf[base]) == c
        else:
            mask = (1 << 8 * len(text)) - 1
            ok &= (u64[base] & np.uint64(mask)) == np.uint64(int.from_bytes(text, "little"))
    for pat in patterns:  # timestamps and the like: literal bytes, digit runs that may vary
        pat.match(np, buf, u64, tok_start(pat.k), tok_end(pat.k), ok)
    spans = []
    for k, pre, suf in tpl.val_tok:
        s, e = tok_start(k) + len(pre), tok_end(k) - len(suf)
        ok &= e > s
        spans.append((s, e))
    sel = np.flatnonzero(ok)
    li = cand[sel]  # line index of each template row
    keep = np.ones(len(sel), bool)
    columns = {}
    for i in [tpl.step_idx, *tpl.metric_idx]:
        s, e = spans[i][0][sel], spans[i][1][sel]
        vals, exact, ints, is_int = _numbers(np, buf, s, e)
        is_step = i == tpl.step_idx
        col = ints if is_step else vals
        bad = np.flatnonzero(~(is_int if is_step else exact))
        if len(bad):  # nan / inf / long or odd numbers: converted one by one, as the line parser does
            col = col.copy()
            for r in bad.tolist():
                tok = chunk[int(s[r]) : int(e[r])]
                try:
                    if not _NUM_FULL.match(tok):
                        raise ValueError(tok)
                    if is_step:
                        v = to_step(tok)
                        if v is None:
                            raise ValueError(tok)
                        col[r] = v
                    else:
                        col[r] = float(tok)
                except (ValueError, OverflowError):
                    keep[r] = False  # not this template after all: the line parser takes it
        columns[i] = col
    if not keep.all():
        li = li[keep]
        columns = {i: c[keep] for i, c in columns.items()}
    steps = columns[tpl.step_idx] if len(li) else np.zeros(0, np.int64)

    # The other lines, in order: known non-metric shapes skipped, the rest parsed one by one.
    taken = np.zeros(len(nl), bool)
    taken[li] = True
    rest = np.flatnonzero(~taken & (cnt > 0)).tolist()
    extra: dict[str, tuple[list, list, list]] = {}
    repeats: set[str] = set()  # keys printed by progress bars
    last_i, last_step = -1, None  # the latest step-bearing line among the others
    n_other = 0
    if rest:
        seen = st.noise
        if len(rest) >= _SPLIT_ALL:
            line_of = chunk.split(b"\n").__getitem__
            shape_of = chunk.translate(_DIGITS_TO_0).split(b"\n").__getitem__
        else:
            ls, le = lstart.tolist(), nl.tolist()

            def line_of(i: int) -> bytes:
                return chunk[ls[i] : le[i]]

            def shape_of(i: int) -> bytes:
                return line_of(i).translate(_DIGITS_TO_0)

        if not seen.issuperset(map(shape_of, rest)):
            for i in rest:
                shape = shape_of(i)
                if shape in seen:
                    continue
                line = line_of(i)
                r = _parse(line, st)
                if not r:
                    if r is None and len(seen) < MAX_NOISE_SHAPES:
                        seen.add(shape)
                    continue
                step, metrics, tqdm, pairs = r
                if step is None:  # the step of the latest step-bearing line before this one
                    j = int(np.searchsorted(li, i)) - 1
                    if j >= 0 and li[j] > last_i:
                        step = int(steps[j])
                    elif last_step is not None:
                        step = last_step
                    elif st.last_step is not None:
                        step = st.last_step
                    else:
                        step = st.record + n_other
                        st.inferred += 1
                else:
                    last_i, last_step = i, step
                n_other += 1
                for key, v in metrics:
                    ent = extra.get(key)
                    if ent is None:
                        ent = extra[key] = ([], [], [])
                    ent[0].append(i)
                    ent[1].append(step)
                    ent[2].append(float(v))
                    if tqdm:
                        repeats.add(key)
                if tqdm:
                    st.tqdm_lines += 1
                elif _learnable(line, pairs):
                    st.miss_line = (line, pairs)
    st.record += len(li) + n_other
    st.hits += len(li)
    st.misses += n_other
    if len(li) and li[-1] > last_i:
        st.last_step = int(steps[-1])
    elif last_step is not None:
        st.last_step = last_step

    # Template columns, merged in line order with the same metrics from other lines. A key printed twice
    # on a line ("lr 1e-3 | lr 1e-4": two param groups) gets its values line by line, in line order.
    series = st.rb.series
    by_key: dict[str, list[int]] = {}
    for i in tpl.metric_idx:
        by_key.setdefault(tpl.keys[i], []).append(i)
    # new metrics are created in the order their first points appear, as line by line (series order, notes)
    new = [(ent[0][0], n, key) for n, (key, ent) in enumerate(extra.items()) if key not in st.rb.builders]
    if len(li):
        new += [(int(li[0]), n, key) for n, key in enumerate(by_key) if key not in st.rb.builders]
    for _, _, key in sorted(new):
        series(key)
    for key in repeats:
        series(key).expect_repeats = True
    for key, idx in by_key.items():
        if len(idx) == 1:
            kli, ksteps, vals = li, steps, columns[idx[0]] if len(li) else np.zeros(0)
        else:
            kli, ksteps = np.repeat(li, len(idx)), np.repeat(steps, len(idx))
            vals = np.stack([columns[i] for i in idx], axis=1).ravel() if len(li) else np.zeros(0)
        ent = extra.pop(key, None)
        if ent is not None:
            order = np.argsort(np.concatenate((kli, np.array(ent[0], np.int64))), kind="stable")
            _extend(series(key), np.concatenate((ksteps, np.array(ent[1], np.int64)))[order],
                    np.concatenate((vals, np.array(ent[2], np.float64)))[order])
        elif len(li):
            _extend(series(key), ksteps, vals)
    for key, (_, ss, vv) in extra.items():
        series(key).extend(ss, vv)


def _extend(b, steps, vals) -> None:
    b.extend(array("q", steps.astype("<i8", copy=False).tobytes()), array("d", vals.astype("<f8", copy=False).tobytes()))


def read(path: Path) -> Run:
    rb = RunBuilder(str(path), FORMAT)
    st = _State(rb)
    size = path.stat().st_size
    if size == 0:
        raise LogReadError(f"{path}: empty file")
    non_utf8 = 0
    with path.open("rb") as f:
        head = f.read(4096)
        if _looks_binary(head):
            raise LogReadError(
                f"{path}: looks like a binary file, not a text log. If it is a TensorBoard event file, W&B "
                "run file or MLflow sqlite database, pass --format tensorboard|wandb|mlflow"
            )
        f.seek(0)
        carry = b""
        lines_done = 0  # newlines before the current block (for the line number of a skipped line)
        overlong = False  # inside a line over MAX_LINE_BYTES: dropping bytes up to its end
        while True:
            data = f.read(BLOCK)
            if not data:
                break
            if overlong:
                nl = data.find(b"\n")
                if nl < 0:
                    continue
                data, overlong = data[nl + 1 :], False
                lines_done += 1
            data = carry + data
            cut = data.rfind(b"\n")
            if cut < 0:
                carry = data
                if len(carry) > MAX_LINE_BYTES:  # skipped and counted, never held whole
                    rb.skip_line(lines_done + 1, f"longer than {MAX_LINE_BYTES} bytes")
                    carry, overlong = b"", True
                continue
            chunk, carry = data[: cut + 1], data[cut + 1 :]
            lines_done += chunk.count(b"\n")
            if not chunk.isascii():
                try:
                    chunk.decode("utf-8")
                except UnicodeDecodeError:
                    non_utf8 += 1
            _block(chunk, st)
        if carry.strip():
            _block(carry + b"\n", st)
    if not rb.builders:
        if rb.first_skip is not None:
            raise rb.no_metrics(f"no metrics found in {size} bytes of text")
        raise LogReadError(
            f"{path}: no metrics found in {size} bytes of text. Expected lines like 'step 10 loss 0.31', "
            "'loss=0.3', or HF/tqdm/Lightning/Keras progress output; for other formats pass --format"
        )
    if non_utf8:
        rb.skipped.append(f"{non_utf8} block(s) contain non-UTF-8 bytes; read as bytes, metric names decoded with replacement")
    if st.tqdm_lines:
        rb.skipped.append(
            f"{st.tqdm_lines} progress-bar line(s): steps are epoch * batches + batch from the bar counter; "
            "a counter printed several times keeps its last value"
        )
    if st.inferred:
        rb.skipped.append(f"{st.inferred} metric line(s) had no step field: their steps are line indices among metric lines")
    rb.metadata["metric_lines"] = st.record
    return rb.finish()

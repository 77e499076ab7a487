"""The text reader's vectorized block path: a whole block split into whitespace tokens with numpy, the lines
with the template's token layout checked token by token exactly as the template regex would, and their numbers
converted column by column (a DFA over byte columns). The other lines go through the line grammar's _parse.
"""

from __future__ import annotations

from array import array
from typing import TYPE_CHECKING

from traintriage.logs.model import to_step
from traintriage.logs.readers import text_grammar
from traintriage.logs.readers.text_grammar import _DIGITS_TO_0, _NUM_FULL, _SPLIT_ALL, MAX_NOISE_SHAPES
from traintriage.logs.readers.text_template import _learnable, _Template

if TYPE_CHECKING:
    from traintriage.logs.readers.text import _State

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
                r = text_grammar._parse(line, st)
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


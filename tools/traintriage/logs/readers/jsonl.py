"""JSON-lines logs (one object per line, e.g. `{"step": 10, "loss": 0.31}`), and a JSON array of such
objects. Nested objects are flattened with '/'. Values may be numbers or numeric strings ('NaN', '1e-3').
A line that is not a JSON object, nests deeper than MAX_JSON_DEPTH, is longer than MAX_LINE_BYTES or has a
step outside int64 (1e999, 99999999999999999999) is skipped and counted (Run.skipped_lines, first_skip),
never fatal unless nothing is readable.

Speed: the file is read in blocks. The first record whose every number can vary becomes a *template*: its
text cut at the JSON separators (',', ':', '}', line end), the tokens that are numbers (checked one by one:
putting another number in that token changes exactly that metric) and the literal tokens around them. A
block's lines with the template's separators and literal tokens are the template with other numbers (numpy
finds the separators and compares the literal tokens in place); their number tokens are parsed where they lie
in the block (readers/_numbers.py: JSON's grammar checked, json.loads' value bit for bit), so a record costs no
dict, no bytes object and no Python number. A token the bulk parse cannot prove goes through json.loads alone,
and a line with one that is not a JSON number is read one by one, as are the other lines. VECTORIZED = False reads every line
one by one; both give the same Run (tests/test_logs_bulk.py).
"""

from __future__ import annotations

import json
from array import array
from pathlib import Path

from traintriage.logs.model import Run, RunBuilder, to_float, to_step
from traintriage.logs.readers import _numbers
from traintriage.logs.readers._common import (
    MAX_LINE_BYTES,
    STEP_COLUMNS,
    WALL_COLUMNS,
    flatten,
    is_regular,
    lines,
    loads,
    numpy_or_none,
    pick,
    wall_seconds,
)

FORMAT = "jsonl"
# False: every line is read one by one (the reference behaviour the block path must reproduce).
VECTORIZED = True
BLOCK = 2 << 20  # bytes per block: numpy's per-block work amortized, the block's token offsets a few tens of MB
# Longest line learned as a template (learning loads it once per token).
MAX_TEMPLATE_BYTES = 4096
_SEPS = b",:}\n"
_TO_COMMA = bytes.maketrans(b":}\n", b",,,")
# What a token holding only a JSON number may contain (its JSON whitespace included); anything else (NaN,
# strings, true, brackets) sends the line to the one-by-one path.
_NUMBER_BYTES = b"0123456789+-.eE \t\r,"
_SENTINEL = 8.5e-301  # the number put in a token to see which metric it is (no writer logs it)


def sniff(path: Path) -> bool:
    if not is_regular(path):
        return False
    if path.suffix.lower() in (".jsonl", ".ndjson"):
        return True
    try:
        with path.open("rb") as f:
            for _, line in lines(f):
                if line is None:
                    return False
                if line.strip():
                    obj = loads(line)
                    return isinstance(obj, dict) and "log_history" not in obj
    except (OSError, ValueError):
        return False
    return False


def read(path: Path) -> Run:
    rb = RunBuilder(str(path), FORMAT)
    st = _State(rb)
    with path.open("rb") as f:
        np = numpy_or_none() if VECTORIZED else None
        if np is None:
            for lineno, line in lines(f, MAX_LINE_BYTES):
                _line(lineno, line, st)
        else:
            for lineno, chunk, ended in _blocks(f):
                if chunk is None:
                    rb.skip_line(lineno, f"longer than {MAX_LINE_BYTES} bytes")
                else:
                    _block(chunk, lineno, ended, st, np)
    if not rb.builders:
        raise rb.no_metrics("no JSON object lines with numeric values")
    return rb.finish()


class _State:
    def __init__(self, rb: RunBuilder) -> None:
        self.rb = rb
        self.idx = 0  # records read (the step of a record without one)
        self.template: _Template | None = None
        self.learn_from: bytes | None = None  # the first record read one by one since the last look


def _line(lineno: int, line: bytes | None, st: _State) -> bool:
    """Read one line (None: over MAX_LINE_BYTES); whether it was a record."""
    rb = st.rb
    if line is None:
        rb.skip_line(lineno, f"longer than {MAX_LINE_BYTES} bytes")
        return False
    if not line.strip():
        return False
    try:
        obj = loads(line)
    except ValueError as e:  # bad JSON, bad UTF-8, too deep, an int over Python's digit limit
        rb.skip_line(lineno, f"not JSON ({_short(e)})")
        return False
    if isinstance(obj, list) and lineno == 1:  # a JSON array of records on one line
        for n, rec in enumerate(obj, 1):
            if not isinstance(rec, dict) or (why := _record(rec, st.idx, rb)):
                rb.skip_line(lineno, f"array item {n}: {why or 'not an object'}")
                continue
            st.idx += 1
        return False
    if not isinstance(obj, dict):
        rb.skip_line(lineno, f"a JSON {type(obj).__name__}, not an object")
        return False
    why = _record(obj, st.idx, rb)
    if why:
        rb.skip_line(lineno, why)
        return False
    st.idx += 1
    if st.learn_from is None:
        st.learn_from = line
    return True


def _short(e: Exception) -> str:
    return str(e)[:80]


def _record(obj: dict, idx: int, rb: RunBuilder) -> str | None:
    """Add one record's metrics; the reason it was skipped, or None."""
    flat = flatten(obj)
    keys = list(flat)
    sk = pick(keys, STEP_COLUMNS)
    wk = pick(keys, WALL_COLUMNS)
    step = idx  # no step, or a step that is not a number (null, 'n/a', NaN): the record's index
    if sk is not None:
        v = flat[sk]
        sv = None if isinstance(v, bool) else v if isinstance(v, int) else to_float(v)
        if sv is not None and sv == sv:
            step = to_step(sv)
            if step is None:  # a number, but not an int64 one (1e999, 99999999999999999999)
                return f"step {str(flat[sk])[:40]!r} is outside the int64 range"
    wall = wall_seconds(flat.get(wk)) if wk else None
    for k, v in flat.items():
        if k in (sk, wk):
            continue
        x = to_float(v)
        if x is not None and not isinstance(v, bool):
            rb.add(k, step, x, wall)
    return None


# --- the block path ------------------------------------------------------------------------------------------


def _blocks(f):  # noqa: ANN001, ANN202 - a binary file; a generator
    """(number of the first line, whole lines ending in b"\\n", whether the last one ended so in the file) per
    block; (line number, None, True) for a line over MAX_LINE_BYTES that did not fit a block (read through)."""
    cap = MAX_LINE_BYTES
    n, carry, skipping = 1, b"", False
    while data := f.read(BLOCK):
        if skipping:
            nl = data.find(b"\n")
            if nl < 0:
                continue
            data, skipping = data[nl + 1 :], False
        buf = carry + data
        cut = buf.rfind(b"\n")
        chunk, carry = buf[: cut + 1], buf[cut + 1 :]
        if chunk:
            yield n, chunk, True
            n += chunk.count(b"\n")
        if len(carry) > cap:
            yield n, None, True
            n, carry, skipping = n + 1, b"", True
    if carry:
        yield n, carry + b"\n", False


class _Template:
    """A record layout: the separators of its line, its tokens, and which tokens are which numbers."""

    def __init__(self, seps: bytes, tokens: list[bytes], slots: dict[int, str], keys: list[str]) -> None:
        self.seps = seps
        self.tokens = tokens
        self.literal = [k for k in range(len(tokens)) if k not in slots]
        self.step_key = pick(keys, STEP_COLUMNS)
        self.wall_key = pick(keys, WALL_COLUMNS)
        self.slot = {key: k for k, key in slots.items()}
        self.metrics = [k for k in keys if k in self.slot and k not in (self.step_key, self.wall_key)]


def _learn(line: bytes) -> _Template | None:
    """The template of a record's line, or None when the bulk path cannot read it exactly: its step or wall
    time is not a number token, or it has a metric that is not one (a numeric string is a metric too)."""
    line = line.rstrip(b"\n")
    if len(line) > MAX_TEMPLATE_BYTES or b"\n" in line:
        return None
    full = line + b"\n"
    seps = bytes(c for c in full if c in _SEPS)
    tokens = full.translate(_TO_COMMA).split(b",")[:-1]
    flat = flatten(loads(line))
    keys = list(flat)
    slots: dict[int, str] = {}
    for k, tok in enumerate(tokens):
        if not tok.strip(b" \t\r") or tok.translate(None, _NUMBER_BYTES):
            continue
        other = b"".join(t + bytes([c]) for t, c in zip(tokens[:k] + [repr(_SENTINEL).encode()] + tokens[k + 1 :],
                                                         seps, strict=True))
        try:
            changed = flatten(loads(other))
        except (ValueError, RecursionError):
            continue
        if list(changed) != keys:
            continue
        diff = [key for key in keys if not _same(changed[key], flat[key])]
        if len(diff) == 1 and changed[diff[0]] == _SENTINEL and type(flat[diff[0]]) in (int, float):
            slots[k] = diff[0]
    tpl = _Template(seps, tokens, slots, keys)
    for key in (tpl.step_key, tpl.wall_key):
        if key is not None and key not in tpl.slot:
            return None
    for key, v in flat.items():
        if key not in tpl.slot and key not in (tpl.step_key, tpl.wall_key) and not isinstance(v, bool) \
                and to_float(v) is not None:
            return None
    return tpl if tpl.metrics else None


def _same(a, b) -> bool:  # noqa: ANN001 - JSON values
    return type(a) is type(b) and a == b


def _block(chunk: bytes, lineno: int, ended: bool, st: _State, np, learn: int = 3) -> None:  # noqa: ANN001
    """Read one block of whole lines: the template's lines in bulk, the others one by one, in line order. With
    no template, or one most lines miss, the lines are read one by one up to the first record, which becomes
    the template for the rest of the block (`learn` times per block at most: a first record unlike the rest,
    such as a watch file's first line, is passed over)."""
    tpl = st.template
    b = np.frombuffer(chunk, np.uint8)
    sep = np.flatnonzero((b == 44) | (b == 58) | (b == 125) | (b == 10))  # _SEPS
    sb = b[sep]
    nl_at = np.flatnonzero(sb == 10)  # the separators that end lines
    n = nl_at.size
    cap = MAX_LINE_BYTES
    offsets: list[int] = []  # where each line starts, and the block's end (made when a line is read alone)

    def one(i: int) -> bool:
        if not offsets:
            offsets.extend([0, *(sep[nl_at] + 1).tolist()])
        line = chunk[offsets[i] : offsets[i + 1] - 1]
        last = i == n - 1 and not ended
        return _line(lineno + i, line if len(line) + (not last) <= cap else None, st)

    rows, first = _match(tpl, sb, nl_at, np) if tpl is not None else (np.zeros(0, np.int64), None)
    cols = _columns(chunk, sep, rows, first, tpl, np) if len(rows) else None
    rows = cols[0] if cols is not None else rows
    if learn and 2 * len(rows) < n:
        st.learn_from = None
        for i in range(n):
            one(i)
            if st.learn_from is not None:
                st.template = _learn(st.learn_from) or tpl
                if i + 1 < n and st.template is not None:
                    _block(chunk[offsets[i + 1] :], lineno + i + 1, ended, st, np, learn - 1)
                    return
                for j in range(i + 1, n):
                    one(j)
                return
        return
    pos = 0
    if len(rows):
        bounds = (np.flatnonzero(np.diff(rows) != 1) + 1).tolist()
        for a, b in zip([0, *bounds], [*bounds, len(rows)], strict=True):
            for i in range(pos, int(rows[a])):  # the lines before this run of template lines
                one(i)
            _emit(cols, a, b, tpl, st, np)
            pos = int(rows[b - 1]) + 1
    for i in range(pos, n):
        one(i)


def _match(tpl: _Template, sb, nl_at, np):  # noqa: ANN001, ANN202 - numpy arrays
    """(lines with the template's separators, the index of each one's first separator) from the block's
    separator bytes and the indices of its line ends among them."""
    per_line = np.diff(nl_at, prepend=-1)
    first = nl_at + 1 - per_line  # the index of each line's first separator (= separators before the line)
    S = len(tpl.seps)
    cand = np.flatnonzero(per_line == S)
    if len(cand):
        want = np.frombuffer(tpl.seps, np.uint8)
        ok = (sb[first[cand][:, None] + np.arange(S)] == want).all(axis=1)
        cand = cand[ok]
    return cand, first[cand]


def _columns(chunk: bytes, sep, rows, first, tpl: _Template, np):  # noqa: ANN001, ANN202
    """(template rows, step, wall, present, metric columns) of the rows whose literal tokens match and whose
    number tokens are JSON numbers that read exactly as the one-by-one path reads them. Token k of a row lies
    between its separators k - 1 and k; its bytes are compared and its number parsed in place (_numbers)."""
    m = len(rows)
    edge = np.concatenate(([-1], sep))  # edge[j + 1] = sep[j]; edge[0]: before the block

    def bounds(k: int):  # noqa: ANN202
        return edge[first + k] + 1, edge[first + k + 1]

    keep = np.ones(m, bool)
    for k in tpl.literal:
        want = tpl.tokens[k]
        s, e = bounds(k)
        keep &= e - s == len(want)
        if want:
            if len(want) > len(chunk):
                keep[:] = False
                break
            win = np.ndarray((len(chunk) - len(want) + 1,), f"S{len(want)}", buffer=chunk, strides=(1,))
            keep &= win[np.minimum(s, len(chunk) - len(want))] == want  # (no template token ends in NUL)
    keys = [key for key in (tpl.step_key, tpl.wall_key) if key is not None] + tpl.metrics
    spans = [bounds(tpl.slot[key]) for key in keys]
    starts = np.concatenate([s for s, _ in spans])
    ends = np.concatenate([e for _, e in spans])
    buf = _numbers.pad(np, chunk)
    at = starts + _numbers.PAD
    at += (buf[at] == 32) & (at < ends + _numbers.PAD)  # the space json.dumps puts after ':' (JSON whitespace)
    p = _numbers.parse(np, buf, at, ends + _numbers.PAD, json=True)
    vals = p.value.reshape(len(keys), m)
    slow = ~p.ok.reshape(len(keys), m)
    step = None
    if tpl.step_key is not None:
        step = p.int_value[:m]
        slow[0] |= ~p.int_ok[:m]
    for i in np.flatnonzero(slow & keep).tolist():  # tokens the bulk parse left: read as the line would be
        c, r = divmod(i, m)
        v = _number(chunk[starts[i] : ends[i]])
        if c == 0 and step is not None:
            s = to_step(v) if v is not None else None
            keep[r] &= s is not None
            step[r] = s or 0
            continue
        try:
            vals[c, r] = float(v) if v is not None else 0.0
            keep[r] &= v is not None
        except OverflowError:  # an int too large for a float: the line one by one
            keep[r] = False
    c = int(step is not None)
    wall = present = None
    if tpl.wall_key is not None:
        w = vals[c]
        w = np.where(w > 1e11, w / 1000.0, w)
        present = np.isfinite(w) & (w > 1e8)
        wall = np.where(present, w, np.nan)
        c += 1
    metrics = list(vals[c:])
    sel = np.flatnonzero(keep)
    if len(sel) == len(rows):
        return rows, step, wall, present, metrics
    pick_ = (lambda a: a[sel] if a is not None else None)  # noqa: E731
    return rows[sel], pick_(step), pick_(wall), pick_(present), [m[sel] for m in metrics]


def _number(tok: bytes) -> int | float | None:
    """json.loads of one number token, or None when it is not a JSON number."""
    if tok.translate(None, _NUMBER_BYTES):
        return None
    try:
        return json.loads(tok)
    except ValueError:
        return None


def _emit(cols, a: int, b: int, tpl: _Template, st: _State, np) -> None:  # noqa: ANN001
    """Add template rows a:b (consecutive lines) to the series."""
    _, step, wall, present, metrics = cols
    if step is None:
        steps = np.arange(st.idx, st.idx + (b - a), dtype=np.int64)
    else:
        steps = step[a:b]
    st.idx += b - a
    steps = array("q", steps.tobytes())
    w = array("d", wall[a:b].tobytes()) if wall is not None and present[a:b].any() else None
    for key, col in zip(tpl.metrics, metrics, strict=True):
        st.rb.series(key).extend(steps, array("d", col[a:b].tobytes()), w)

"""Plain-text training logs: whatever a training script prints.

Understood: `step 10 loss 0.31 lr 1e-3`, `step: 10, loss: 0.31`, `loss=0.3`, `iter 10: loss 3.2`,
the dict lines the HF Trainer prints (`{'loss': '1.553', 'learning_rate': '5e-05', 'epoch': '0.5'}`),
tqdm / Lightning progress bars (`Epoch 1:  45%|###  | 45/100 [00:02<00:03, loss=0.123]`, `\\r`-separated),
Keras progress lines (`- loss: 0.3 - accuracy: 0.9`). Non-UTF-8 bytes are tolerated (bytes are parsed).

Steps: an explicit step/iter/global_step key; else the tqdm counter (epoch * total + n); else the last
explicit step seen; else the index of the line among metric lines (noted in `skipped`).

Speed: the file is streamed in blocks (constant memory). The first metric line becomes a *template*
(its text with the numbers cut out); when a template has a step field, a whole block is matched with one
regex call and the numbers converted column by column, which is what makes 100+ MB logs cheap. Lines the
template does not match are parsed one by one.
"""

from __future__ import annotations

import re
from array import array
from pathlib import Path

from traintriage.logs.model import LogReadError, Run, RunBuilder

FORMAT = "text"

BLOCK = 8 << 20  # bytes read per block: big enough to amortize regex calls, small enough to stay in cache-ish
_NUM = rb"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|[-+]?(?:nan|NaN|NAN|inf|Inf|INF|Infinity|infinity)"
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
        self.step_idx = next((i for i, k in enumerate(low) if k in STEP_KEYS), None)
        self.metric_idx = [i for i, k in enumerate(low) if k not in STEP_KEYS and k not in IGNORE_KEYS]
        self._columnar(line, pairs)

    def _columnar(self, line: bytes, pairs: list[tuple[str, int, int, int, int]]) -> None:
        """Token layout: value tokens (index, literal prefix, literal suffix) and the tokens that must match
        exactly (any token with a letter - keys, words - or without digits); digit-only tokens (timestamps,
        counters) may vary. ntok = 0 when the layout cannot be used (a value not inside one token)."""
        self.ntok = 0
        spans = [(m.start(), m.end()) for m in re.finditer(rb"\S+", line)]
        self.val_tok: list[tuple[int, bytes, bytes]] = []
        for _, _, _, vs, ve in pairs:
            k = next((i for i, (a, b) in enumerate(spans) if a <= vs and ve <= b), None)
            if k is None:
                return
            self.val_tok.append((k, line[spans[k][0] : vs], line[ve : spans[k][1]]))
        used = {k for k, _, _ in self.val_tok}
        if len(used) != len(self.val_tok):
            return
        self.check_tok = []
        for i, (a, b) in enumerate(spans):
            t = line[a:b]
            if i not in used and (any(c >= 128 or chr(c).isalpha() for c in t) or not any(48 <= c <= 57 for c in t)):
                self.check_tok.append((i, t))
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
        self.np = _numpy()

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
            try:
                step = int(float(m.group(2)))
            except (ValueError, OverflowError):
                cacheable = False
                continue
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
    if tpl.step_idx is not None:
        try:
            step = int(float(groups[tpl.step_idx]))
        except (ValueError, OverflowError):
            step = None
    else:
        step = None
    step = _resolve_step(step, st)
    add = st.rb.add
    for i in tpl.metric_idx:
        add(tpl.keys[i], step, float(groups[i]))


# --- vectorized block path ---------------------------------------------------------------------------------

_PAD = b"\0" * 64  # so gathers past a token's end (masked out) never leave the buffer
_MAX_NUM = 24  # longer number tokens are converted one by one
_P10F = [10.0**i for i in range(23)]  # exact doubles
_P10I = [10**i for i in range(19)]
_TWO53 = 1 << 53
_WS: dict[str, object] = {}


def _ws_table(np):
    t = _WS.get("ws")
    if t is None:
        t = np.zeros(256, bool)
        t[list(b" \t\n\r\x0b\x0c")] = True  # exactly what bytes.split() splits on
        _WS["ws"] = t
        _WS["p10f"] = np.array(_P10F)
        _WS["p10i"] = np.array(_P10I, np.int64)
    return t


def _numbers(np, buf, s, e):
    """Parse the decimal numbers buf[s:e] (one per row) in bulk.

    Returns (values, exact, ints, is_int): exact rows got the correctly rounded double of the text -
    mantissa < 2**53 and |exponent| <= 22 make m * 10**k (or m / 10**-k) a single rounding of exact
    operands, the same result float() gives; is_int rows are plain digit runs (< 2**53) whose integer is
    `ints`. Other rows (nan, inf, very long or odd text) are left to the caller."""
    n = len(s)
    p10f, p10i = _WS["p10f"], _WS["p10i"]
    L = e - s
    W = min(int(L.max()), _MAX_NUM) if n else 1
    cols = np.arange(W)
    M = buf[s[:, None] + cols]
    inside = cols < L[:, None]
    c0 = M[:, 0]
    neg = c0 == 45
    sg = neg | (c0 == 43)
    d = M - np.uint8(48)
    isd = (d < 10) & inside
    isdot = (M == 46) & inside
    ise = ((M | np.uint8(32)) == 101) & inside
    has_e = ise.any(1)
    epos = np.where(has_e, ise.argmax(1), L)
    in_m = (cols >= sg[:, None]) & (cols < epos[:, None])
    mdig = isd & in_m
    mdot = isdot & in_m
    nmd = mdig.sum(1)
    has_dot = mdot.any(1)
    valid = (L <= _MAX_NUM) & (nmd >= 1) & (nmd <= 18) & (mdot.sum(1) <= 1) & ((mdig | mdot) == in_m).all(1)
    dpos = np.where(has_dot, mdot.argmax(1), epos)
    frac = (mdig & (cols > dpos[:, None])).sum(1)
    dd = d.astype(np.int64)
    right = np.minimum(nmd[:, None] - np.cumsum(mdig, 1), 18)  # mantissa digits to the right of each column
    m = np.where(mdig, dd * p10i[right], 0).sum(1)
    k = -frac
    if has_e.any():
        in_x = inside & (cols > epos[:, None])
        xc = M[np.arange(n), np.minimum(epos + 1, W - 1)]
        xsign = has_e & (epos + 1 < L) & ((xc == 45) | (xc == 43))
        xdig = isd & in_x
        nxd = xdig.sum(1)
        valid &= ~has_e | ((nxd >= 1) & (nxd <= 4) & (nxd + xsign == in_x.sum(1)))
        rx = np.minimum(nxd[:, None] - np.cumsum(xdig, 1), 18)
        x = np.where(xdig, dd * p10i[rx], 0).sum(1)
        k = k + np.where(has_e & (xc == 45), -x, x)
    exact = valid & (m < _TWO53) & (np.abs(k) <= 22)
    p = p10f[np.minimum(np.abs(k), 22)]
    mf = m.astype(np.float64)
    vals = np.where(k < 0, mf / p, mf * p)
    vals = np.where(neg, -vals, vals)
    is_int = valid & ~has_e & ~has_dot & (m < _TWO53)
    ints = np.where(neg, -m, m)
    return vals, exact, ints, is_int


def _fast(chunk: bytes, tpl: _Template, st: _State) -> None:
    """A block of a log whose template has a step: every line with the template's token layout is cut
    into columns and converted with numpy; the other lines are parsed one by one (known non-metric shapes
    skipped) and merged back in line order."""
    np = st.np
    ws = _ws_table(np)
    nb = len(chunk)
    if not chunk.endswith(b"\n"):
        chunk += b"\n"
        nb += 1
    buf = np.frombuffer(chunk + _PAD, np.uint8)
    body = buf[:nb]
    isws = ws[body]
    bounds = np.flatnonzero(isws[1:] != isws[:-1]) + 1
    if not isws[0]:
        bounds = np.concatenate((np.zeros(1, bounds.dtype), bounds))
    starts, ends = bounds[0::2], bounds[1::2]  # the chunk ends with '\n': every token has an end
    nl = np.flatnonzero(body == 10)
    lstart = np.concatenate((np.zeros(1, nl.dtype), nl[:-1] + 1))
    first = np.searchsorted(starts, lstart)
    cnt = np.diff(np.append(first, len(starts)))
    T = tpl.ntok
    cand = np.flatnonzero(cnt == T)
    f = first[cand]
    ok = np.ones(len(cand), bool)
    for k, text in tpl.check_tok:
        s = starts[f + k]
        ok &= (ends[f + k] - s) == len(text)
        for j, c in enumerate(text):
            ok &= buf[s + j] == c
    spans = []
    for k, pre, suf in tpl.val_tok:
        s, e = starts[f + k], ends[f + k]
        for j, c in enumerate(pre):
            ok &= buf[s + j] == c
        for j, c in enumerate(suf):
            ok &= buf[e - len(suf) + j] == c
        s, e = s + len(pre), e - len(suf)
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
                    col[r] = int(float(tok)) if is_step else float(tok)
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
            series = st.rb.series
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
                        series(key).expect_repeats = True
                if tqdm:
                    st.tqdm_lines += 1
                else:
                    st.miss_line = (line, pairs)
    st.record += len(li) + n_other
    st.hits += len(li)
    st.misses += n_other
    if len(li) and li[-1] > last_i:
        st.last_step = int(steps[-1])
    elif last_step is not None:
        st.last_step = last_step

    # Template columns, merged in line order with the same metrics from other lines.
    series = st.rb.series
    for i in tpl.metric_idx:
        key = tpl.keys[i]
        vals = columns[i] if len(li) else np.zeros(0)
        ent = extra.pop(key, None)
        if ent is not None:
            order = np.argsort(np.concatenate((li, np.array(ent[0], np.int64))), kind="stable")
            _extend(series(key), np.concatenate((steps, np.array(ent[1], np.int64)))[order],
                    np.concatenate((vals, np.array(ent[2], np.float64)))[order])
        elif len(li):
            _extend(series(key), steps, vals)
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
        while True:
            data = f.read(BLOCK)
            if not data:
                break
            data = carry + data
            cut = data.rfind(b"\n")
            if cut < 0:
                carry = data
                continue
            chunk, carry = data[: cut + 1], data[cut + 1 :]
            if not chunk.isascii():
                try:
                    chunk.decode("utf-8")
                except UnicodeDecodeError:
                    non_utf8 += 1
            _block(chunk, st)
        if carry.strip():
            _block(carry + b"\n", st)
    if not rb.builders:
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

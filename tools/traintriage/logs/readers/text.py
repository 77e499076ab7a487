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
    """A line layout learned from one metric line: literal text with the numbers replaced by groups."""

    def __init__(self, line: bytes, pairs: list[tuple[str, int, int]]) -> None:
        parts: list[bytes] = [b"^"]
        pos = 0
        self.keys: list[str] = []
        for key, vs, ve in pairs:
            parts.append(_literal(line[pos:vs]))
            parts.append(rb"(" + _NUM + rb")")
            self.keys.append(key)
            pos = ve
        parts.append(_literal(line[pos:]))
        parts.append(rb"[ \t]*$\n?")
        self.rx = re.compile(b"".join(parts), re.M)
        low = [k.lower() for k in self.keys]
        self.step_idx = next((i for i, k in enumerate(low) if k in STEP_KEYS), None)
        self.metric_idx = [i for i, k in enumerate(low) if k not in STEP_KEYS and k not in IGNORE_KEYS]
        self._columnar(line, pairs)

    def _columnar(self, line: bytes, pairs: list[tuple[str, int, int]]) -> None:
        """Where each value sits among the line's whitespace tokens, so a whole block of lines shaped like
        this one can be cut into columns with one bytes.split() and list slicing (C speed)."""
        self.ntok = 0
        spans = [(m.start(), m.end()) for m in re.finditer(rb"\S+", line)]
        self.val_tok: list[tuple[int, int, int]] = []  # (token index, prefix len, suffix len) per pair
        for _, vs, ve in pairs:
            k = next((i for i, (a, b) in enumerate(spans) if a <= vs and ve <= b), None)
            if k is None:
                return
            self.val_tok.append((k, vs - spans[k][0], spans[k][1] - ve))
        used = {k for k, _, _ in self.val_tok}
        # constant tokens (no digits) must match on every line; the most selective one finds the lines
        self.const_tok = [(i, line[a:b]) for i, (a, b) in enumerate(spans)
                          if i not in used and not any(48 <= c <= 57 for c in line[a:b])]
        keys = [t for _, t in self.const_tok if any(c.isalpha() for c in t.decode("latin-1"))]
        if not keys or len({k for k, _, _ in self.val_tok}) != len(self.val_tok):
            return
        self.needle = max(keys, key=len)
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

    def key(self, raw: bytes) -> str:
        k = self.keys.get(raw)
        if k is None:
            k = self.keys[raw] = raw.decode("utf-8", "replace")
        return k


def _parse_line(line: bytes, st: _State) -> None:
    pairs = []
    step = None
    epoch = None
    strong = False  # a step key, a key=value/key: value pair, or a metric-like name
    for m in _PAIR.finditer(line):
        key = st.key(m.group(1))
        low = key.lower()
        if low in IGNORE_KEYS:
            continue
        vs, ve = m.span(2)
        sep = line[m.end(1) : vs]
        if b":" in sep or b"=" in sep or _METRIC_WORD.search(low):
            strong = True
        if low in STEP_KEYS:
            strong = True
            try:
                step = int(float(m.group(2)))
            except (ValueError, OverflowError):
                continue
            pairs.append((key, vs, ve))
            continue
        if low == "epoch":
            epoch = m.group(2)
        pairs.append((key, vs, ve))
    metrics = [(k, vs, ve) for k, vs, ve in pairs if k.lower() not in STEP_KEYS]
    if not strong:
        return
    if not metrics or all(k.lower() == "epoch" for k, _, _ in metrics):
        return
    tqdm = False
    if step is None:
        t = _TQDM.search(line)
        if t is not None:
            n = int(t.group(1))
            if n == 0:  # a bar reset for the next epoch: no step has completed, the postfix is stale
                return
            tqdm = True
            e = _EPOCH_PREFIX.match(line)
            total = t.group(2)
            step = int(e.group(1)) * int(total) + n if e is not None and total != b"?" else n
            if epoch is not None:
                metrics = [p for p in metrics if p[0].lower() != "epoch"]
    if step is None:
        if st.last_step is not None:
            step = st.last_step
        else:
            step = st.record
            st.inferred += 1
    else:
        st.last_step = step
    st.record += 1
    series = st.rb.series
    for key, vs, ve in metrics:
        b = series(key)
        b.add(step, float(line[vs:ve]))
        if tqdm:
            b.expect_repeats = True
    if tqdm:
        st.tqdm_lines += 1
        return  # progress-bar lines vary too much to make a useful template
    # Learn / relearn the template from metric lines.
    if st.template is None:
        st.template = _Template(line, pairs)
    else:
        st.miss_line = (line, pairs)


def _block(chunk: bytes, st: _State) -> None:
    if b"\r" in chunk:
        chunk = chunk.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    tpl = st.template
    if tpl is not None and tpl.step_idx is not None:
        rest = chunk
        if tpl.ntok:
            nl = chunk.count(b"\n")
            if chunk.count(tpl.needle) == nl:  # every line carries the template's key: no filtering needed
                main, rest = chunk, b""
            else:
                lines = chunk.split(b"\n")
                needle = tpl.needle
                main = b"\n".join([ln for ln in lines if needle in ln])
                rest = b"\n".join([ln for ln in lines if needle not in ln])
            if main and not _columns(main, tpl, st):
                rest = main + b"\n" + rest  # not all shaped like the template: the slower path below
        if rest.strip():
            matches = tpl.rx.findall(rest)
            if matches:
                _take(matches, tpl, st)
                rest = tpl.rx.sub(b"", rest)
        if rest.strip():
            _other_lines(rest, st)
    else:
        rx = tpl.rx if tpl is not None else None
        pos = 0
        for line in chunk.split(b"\n"):
            pos += len(line) + 1
            if not line or line.isspace():
                continue
            if rx is not None and (m := rx.match(line + b"\n")) is not None and tpl is not None:
                _from_template(m.groups(), tpl, st)
                st.hits += 1
                continue
            before = st.record
            _parse_line(line, st)
            if st.record > before and rx is not None:
                st.misses += 1
            if st.template is not None and rx is None:
                rx, tpl = st.template.rx, st.template
                if tpl.step_idx is not None and pos < len(chunk):  # learned a step template: fast path for the rest
                    _block(chunk[pos:], st)
                    return
    # Relearn when most metric lines of the block missed the template.
    if st.misses > st.hits and st.miss_line is not None:
        line, pairs = st.miss_line
        st.template = _Template(line, pairs)
    st.misses = st.hits = 0
    st.miss_line = None


_DIGITS_TO_0 = bytes.maketrans(b"123456789", b"000000000")
MAX_NOISE_SHAPES = 20_000  # bound on remembered non-metric line shapes (memory stays constant)


def _other_lines(rest: bytes, st: _State) -> None:
    """Lines the template did not take. Most are the same few non-metric messages with different numbers
    (timestamps, counters): their shape (digits -> 0) is remembered, so each shape is regex-parsed once."""
    seen = st.noise
    for line, shape in zip(rest.split(b"\n"), rest.translate(_DIGITS_TO_0).split(b"\n"), strict=False):
        if not line or shape in seen:
            continue
        before = st.record
        _parse_line(line, st)
        if st.record == before:
            if len(seen) < MAX_NOISE_SHAPES:
                seen.add(shape)
        else:
            st.misses += 1


def _columns(main: bytes, tpl: _Template, st: _State) -> bool:
    """Cut lines that all have the template's shape into columns; False (nothing added) if they do not."""
    toks = main.split()
    n = main.count(b"\n") + (0 if main.endswith(b"\n") else 1)
    T = tpl.ntok
    if len(toks) != n * T:
        return False
    for i, t in tpl.const_tok:
        if toks[i::T].count(t) != n:
            return False
    cols = []
    for k, pre, suf in tpl.val_tok:
        col = toks[k::T]
        if pre or suf:
            col = [c[pre : len(c) - suf] for c in col]
        cols.append(col)
    try:
        steps = array("q", map(int, cols[tpl.step_idx]))
        vals = [array("d", map(float, cols[i])) for i in tpl.metric_idx]
    except ValueError:
        return False
    for i, v in zip(tpl.metric_idx, vals, strict=False):
        st.rb.series(tpl.keys[i]).extend(steps, v)
    st.hits += n
    st.record += n
    st.last_step = steps[-1]
    return True


def _take(matches: list, tpl: _Template, st: _State) -> None:
    st.hits += len(matches)
    cols = list(zip(*matches, strict=False)) if isinstance(matches[0], tuple) else [matches]
    try:
        steps = array("q", map(int, cols[tpl.step_idx]))
    except ValueError:
        steps = array("q", (int(float(x)) for x in cols[tpl.step_idx]))
    for i in tpl.metric_idx:
        st.rb.series(tpl.keys[i]).extend(steps, map(float, cols[i]))
    st.last_step = steps[-1]
    st.record += len(matches)


def _from_template(groups: tuple, tpl: _Template, st: _State) -> None:
    if tpl.step_idx is not None:
        step = int(float(groups[tpl.step_idx]))
        st.last_step = step
    elif st.last_step is not None:
        step = st.last_step
    else:
        step = st.record
        st.inferred += 1
    st.record += 1
    add = st.rb.add
    for i in tpl.metric_idx:
        add(tpl.keys[i], step, float(groups[i]))


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

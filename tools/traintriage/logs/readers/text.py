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

The module is split by concern: text_grammar.py (what a metric line is, `_parse`), text_template.py (the learned
line layout), text_vectorized.py (the numpy block path); this module streams the file and runs the
line-by-line path.
"""

from __future__ import annotations

from pathlib import Path

from traintriage.logs.model import LogReadError, Run, RunBuilder, to_step
from traintriage.logs.readers import text_grammar
from traintriage.logs.readers._common import MAX_LINE_BYTES
from traintriage.logs.readers.text_grammar import _DIGITS_TO_0, MAX_NOISE_SHAPES
from traintriage.logs.readers.text_template import _learnable, _Template
from traintriage.logs.readers.text_vectorized import _fast

FORMAT = "text"

# False: every block is parsed line by line (the reference behaviour the vectorized path must reproduce)
VECTORIZED = True
BLOCK = 8 << 20  # bytes read per block: big enough to amortize regex calls, small enough to stay in cache-ish



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
        r = text_grammar._parse(line, st)
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


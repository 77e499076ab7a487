"""The text reader's line grammar: what a metric line looks like (a key next to a number, a step key, a tqdm
counter) and `_parse`, which reads one line into (step, metrics). Used by both the line-by-line path
(text.py) and the vectorized block path (text_vectorized.py) for the lines the template does not cover.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from traintriage.logs.model import to_step

if TYPE_CHECKING:
    from traintriage.logs.readers.text import _State

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
# In prose ("queue depth 7 of 8") a word followed by a number is not a metric. Whitespace-separated pairs
# count only on lines that also have a step, a key=value / key: value pair, or a metric-like key name.
_METRIC_WORD = re.compile(r"loss|lr|learning_rate|acc|norm|ppl|perplexity|err|score|reward|f1|bleu|auc|mse|mae")


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
            n = to_step(t.group(1))
            if not n:  # 0: a bar reset for the next epoch, the postfix is stale; None: a counter beyond int64
                return False
            tqdm = True
            e = _EPOCH_PREFIX.match(line)
            total = t.group(2)
            if e is not None and total != b"?":
                ep, tot = to_step(e.group(1)), to_step(total)
                step = to_step(ep * tot + n) if ep is not None and tot is not None else None
                if step is None:  # epoch * total beyond int64: a skipped line
                    return False
            else:
                step = n
            if epoch is not None:
                metrics = [p for p in metrics if p[0].lower() != "epoch"]
    return step, [(k, line[vs:ve]) for k, vs, ve in metrics], tqdm, pairs



_DIGITS_TO_0 = bytes.maketrans(b"123456789", b"000000000")
MAX_NOISE_SHAPES = 20_000  # bound on remembered non-metric line shapes (memory stays constant)
# Lines with at least this many remaining (non-template) lines are split in one C call, else sliced one by one.
_SPLIT_ALL = 2_000


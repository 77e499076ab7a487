"""Run a training script as plain Python (no probe) with its seeds shifted, and read the final metric it prints.

The seed shift is how a mutant is judged "measurably worse than its host, beyond seed noise": the host runs
under a few seed offsets (torch/random/numpy seeds the script sets are offset by K), the spread of its final
metric is the noise, and the mutant must land beyond the host's worst seed by more than that spread.
"""

from __future__ import annotations

import math
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pydantic import BaseModel

# The bootstrap the child runs: offset every seed the script sets by K, then run the script as __main__.
_BOOT = r"""
import os, random, runpy, sys
K = int(sys.argv[1]); script = sys.argv[2]; sys.argv = sys.argv[2:]
sys.path.insert(0, os.path.dirname(os.path.abspath(script)))
import torch
_ms = torch.manual_seed
def _seed(s): return _ms((int(s) + K) % 2**64)
torch.manual_seed = _seed; torch.random.manual_seed = _seed
_rs = random.seed
random.seed = lambda a=None, *r, **k: _rs((a if isinstance(a, int) else 0) + K)
try:
    import numpy as _np
    _ns = _np.random.seed
    # DataLoader workers seed numpy with a list of four uint32 (torch.utils.data._utils.worker): pass it through
    # (adding K to a list killed every worker: "DataLoader worker exited unexpectedly")
    _np.random.seed = lambda s=None: _ns(((s or 0) + K) % 2**32 if s is None or isinstance(s, int) else s)
except ImportError:
    pass
runpy.run_path(script, run_name="__main__")
"""

# Names of metrics where larger is better; anything else (loss, mse, rmse, error, ppl...) is smaller-better.
HIGHER_BETTER = ("acc", "auc", "f1", "score", "reward", "return", "r2", "precision", "recall", "iou", "bleu")
# Which printed metric to judge, most preferred first: a held-out quality metric over a training loss.
PREFERENCE = ("val_acc", "test_acc", "acc", "accuracy", "val_loss", "test_loss", "rmse", "mse", "mae", "reward",
              "return", "loss")
# An amount may carry a currency sign (`final rmse $23,456`: a price regression reports in dollars).
_PAIR = re.compile(r"([A-Za-z_][\w/.-]*)\s*[=:]?\s*\$?(-?(?:\d[\d,]*\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|nan|inf)\b")


class Metric(BaseModel):
    name: str
    value: float
    higher_better: bool


class PlainRun(BaseModel):
    returncode: int
    metric: Metric | None
    cpu_s: float
    stderr_tail: str = ""


def higher_better(name: str) -> bool:
    """Whether a larger value of the metric called `name` is better (accuracy, reward) rather than worse (loss)."""
    return any(h in name for h in HIGHER_BETTER)


def parse_metric(stdout: str) -> Metric | None:
    """The final metric from the script's last printed line that has one (`final loss 0.12 val_acc 0.93`)."""
    for line in reversed(stdout.strip().splitlines()):
        pairs = {}
        for name, raw in _PAIR.findall(line):
            try:
                pairs[name.lower().strip("/.-")] = float(raw.replace(",", ""))
            except ValueError:
                continue
        if not pairs:
            continue
        for pref in PREFERENCE:
            key = next((k for k in pairs if k == pref or k.endswith(pref)), None)
            if key is not None:
                return Metric(name=key, value=pairs[key], higher_better=higher_better(key))
        name, value = next(iter(pairs.items()))
        return Metric(name=name, value=value, higher_better=higher_better(name))
    return None


def run_plain(script: str | os.PathLike, *, seed_offset: int = 0, timeout: float = 300.0) -> PlainRun:
    """Run `script` in its folder with one thread, seeds offset by `seed_offset`; CPU seconds are the child's."""
    script = Path(script).resolve()
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONDONTWRITEBYTECODE="1",
               WANDB_MODE="disabled", HF_HUB_OFFLINE="1")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    try:
        p = subprocess.run([sys.executable, "-c", _BOOT, str(seed_offset), str(script)], cwd=script.parent,
                           capture_output=True, text=True, timeout=timeout, env=env)
        rc, out, err = p.returncode, p.stdout, p.stderr
    except subprocess.TimeoutExpired:
        rc, out, err = -9, "", f"timed out after {timeout} s"
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)  # approximate under threads
    return PlainRun(returncode=rc, metric=parse_metric(out) if rc == 0 else None, cpu_s=round(cpu, 2),
                    stderr_tail=err[-1500:])


def worse_beyond_noise(host: list[float], mutant: float, higher_better: bool) -> bool:
    """True when `mutant` is worse than the host's worst seed by more than the host's seed spread.

    A non-finite mutant metric (NaN/inf loss) is worse. With a spread of zero any strict loss counts.
    """
    if not math.isfinite(mutant):
        return True
    spread = max(host) - min(host)
    if higher_better:
        return mutant < min(host) - spread
    return mutant > max(host) + spread


@contextmanager
def planted(script: Path, mutant: str) -> Iterator[Path]:
    """A copy of the host's folder with the mutant in place of the host script (the host's files untouched)."""
    tmp = Path(tempfile.mkdtemp(prefix="traintriage-mutant-"))
    try:
        folder = tmp / script.parent.name
        shutil.copytree(script.parent, folder, ignore=shutil.ignore_patterns("__pycache__"))
        target = folder / script.name
        target.write_text(mutant, encoding="utf-8")
        yield target
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

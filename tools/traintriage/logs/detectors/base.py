"""What every curve detector shares: the Context it reads and the Detection it returns.

A detector is one small module with `ID` (a symptom id from refs/symptoms.md), `SEVERITY`, and
`detect(ctx) -> list[Detection]`. Its thresholds are module-level constants with a why-comment and a source.
Curves are numpy arrays here (numpy is imported lazily by diagnose(), never at CLI start-up).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from traintriage.logs.downsample import median_rows
from traintriage.logs.model import Run, Series
from traintriage.report import Finding, Severity, Symptom

# A trend read from fewer points than this is noise, not a curve.
MIN_POINTS = 8


@dataclass
class Curve:
    """One series as arrays, with its finite part and a smoothed copy."""

    name: str
    role: str
    steps: np.ndarray
    values: np.ndarray

    @property
    def finite(self) -> np.ndarray:
        return np.isfinite(self.values)

    def clean(self) -> Curve:
        m = self.finite
        return Curve(self.name, self.role, self.steps[m], self.values[m])

    def __len__(self) -> int:
        return int(self.values.size)


@dataclass
class Detection:
    symptom: Symptom
    severity: Severity
    findings: list[Finding] = field(default_factory=list)


@dataclass
class Context:
    run: Run
    num_classes: int | None = None
    notes: list[str] = field(default_factory=list)
    _cache: dict[str, Curve | None] = field(default_factory=dict)

    def curve(self, role: str) -> Curve | None:
        if role not in self._cache:
            s = self.run.primary(role)
            self._cache[role] = _curve(s) if s is not None else None
        return self._cache[role]

    def curves(self, role: str) -> list[Curve]:
        return [_curve(s) for s in self.run.by_role(role) if len(s)]

    def meta(self, *keys: str) -> Any:
        """First metadata value found under any of these keys, searching config/params/hparams too."""
        md = self.run.metadata
        pools = [md] + [md[k] for k in ("config", "params", "hparams") if isinstance(md.get(k), dict)]
        for pool in pools:
            for k in keys:
                if k in pool and pool[k] not in (None, ""):
                    return pool[k]
        return None


def _curve(s: Series) -> Curve:
    return Curve(s.name, s.role, np.asarray(s.steps, dtype=np.int64), np.asarray(s.values, dtype=np.float64))


def window(n: int, frac: float = 0.1, lo: int = 3, hi: int = 500) -> int:
    return int(min(max(lo, round(n * frac)), hi, max(1, n)))


def head(v: np.ndarray, frac: float = 0.1) -> float:
    return float(np.median(v[: window(v.size, frac)]))


def tail(v: np.ndarray, frac: float = 0.1) -> float:
    return float(np.median(v[-window(v.size, frac) :]))


def ema(v: np.ndarray, span: int) -> np.ndarray:
    """Exponential moving average, span in points (alpha = 2 / (span + 1)), bias-corrected at the start.

    Vectorized in blocks of 256 points: inside a block y[t] = d^(t+1) y0 + a * sum_k d^(t-k) x[k], computed
    with a cumulative sum scaled by d^-k (d^-256 stays far inside float64 range for any span >= 3)."""
    v = np.asarray(v, dtype=np.float64)
    if v.size == 0:
        return v
    a = 2.0 / (span + 1.0)
    d = 1.0 - a
    out = np.empty_like(v)
    norm_out = np.empty_like(v)
    block = 256
    k = np.arange(block, dtype=np.float64)
    up = d ** -k  # d^-k
    down = d ** (k + 1)  # d^(t+1)
    acc = norm = 0.0
    for s in range(0, v.size, block):
        x = v[s : s + block]
        n = x.size
        dt = d ** k[:n]
        out[s : s + n] = down[:n] * acc + a * dt * np.cumsum(x * up[:n])
        norm_out[s : s + n] = down[:n] * norm + a * dt * np.cumsum(up[:n])
        acc, norm = out[s + n - 1], norm_out[s + n - 1]
    return out / norm_out


def rolling_median(v: np.ndarray, w: int) -> np.ndarray:
    """Centered running median (edges use a shrinking window)."""
    if v.size == 0 or w <= 1:
        return v.copy()
    from numpy.lib.stride_tricks import sliding_window_view

    half = w // 2
    padded = np.pad(v, (half, w - 1 - half), mode="edge")
    return median_rows(np, sliding_window_view(padded, w))


def trailing_median(v: np.ndarray, w: int) -> np.ndarray:
    """Median of the w points *before* each point (the first point uses itself)."""
    from numpy.lib.stride_tricks import sliding_window_view

    padded = np.concatenate([np.full(w, v[0]), v])
    return median_rows(np, sliding_window_view(padded[:-1], w))


def fmt(x: float) -> str:
    return f"{x:.4g}"


def sym(id_: str, metric: str | None, step: int | None, message: str, evidence: dict, **kw: Any) -> Symptom:
    return Symptom(id=id_, metric=metric, step=None if step is None else int(step), message=message,
                   evidence={k: _plain(v) for k, v in evidence.items()}, **kw)


def finding(id_: str, severity: Severity, confidence: float, message: str, evidence: dict) -> Finding:
    return Finding(id=id_, severity=severity, confidence=confidence, message=message,
                   evidence={k: _plain(v) for k, v in evidence.items()}, source="logs")


def _plain(v: Any) -> Any:
    if isinstance(v, (np.floating, float)):
        f = float(v)
        return f if np.isfinite(f) else str(f)
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    return v

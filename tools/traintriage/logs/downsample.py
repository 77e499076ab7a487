"""Bounded series for long logs: a series keeps at most about KEEP_POINTS points however long the log is.

A SeriesBuilder buffers raw points (in write order) and, every model.RAW_POINTS of them, hands the buffer to its
Downsampler, which keeps:
- every `stride`-th point in arrival order (stride 1, doubled each time the kept points pass KEEP_POINTS:
  the kept points stay evenly spread over the run, the way a uniform sample keeps a curve's trend and noise),
- and, protected from thinning, the points the detectors must not lose: each buffer's last point (so the
  run's last point survives), its minimum and maximum, every edge between finite and non-finite values (the
  first NaN of a diverged run), and the points the loss-spike rule flags (logs/spike_rule.py, judged on the
  full-resolution buffer against the median of the block of points before it).
Protected points are capped at a quarter of KEEP_POINTS (over that, every other one is dropped): a log that
is all spikes or alternating NaNs cannot grow without bound.

Resumed runs keep their meaning: within a buffer the last write per step wins (as in SeriesBuilder), and a
kept point whose step a later buffer writes again is replaced. (A kept point the later run does not write at
exactly the same step stays, as it would in the unsampled series.) The counts for the Run's notes (repeated
steps, backwards jumps, points read and kept) are accumulated as the buffers pass.

numpy is imported only here, only once a series is long enough to need it.
"""

from __future__ import annotations

from array import array

from traintriage.logs.spike_rule import MAD_TO_SIGMA, SPIKE_FACTOR, SPIKE_Z

# Points a long series keeps. The detectors' windows top out at a few hundred points (detectors/base.window:
# 500, loss-spikes: 200), so 16k points are 30+ full windows: trends, percentiles and running medians read
# the same as on the full series; 16k points are 256 KB of steps+values.
KEEP_POINTS = 1 << 14
# Block of raw points whose median (and MAD) is the reference a spike is judged against: the loss-spikes
# detector's longest trailing window (200 points), rounded to a power of two.
SPIKE_BLOCK = 256
# Protected points kept per buffer at most (the largest spikes first): a noisy buffer is not all spikes.
MAX_SPIKES_PER_BUFFER = 64


class Downsampler:
    """The kept points of one series, sorted by step, and the counts the Run's notes report."""

    __slots__ = ("steps", "values", "walls", "order", "protected", "stride", "arrived", "read", "repeated",
                 "backwards", "prev_step", "spikes", "np")

    def __init__(self) -> None:
        import numpy as np

        self.np = np
        self.steps = np.zeros(0, np.int64)
        self.values = np.zeros(0, np.float64)
        self.walls = None  # np array once a wall time arrives
        self.order = np.zeros(0, np.int64)  # arrival index of each kept point (the stride is taken on it)
        self.protected = np.zeros(0, bool)
        self.stride = 1
        self.arrived = 0  # points after the last-write-per-step rule, in arrival order
        self.read = 0  # raw points handed in
        self.repeated = 0
        self.backwards = 0
        self.prev_step: int | None = None
        self.spikes = 0

    def __len__(self) -> int:
        return int(self.steps.size)

    def push(self, steps: array, values: array, walls: array | None) -> None:
        """Take one buffer of raw points (write order); keep the sampled and protected ones."""
        np = self.np
        st = np.frombuffer(steps, np.int64)
        v = np.frombuffer(values, np.float64)
        w = np.frombuffer(walls, np.float64) if walls is not None else None
        n = st.size
        if not n:
            return
        self.read += n
        down = st[1:] < st[:-1]
        self.backwards += int(np.count_nonzero(down)) + int(self.prev_step is not None and st[0] < self.prev_step)
        self.prev_step = int(st[-1])
        increasing = not down.any() and bool(np.all(st[1:] != st[:-1]))
        if not increasing:  # last write per step within the buffer, sorted by step
            last = n - 1 - np.unique(st[::-1], return_index=True)[1]
            self.repeated += n - last.size
            st, v = st[last], v[last]
            w = w[last] if w is not None else None
        if w is not None and self.walls is None:
            self.walls = np.full(self.steps.size, np.nan)
        appended = not self.steps.size or st[0] > self.steps[-1]
        if not appended:  # the buffer writes steps already kept: the later write wins
            again = np.isin(self.steps, st)
            if again.any():
                self.repeated += int(np.count_nonzero(again))
                self._select(~again)
        order = self.arrived + np.arange(st.size, dtype=np.int64)
        self.arrived += st.size
        prot = self._protect(v)
        sel = prot | (order % self.stride == 0)
        self.steps = np.concatenate((self.steps, st[sel]))
        self.values = np.concatenate((self.values, v[sel]))
        if self.walls is not None:
            self.walls = np.concatenate((self.walls, w[sel] if w is not None else np.full(int(sel.sum()), np.nan)))
        self.order = np.concatenate((self.order, order[sel]))
        self.protected = np.concatenate((self.protected, prot[sel]))
        if not appended:
            self._select(np.argsort(self.steps, kind="stable"))
        while self.steps.size > KEEP_POINTS:
            self._thin()

    def _select(self, idx) -> None:  # noqa: ANN001 - a numpy index (mask or positions)
        self.steps, self.values = self.steps[idx], self.values[idx]
        self.order, self.protected = self.order[idx], self.protected[idx]
        if self.walls is not None:
            self.walls = self.walls[idx]

    def _thin(self) -> None:
        """Double the stride: keep every other sampled point, and the protected ones (halved when too many)."""
        np = self.np
        self.stride *= 2
        prot = self.protected
        if int(prot.sum()) > KEEP_POINTS // 4:
            prot = prot.copy()
            prot[np.flatnonzero(prot)[1::2]] = False
            self.protected = prot
        self._select(prot | (self.order % self.stride == 0))

    def _protect(self, v):  # noqa: ANN001, ANN202 - numpy arrays
        """The points of one buffer that thinning must keep: last, min, max, finite/non-finite edges, spikes."""
        np = self.np
        n = v.size
        prot = np.zeros(n, bool)
        prot[-1] = True
        fin = np.isfinite(v)
        if not fin.all():
            prot[0] |= not fin[0]
            prot[np.flatnonzero(fin[1:] != fin[:-1]) + 1] = True
        fi = np.flatnonzero(fin)
        if not fi.size:
            return prot
        vf = v[fi]
        prot[fi[int(np.argmin(vf))]] = True
        prot[fi[int(np.argmax(vf))]] = True
        spikes = self._spikes(vf)
        prot[fi[spikes]] = True
        self.spikes += int(spikes.size)
        return prot

    def _spikes(self, v):  # noqa: ANN001, ANN202 - numpy arrays
        """Positions in v the loss-spike rule flags, judged against the previous block's median and MAD."""
        np = self.np
        nb = v.size // SPIKE_BLOCK
        if nb < 2:
            return np.zeros(0, np.int64)
        blocks = v[: nb * SPIKE_BLOCK].reshape(nb, SPIKE_BLOCK)
        med = median_rows(np, blocks)
        cur = v[SPIKE_BLOCK:]  # each point against the block before its own (the tail: the last block)
        ref = np.repeat(med, SPIKE_BLOCK)[: cur.size]
        if cur.size > ref.size:
            ref = np.concatenate((ref, np.full(cur.size - ref.size, med[-1])))
        hit = (cur > SPIKE_FACTOR * np.maximum(ref, 1e-12)) & (ref > 0)
        if not hit.any():  # (the usual case: the noise test below needs a second median pass)
            return np.zeros(0, np.int64)
        mad = median_rows(np, np.abs(blocks - med[:, None])) * MAD_TO_SIGMA + 1e-12
        spread = np.repeat(mad, SPIKE_BLOCK)[: cur.size]
        if cur.size > spread.size:
            spread = np.concatenate((spread, np.full(cur.size - spread.size, mad[-1])))
        hit &= (cur - ref) / spread > SPIKE_Z
        idx = np.flatnonzero(hit)
        if idx.size > MAX_SPIKES_PER_BUFFER:
            ratio = cur[idx] / ref[idx]
            idx = np.sort(idx[np.argsort(ratio)[-MAX_SPIKES_PER_BUFFER:]])
        return idx + SPIKE_BLOCK

    def note(self, name: str) -> str:
        return (f"metric '{name}': {self.read} points read, {self.steps.size} kept for the detectors and summaries "
                f"(every {self.stride}th point, plus first, last, minimum, maximum, NaN/inf edges and "
                f"{self.spikes} spike(s) seen at full resolution)")


def median_rows(np, a):  # noqa: ANN001, ANN202 - numpy arrays
    """np.median(a, axis=1), bit for bit (NaN for a row holding one), by a sort: numpy's vectorized sort is several
    times faster than the partition np.median does on rows of a few hundred points (the downsampler's spike
    blocks, the detectors' running medians)."""
    if not a.shape[1]:
        return np.median(a, axis=1)  # (NaN rows, as numpy has it)
    s = np.sort(a, axis=1)  # NaNs sort last
    h = a.shape[1] // 2
    mid = (s[:, h - 1] + s[:, h]) / 2 if a.shape[1] % 2 == 0 else s[:, h].copy()
    mid[np.isnan(s[:, -1])] = np.nan
    return mid

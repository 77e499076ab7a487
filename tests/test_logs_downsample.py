"""Long logs keep bounded series (logs/downsample.py): the detectors still see the spike, the first NaN, the
divergence and the run's ends; a resumed run's later writes still win; short series are kept whole."""

from __future__ import annotations

import math

import pytest
from traintriage.logs import diagnose, read_run
from traintriage.logs.downsample import KEEP_POINTS
from traintriage.logs.model import RAW_POINTS

N = 300_000  # > 4x RAW_POINTS: several buffers, several stride doublings
SPIKE_AT = 123_457
NAN_FROM = 290_000


def _loss(i: int) -> float:
    return 2.0 / (1 + i * 1e-4) + 0.01 * ((i * 7919) % 13) / 13  # a falling curve with deterministic noise


def _write(path, *, spike: bool, nan: bool, n: int = N) -> None:
    with path.open("w") as fh:
        for start in range(0, n, 10_000):
            rows = []
            for i in range(start, min(start + 10_000, n)):
                v = _loss(i)
                if spike and i == SPIKE_AT:
                    v *= 20
                rows.append(f"step {i} loss {'nan' if nan and i >= NAN_FROM else f'{v:.6f}'} lr 0.0003\n")
            fh.write("".join(rows))


def _ids(run) -> set[str]:
    return {s.id for s in diagnose(run).symptoms}


@pytest.mark.slow
def test_long_log_keeps_spike_first_nan_and_ends(tmp_path):
    bug = tmp_path / "bug.log"
    _write(bug, spike=True, nan=True)
    run = read_run(bug)
    s = run.series["loss"]
    assert len(s) <= KEEP_POINTS * 5 // 4  # bounded: sampled points plus at most a quarter protected
    assert all(a < b for a, b in zip(s.steps, s.steps[1:], strict=False))
    assert s.steps[0] == 0 and s.steps[-1] == N - 1
    assert SPIKE_AT in s.steps and s.values[s.steps.index(SPIKE_AT)] > 10 * _loss(SPIKE_AT)
    assert NAN_FROM in s.steps and math.isnan(s.values[s.steps.index(NAN_FROM)])
    assert math.isfinite(s.values[s.steps.index(NAN_FROM) - 1])  # the last finite point before it too
    assert any(f"{N} points read" in n and "'loss'" in n for n in run.skipped), run.skipped
    assert {"loss-spikes", "nan-loss"} <= _ids(run)

    healthy = tmp_path / "healthy.log"
    _write(healthy, spike=False, nan=False)
    run = read_run(healthy)
    assert len(run.series["loss"]) <= KEEP_POINTS * 5 // 4
    assert not {"loss-spikes", "nan-loss", "divergence"} & _ids(run)


def test_long_diverging_log_still_diverges(tmp_path):
    p = tmp_path / "div.log"
    n = 4 * RAW_POINTS
    with p.open("w") as fh:
        fh.write("".join(f"step {i} loss {1.0 + abs(i - n // 3) / (n // 3) * (3 if i > n // 3 else -0.5):.6f}\n"
                         for i in range(n)))
    run = read_run(p)
    assert len(run.series["loss"]) <= KEEP_POINTS * 5 // 4
    assert "divergence" in _ids(run)


def test_resumed_long_run_keeps_the_later_writes(tmp_path):
    """Run 1 logs steps 0..2R-1 near 1.0; run 2 resumes at R and logs R..3R-1 near 5.0: every kept point in the
    overlap is run 2's (its steps were all written again), as in the unsampled series."""
    r = RAW_POINTS
    p = tmp_path / "resumed.log"
    with p.open("w") as fh:
        fh.write("".join(f"step {i} loss {1.0 + (i % 5) * 1e-3:.4f}\n" for i in range(2 * r)))
        fh.write("".join(f"step {i} loss {5.0 + (i % 5) * 1e-3:.4f}\n" for i in range(r, 3 * r)))
    run = read_run(p)
    s = run.series["loss"]
    assert all(a < b for a, b in zip(s.steps, s.steps[1:], strict=False))
    assert all(v > 4 for st, v in zip(s.steps, s.values, strict=False) if st >= r)
    assert all(v < 2 for st, v in zip(s.steps, s.values, strict=False) if st < r)
    assert s.steps[-1] == 3 * r - 1
    assert any("backwards jump" in n for n in run.skipped), run.skipped


def test_short_series_are_kept_whole(tmp_path):
    p = tmp_path / "short.csv"
    n = RAW_POINTS - 1
    p.write_text("step,time,loss\n" + "".join(f"{i},{1.7e9 + i},{_loss(i):.6f}\n" for i in range(n)))
    run = read_run(p)
    s = run.series["loss"]
    assert len(s) == n and s.wall_times is not None and len(s.wall_times) == n
    assert not any("points read" in note for note in run.skipped)


def test_long_csv_with_wall_times_is_sampled_consistently(tmp_path):
    p = tmp_path / "long.csv"
    n = 3 * RAW_POINTS
    p.write_text("step,time,loss\n" + "".join(f"{i},{1.7e9 + i},{_loss(i):.6f}\n" for i in range(n)))
    s = read_run(p).series["loss"]
    assert len(s) < n and s.wall_times is not None and len(s.wall_times) == len(s.steps)
    assert all(w == 1.7e9 + st for st, w in zip(s.steps, s.wall_times, strict=False))
    assert all(v == round(_loss(st), 6) for st, v in zip(s.steps, s.values, strict=False))


@pytest.mark.parametrize("width", [256, 255])
def test_row_medians_are_numpys(width):
    """Row medians by a sort (the spike rule's blocks, the detectors' running medians) are np.median's, ties,
    repeated values, infinities and NaNs included."""
    import numpy as np
    from traintriage.logs.downsample import median_rows

    rng = np.random.default_rng(0)
    a = np.concatenate((rng.standard_normal((200, width)), rng.integers(0, 5, (100, width)) * 0.1))  # ties too
    a[rng.integers(0, 300, 40), rng.integers(0, width, 40)] = rng.choice([np.nan, np.inf, -np.inf], 40)
    got, want = median_rows(np, a), np.median(a, axis=1)
    assert got.tobytes() == want.tobytes()

"""Bad inputs: each gives a specific error, or a partial result that says what was skipped."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import textwrap

import pytest
from traintriage.logs import LogReadError, diagnose, read_run, summarize


def test_binary_garbage_is_a_specific_error(tmp_path):
    f = tmp_path / "train.log"
    f.write_bytes(os.urandom(5000))
    with pytest.raises(LogReadError, match="binary"):
        read_run(f)
    for fmt in ("tensorboard", "wandb", "mlflow", "jsonl", "hf"):
        with pytest.raises(LogReadError):
            read_run(f, format=fmt)


def test_text_without_metrics(tmp_path):
    f = tmp_path / "out.txt"
    f.write_text("hello\nworld\n")
    with pytest.raises(LogReadError, match="no metrics found"):
        read_run(f)


def test_non_utf8_bytes_are_tolerated_and_noted(tmp_path):
    f = tmp_path / "train.log"
    f.write_bytes(b"step 1 loss 0.5\n\xff\xfe caf\xe9 step 2 loss 0.4\nstep 3 loss 0.3\n")
    run = read_run(f)
    assert run.series["loss"].values == [0.5, 0.4, 0.3]
    assert any("non-UTF-8" in n for n in run.skipped)


def test_nan_and_inf_values_are_data(tmp_path):
    f = tmp_path / "train.log"
    f.write_text("".join(f"step {i} loss {1 / (i + 1)}\n" for i in range(30)) + "step 30 loss nan\nstep 31 loss inf\n")
    run = read_run(f)
    vals = run.series["loss"].values
    assert math.isnan(vals[30]) and vals[31] == math.inf
    r = diagnose(run)
    assert r.verdict == "broken" and r.symptoms[0].id == "nan-loss" and r.symptoms[0].step == 30
    s = summarize(run, max_points=5)
    pts = s["metrics"]["loss"]["points"]
    assert "nan" in pts["values"] and pts["total"] == 32
    json.dumps(s)  # NaN is serialized as a string, never as invalid JSON
    json.dumps(r.model_dump(mode="json"))


def test_repeated_and_backwards_steps_keep_last_write(tmp_path):
    f = tmp_path / "train.log"
    lines = [f"step {i} loss 1.0" for i in range(10)] + [f"step {i} loss 0.5" for i in range(5, 12)]
    f.write_text("\n".join(lines) + "\n")
    run = read_run(f)
    assert run.series["loss"].steps == list(range(12))
    assert run.series["loss"].values == [1.0] * 5 + [0.5] * 7
    assert any("backwards" in n and "kept the last write" in n for n in run.skipped)


def test_summary_never_cuts_silently_and_pages(tmp_path):
    f = tmp_path / "train.log"
    f.write_text("".join(f"step {i} loss {1000 - i}\n" for i in range(1000)))
    run = read_run(f)
    s = summarize(run, max_points=10)["metrics"]["loss"]["points"]
    assert s["total"] == 1000 and s["shown"] >= 10 and s["sampled"] and f"{s['shown']} of 1000 points" in s["note"]
    assert s["steps"][0] == 0 and s["steps"][-1] == 999
    page = summarize(run, max_points=100, offset=900, metric="loss")["series"]
    assert page["steps"] == list(range(900, 1000)) and page["next_offset"] is None
    page = summarize(run, max_points=100, offset=0, metric="loss")["series"]
    assert page["next_offset"] == 100 and page["note"] == "points 0..99 (100 of 1000)"
    with pytest.raises(LogReadError, match="did you mean"):
        summarize(run, metric="los")


def test_plot_writes_png(tmp_path):
    pytest.importorskip("matplotlib")
    from traintriage.logs import plot_run

    f = tmp_path / "train.log"
    f.write_text("".join(f"step {i} loss {1 / (i + 1)} lr 1e-3\n" for i in range(50)))
    run = read_run(f)
    out = plot_run(run, tmp_path / "p.png", report=diagnose(run))
    with open(out, "rb") as fh:
        assert fh.read(8) == b"\x89PNG\r\n\x1a\n"


def test_plot_without_matplotlib_names_the_extra(tmp_path):
    code = textwrap.dedent(f"""
        import sys
        sys.modules['matplotlib'] = None
        from traintriage.logs import read_run, plot_run, PlotUnavailable
        p = {str(tmp_path / 'train.log')!r}
        open(p, 'w').write('step 1 loss 1\\nstep 2 loss 0.5\\n')
        try:
            plot_run(read_run(p), p + '.png')
        except PlotUnavailable as e:
            print(e)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert "pip install 'traintriage[plot]'" in out.stdout


def _verbose_log(path, mb: int) -> int:
    """A verbose training log of about `mb` MB (a metric line every 50 lines); returns the metric lines."""
    noise = "2024-05-01 12:00:00,123 INFO dataloader worker 3 prefetched batch; queue depth 7 of 8, ok\n" * 49
    i = 0
    with path.open("w") as fh:
        while fh.tell() < mb * 1024 * 1024:
            block = []
            for _ in range(200):
                block.append(noise)
                block.append(f"step {i} loss {1.0 / (1 + i * 1e-4):.6f} lr 3e-4\n")
                i += 1
            fh.write("".join(block))
    return i


def _peak_rss_kb(path) -> tuple[int, dict]:
    """Peak RSS of a fresh process that reads and diagnoses one log (what `traintriage logs` holds), and its
    result. The peak includes the interpreter, numpy and one block's buffers: the same for any file size."""
    code = textwrap.dedent(f"""
        import resource, json
        from traintriage.logs import diagnose, read_run
        run = read_run({str(path)!r})
        diagnose(run)
        s = run.series["loss"]
        print(json.dumps({{"peak_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                          "points": len(s), "last_step": s.steps[-1]}}))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_large_text_log_streams_in_bounded_memory(tmp_path):
    """~200 MB of a verbose log read and diagnosed with the same peak memory as ~20 MB of the same shape.

    The reader holds one 8 MB block at a time and every series keeps a bounded sample (logs/downsample.py), so
    memory does not follow the file. Measured as the peak of a fresh process per file, compared between the two
    sizes: the peak's fixed part (interpreter, numpy, the block's buffers) is what a growth-from-start
    measurement mistook for the file's share."""
    small, big = tmp_path / "small.log", tmp_path / "big.log"
    n_small, n_big = _verbose_log(small, 20), _verbose_log(big, 200)
    rs, rb = _peak_rss_kb(small), _peak_rss_kb(big)
    assert rs["last_step"] == n_small - 1 and rb["last_step"] == n_big - 1
    assert rb["points"] <= n_big
    # bounded: 10x the bytes, at most 1.5x the peak (issue 15's goal); a whole-file read would be >= 10x
    assert rb["peak_kb"] <= 1.5 * rs["peak_kb"], (rs, rb)

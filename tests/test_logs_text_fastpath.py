"""The text reader's vectorized block path (numpy) must give exactly what the line-by-line path gives."""

from __future__ import annotations

import math
import random
import re
from pathlib import Path

import pytest
from traintriage.logs import read_run
from traintriage.logs.readers import text, text_grammar, text_template, text_vectorized

np = pytest.importorskip("numpy")

DATA = Path(__file__).parent / "data" / "logs"


def _kv_line(rnd: random.Random, i: int, step: int, loss: str) -> str:
    """The key=value style (values with a literal prefix / suffix in their token), or a near miss of it."""
    r = rnd.random()
    acc = f"{rnd.random():.4f}"
    if r < 0.6:
        return f"Epoch {i // 100} | global_step={step} | loss={loss} | top1_acc={acc}, ok"
    return rnd.choice([
        f"Epoch {i // 100} | global_step={step} | loss={loss} | top1_accuracy={acc}, ok",
        f"Epoch {i // 100} | global_step={step} | loss={loss} | top1_acc={acc} ok",
        f"Epoch {i // 100} | global_step={step} | loss={loss} | top1_acc={acc}; ok",
        f"Epoch {i // 100} | global_step={step} | loss= | top1_acc={acc}, ok",
        f"Epoch {i // 100} | global_step={step} | loss={loss} | top1_acc=, ok",
        f"Epoch {i // 100} | global_step={step} | loss=={loss} | top1_acc={acc}, ok",
        f"Epoch {i // 100} | global_step={step} | loss={loss} | top1_acc={acc}, okay",
        f"Epoch {i // 100} || global_step={step} | loss={loss} | top1_acc={acc}, ok",
        f"Epoch {i // 100} | global_step={step}.5 | loss={loss} | top1_acc={acc}, ok",
        f"Epoch {i // 100} | global_step={step} | loss={loss} | top1_acc={acc},ok",
    ])


def _mixed_log(seed: int, kv: bool = False) -> bytes:
    """Template lines broken up by everything that must leave the template: other word tokens (top5_acc,
    top1_accuracy, INFOS), nan/inf, odd number spellings, non-UTF-8 bytes, backwards steps, other formats,
    noise, blank and \\r lines."""
    rnd = random.Random(seed)
    out = []
    step = 0
    for i in range(3000):
        r = rnd.random()
        loss = rnd.choice([f"{rnd.random():.5f}", repr(rnd.uniform(0, 3)), f"{rnd.random():.3e}", "1.", ".5",
                           "+0.25", "-0.0", "0012", "1e-0022", "9007199254740993", "1234567890123456789012",
                           "nan", "inf", "-Infinity", "1e400", "2.5E+3", "1e", "1.2.3", "-", "0x1F"])
        if kv and r < 0.6:
            out.append(_kv_line(rnd, i, step, loss))
            step += 1
        elif r < 0.5:
            out.append(f"2024-05-01 12:00:{i % 60},123 INFO step {step} | loss {loss} | lr 3.0e-04 | "
                       f"top1_acc {rnd.random():.4f}")
            step += 1
        elif r < 0.52:  # same layout, a longer word: never the template's top1_acc / INFO
            word = rnd.choice(["top1_accuracy", "top1_acc_ema", "top1_ac"])
            info = rnd.choice(["INFOS", "INFO", "INF"])
            out.append(f"2024-05-01 12:00:00,123 {info} step {step} | loss {loss} | lr 3.0e-04 | {word} 0.{i}")
            step += 1
        elif r < 0.6:  # same layout, other key: never the template's top1_acc
            out.append(f"2024-05-01 12:00:00,123 INFO step {step} | loss {loss} | lr 3.0e-04 | top5_acc 0.{i}")
            step += 1
        elif r < 0.63:  # a resumed run: steps go backwards
            step = max(0, step - rnd.randint(1, 50))
            out.append(f"2024-05-01 12:00:00,123 INFO step {step} | loss {loss} | lr 3e-4 | top1_acc 0.5")
        elif r < 0.66:
            out.append(f"2024-05-01 12:00:00,123 INFO step {step} | loss {loss} | lr 3.0e-04 | top1_acc 0.{i}xyz")
        elif r < 0.69:
            out.append(f"step {step} | loss {loss} | lr 1e-3")
            step += 1
        elif r < 0.72:
            out.append(f"Epoch {i // 100} [{i % 100}/500] loss: {loss}")
        elif r < 0.75:
            out.append(f"{{'loss': '{loss}', 'learning_rate': '5e-05', 'epoch': '{i / 100}'}}")
        elif r < 0.78:
            out.append(f"Epoch {i // 500}:  {i % 100}%|###  | {i % 100}/100 [00:02<00:03, loss={loss}, v_num=1]")
        elif r < 0.8:
            out.append(f"2024-05-01 12:00:00,123 INFO step {step} | loss \xe9{loss} | lr 3.0e-04 | top1_acc 0.1")
        elif r < 0.82:
            out.append(f"2024-05-01 12:00:00,123 INFO step {step}.0 | loss {loss} | lr 3.0e-04 | top1_acc 0.1")
        elif r < 0.84:
            out.append(f"2024-05-01 12:00:00,123 INFO step {step} | loss {loss} | lr 3.0e-04 | top1_acc 0.1 | x")
        elif r < 0.86:
            out.append(f"2024-05-01\t12:00:00,123  INFO step {step} |\tloss {loss} | lr 3.0e-04 | top1_acc 0.7  ")
        elif r < 0.88:
            out.append("")
        elif r < 0.9:
            out.append(f"iter {step}: loss {loss}, time 30.12ms\r")
        else:
            out.append(f"2024-05-01 12:00:00,123 INFO worker {i % 4} prefetched batch; queue depth 7 of 8")
    data = "\n".join(out).encode("utf-8") + b"\n"
    return data.replace("\xe9".encode(), b"\xe9", 7)  # a few raw latin-1 bytes


def _read(path: Path, vectorized: bool, monkeypatch):
    monkeypatch.setattr(text, "VECTORIZED", vectorized)
    return read_run(path, format="text")


def _same(a, b):
    assert a.skipped == b.skipped
    assert a.metadata == b.metadata
    assert list(a.series) == list(b.series)  # same order too
    for name, s in a.series.items():
        t = b.series[name]
        assert s.steps == t.steps, name
        assert len(s.values) == len(t.values), name
        for x, y in zip(s.values, t.values, strict=True):  # bit-identical (nan == nan, -0.0 != 0.0)
            assert (math.isnan(x) and math.isnan(y)) or (x == y and math.copysign(1, x) == math.copysign(1, y)), name


@pytest.mark.parametrize("block", [1 << 20, 4096, 331])
@pytest.mark.parametrize("seed,kv", [(0, False), (1, False), (2, True)])
def test_vectorized_path_equals_line_by_line(tmp_path, monkeypatch, block, seed, kv):
    f = tmp_path / "mixed.log"
    f.write_bytes(_mixed_log(seed, kv))
    monkeypatch.setattr(text, "BLOCK", block)
    slow = _read(f, False, monkeypatch)
    fast = _read(f, True, monkeypatch)
    _same(fast, slow)
    assert "top1_acc" in fast.series and ("top1_accuracy" in fast.series) and ("top5_acc" in fast.series) != kv
    assert any(math.isnan(v) for v in fast.series["loss"].values)
    assert any("backwards" in n for n in fast.skipped) and any("non-UTF-8" in n for n in fast.skipped)


@pytest.mark.parametrize("name", ["hf_trainer_stdout.txt", "lightning_progress.txt"])
def test_vectorized_path_equals_line_by_line_on_real_logs(tmp_path, monkeypatch, name):
    f = tmp_path / name
    f.write_bytes((DATA / name).read_bytes() * 3)
    _same(_read(f, True, monkeypatch), _read(f, False, monkeypatch))


def test_template_rejects_other_word_tokens(tmp_path):
    f = tmp_path / "train.log"
    lines = [f"step {i} top1_acc 0.{i}" if i % 3 else f"step {i} top5_acc 0.{i}" for i in range(1, 3000)]
    f.write_text("\n".join(lines) + "\n")
    run = read_run(f)
    assert run.series["top1_acc"].steps == [i for i in range(1, 3000) if i % 3]
    assert run.series["top5_acc"].steps == [i for i in range(1, 3000) if not i % 3]


def _tokens(rnd: random.Random, n: int) -> list[bytes]:
    def one() -> str:
        r = rnd.random()
        if r < 0.3:
            return repr(rnd.uniform(-1e3, 1e3) * 10 ** rnd.randint(-25, 25))
        if r < 0.5:
            return f"{rnd.random():.{rnd.randint(0, 14)}f}"
        if r < 0.6:
            return str(rnd.randint(-(10 ** rnd.randint(0, 20)), 10 ** rnd.randint(0, 20)))
        if r < 0.7:
            return f"{rnd.random() * 10:.{rnd.randint(0, 6)}e}".replace("e", rnd.choice("eE"))
        return "".join(rnd.choice("0123456789.eE+-x_n") for _ in range(rnd.randint(1, 30)))

    edge = ["1.", ".5", "+.5", "-.5", ".", "-", "+", "e5", "1e", "1e+", "1.e5", "1.5e-3", "-0", "-0.0", "00012",
            "1e-0022", "1e22", "1e23", "9007199254740993", "9007199254740992", "123456789012345678",
            "1234567890123456789", "99999999999999999999999", "1e99999", "1e-99999999999999999999", "nan", "inf",
            "1..2", "1e5.5", "--1", "+-1", "0.000000000000000000001", "1_000"]
    return [t.encode() for t in edge] + [one().encode() for _ in range(n)]


def test_bulk_number_parser_matches_float():
    """Rows _numbers calls exact hold float(token) bit for bit and are what _NUM matches (finite form);
    is_int rows hold int(float(token)). Every other row is left to the one-by-one conversion."""
    toks = _tokens(random.Random(3), 50_000)
    data = b" ".join(toks) + b" "
    buf = np.frombuffer(data + b"\0" * 64, np.uint8)
    lens = np.array([len(t) for t in toks])
    s = np.concatenate(([0], np.cumsum(lens + 1)[:-1]))
    vals, exact, ints, is_int = text_vectorized._numbers(np, buf, s, s + lens)
    finite = re.compile(rb"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?\Z")
    for i, t in enumerate(toks):
        if exact[i]:
            assert finite.match(t), t
            x = float(t)
            assert vals[i] == x and math.copysign(1, vals[i]) == math.copysign(1, x), t
        if is_int[i]:
            assert re.fullmatch(rb"[-+]?\d+", t) and int(ints[i]) == int(float(t)), t
    # most ordinary numbers take the bulk path
    short = [i for i, t in enumerate(toks) if finite.match(t) and len(t) <= 17 and b"e" not in t.lower()]
    assert exact[short].mean() > 0.95
    assert exact.sum() > 20_000 and is_int.sum() > 2_000


@pytest.mark.parametrize(
    "fmt",
    [
        "2024-05-01 12:00:{s:02d},123 INFO step {i} | loss {v:.5f} | lr 3.0e-04 | grad_norm 0.5",
        "step {i} | loss {v:.5f} | lr 1e-3",
        "iter {i}: loss {v:.4f}, time {s}.12ms, mfu 12.{s}%",
        "Epoch 1 | global_step={i} | loss={v} | acc=0.9",
    ],
)
def test_template_lines_take_the_vectorized_path(tmp_path, monkeypatch, fmt):
    """Lines of the learned layout (digit runs in timestamps and counters vary) are not parsed one by one."""
    f = tmp_path / "train.log"
    f.write_text("".join(fmt.format(i=i, s=i % 60, v=1 / (i + 1)) + "\n" for i in range(5000)))
    calls = []
    parse = text_grammar._parse
    monkeypatch.setattr(text_grammar, "_parse", lambda line, st: calls.append(line) or parse(line, st))
    run = read_run(f, format="text")
    assert run.series["loss"].steps == list(range(5000))
    assert run.series["loss"].values[-1] == pytest.approx(1 / 5000)
    assert len(calls) < 10, calls[:5]


def test_token_patterns_match_like_the_template_regex():
    """A token whose digit runs may vary (timestamps, counters) is matched as the template regex matches it."""
    rnd = random.Random(5)
    alphabet = b"0123456789:,.-/[]<>?;=abc\xe9"
    templates = [b"2024-05-01", b"12:00:05,123", b"[100/500]", b"7", b"v2.10", b"x" * 9 + b"12345678901234567"]
    templates += [bytes(rnd.choice(alphabet) for _ in range(rnd.randint(1, 20))) for _ in range(40)]
    for t in templates:
        elements: list[int] = []
        for c in t:
            if 48 <= c <= 57:
                if not elements or elements[-1] != -1:
                    elements.append(-1)
            else:
                elements.append(c)
        if -1 not in elements:
            continue
        rx = re.compile(text_template._literal(t) + rb"\Z")
        cands = [t, t + b"0", b"0" + t, t[:-1], t.replace(b"0", b"00"), t.replace(b"1", b":"), t.replace(b"2", b"?")]
        for _ in range(200):  # mutate a few bytes, keep the length, or re-draw digit runs
            c = bytearray(t)
            for _ in range(rnd.randint(1, 2)):
                c[rnd.randrange(len(c))] = rnd.choice(alphabet)
            cands.append(bytes(c))
            cands.append(re.sub(rb"\d+", lambda m: str(rnd.randint(0, 10 ** rnd.randint(1, 4))).encode(), t))
        data = b" ".join(cands) + b"\n"
        buf = np.frombuffer(data + b"\0" * (len(t) + 64), np.uint8)
        u64 = np.ndarray((len(data) + len(t) + 40,), "<u8", buf.tobytes(), 0, (1,))
        lens = np.array([len(c) for c in cands])
        s = np.concatenate(([0], np.cumsum(lens + 1)[:-1]))
        ok = np.ones(len(cands), bool)
        text_vectorized._Pattern(np, 0, t, elements).match(np, buf, u64, s, s + lens, ok)
        assert ok.tolist() == [bool(rx.match(c)) for c in cands], t


def _random_layout_log(seed: int) -> bytes:
    """Made-up layouts from a few words, separators and values: keys printed twice on a line, two step keys,
    counters and timestamps, values that are not numbers."""
    rnd = random.Random(seed)
    words = ["step", "loss", "lr", "acc", "top1_acc", "top5_acc", "iter", "global_step", "|", ":", "=", "INFO",
             "12:00:01", "[1/5]", "ms", "epoch", "v2", "x1y"]
    layouts = []
    for _ in range(rnd.randint(1, 4)):
        toks = []
        for _ in range(rnd.randint(2, 8)):
            w = rnd.choice(words)
            toks.append(w + rnd.choice([" ", "=", ": "]) + "{}" if rnd.random() < 0.6 else w)
        layouts.append(" ".join(toks))
    out = []
    for i in range(rnd.randint(50, 800)):
        layout = rnd.choice(layouts)
        vals = [rnd.choice([str(i), f"{rnd.random():.4f}", "nan", "1e-3", str(rnd.randint(0, 99)), f"12:0{i % 10}",
                            "-", "0.5ms"]) for _ in range(layout.count("{}"))]
        line = layout.format(*vals)
        if rnd.random() < 0.05:
            line = "  " + line
        if rnd.random() < 0.05:
            line = line.replace(" ", "\t", 1)
        out.append(line)
    return ("\n".join(out) + "\n").encode()


@pytest.mark.parametrize("seed", range(12))
def test_vectorized_path_equals_line_by_line_on_random_layouts(tmp_path, monkeypatch, seed):
    f = tmp_path / "random.log"
    f.write_bytes(_random_layout_log(seed))
    for block in (1 << 20, 1000, 97):
        monkeypatch.setattr(text, "BLOCK", block)
        try:
            slow = _read(f, False, monkeypatch)
        except text.LogReadError:
            with pytest.raises(text.LogReadError):
                _read(f, True, monkeypatch)
            continue
        _same(_read(f, True, monkeypatch), slow)


def test_key_twice_on_a_line_and_two_step_keys(tmp_path, monkeypatch):
    f = tmp_path / "train.log"
    f.write_text("".join(f"iter {i} step {10 * i} | lr 1e-3 | lr {i}e-4 | loss {1 / (i + 1)}\n" for i in range(3000)))
    fast = _read(f, True, monkeypatch)
    _same(fast, _read(f, False, monkeypatch))
    assert fast.series["loss"].steps == list(range(0, 30000, 10))  # the last step key, as the line parser does
    assert fast.series["lr"].values[:3] == [0.0, 1e-4, 2e-4]  # the last write per step

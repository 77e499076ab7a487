"""The bulk number parse (logs/readers/_numbers.py) gives CPython's float() / json.loads value bit for bit on every
token it accepts, rejects what those would read differently or not at all, and accepts nearly every number a
writer prints (repr of a float, %g/%e/%f formats, ints)."""

from __future__ import annotations

import json
import math
import random

import numpy as np
import pytest
from traintriage.logs.readers import _numbers


def _parse(toks: list[bytes], *, as_json: bool):
    data = b",".join(toks) + b","
    buf = _numbers.pad(np, data)
    lens = np.array([len(t) for t in toks], np.int64)
    ends = np.cumsum(lens + 1) - 1 + _numbers.PAD
    return _numbers.parse(np, buf, ends - lens, ends, json=as_json)


def _reference(tok: bytes, *, as_json: bool):
    """What the one-by-one paths read: json.loads (a number, not a bool), or float() of the stripped text."""
    try:
        if as_json:
            v = json.loads(tok)
            return v if isinstance(v, (int, float)) and not isinstance(v, bool) else None
        return float(tok.decode("ascii").strip())
    except (ValueError, UnicodeDecodeError):
        return None


def _same(u: float, v: float) -> bool:
    return u == v and math.copysign(1, u) == math.copysign(1, v)


def _tokens(rng: random.Random, n: int) -> list[bytes]:
    out = []
    for _ in range(n):
        x = rng.random() * 10.0 ** rng.randint(-30, 30) * rng.choice((1, -1))
        k = rng.random()
        if k < 0.4:
            s = repr(x)
        elif k < 0.55:
            s = f"{x:.{rng.randint(0, 20)}e}"
        elif k < 0.65:
            s = f"{x:.{rng.randint(0, 25)}f}"[:30]
        elif k < 0.7:
            s = f"{x:g}"
        elif k < 0.8:
            s = str(rng.randint(-10 ** rng.randint(0, 21), 10 ** rng.randint(0, 21)))
        else:  # the grammar's corners: signs, dots, exponents, whitespace, letters, underscores
            s = "".join(rng.choice("0123456789.eE+- \t_nafix") for _ in range(rng.randint(0, 8)))
        if rng.random() < 0.2:
            s = " " * rng.randint(0, 2) + s + rng.choice(["", " ", "\t", "\r"])
        out.append(s.encode())
    return out


@pytest.mark.parametrize("as_json", [True, False])
@pytest.mark.parametrize("x87", [True, False])
def test_accepted_tokens_read_as_cpython_reads_them(as_json, x87, monkeypatch):
    if x87 and not _numbers._x87(np):
        pytest.skip("long double is not x87 extended here")
    monkeypatch.setitem(_numbers._K, "x87", x87)  # False: the float64-only (Clinger) path other platforms take
    toks = _tokens(random.Random(7), 60_000)
    got = _parse(toks, as_json=as_json)
    accepted = 0
    for i, t in enumerate(toks):
        if not got.ok[i]:
            continue
        accepted += 1
        ref = _reference(t, as_json=as_json)
        assert ref is not None, t
        assert _same(float(ref), float(got.value[i])), (t, ref, got.value[i])
        if as_json:
            assert bool(got.integer[i]) == isinstance(ref, int), t
        if got.int_ok[i]:  # the integer literal's exact value (steps)
            assert int(got.int_value[i]) == int(t), t
    assert accepted > 20_000


def test_nearly_every_written_number_is_accepted():
    """repr() of floats across the ranges logs hold, %.4f, %e and ints: the one-by-one fallback stays rare."""
    rng = random.Random(3)
    toks = [repr(rng.random() * 10.0 ** rng.randint(-9, 4)).encode() for _ in range(20_000)]
    toks += [f"{rng.random():.4f}".encode() for _ in range(2000)] + [b"%e" % rng.random() for _ in range(2000)]
    toks += [str(rng.randrange(10**12)).encode() for _ in range(2000)]
    got = _parse([b" " + t for t in toks], as_json=True)
    assert got.ok.mean() > 0.995
    want = np.array([float(t) for t in toks])
    assert (got.value[got.ok] == want[got.ok]).all()


@pytest.mark.parametrize("tok,json_value,float_value", [
    (b"1.5", 1.5, 1.5),
    (b" 1.5", 1.5, 1.5),
    (b" 1.5  ", 1.5, 1.5),
    (b"-0", 0.0, -0.0),  # json.loads gives the int 0 (float(0) is +0.0); float("-0") is -0.0
    (b"-0.0", -0.0, -0.0),
    (b"0", 0.0, 0.0),
    (b"1E+05", 1e5, 1e5),
    (b"2.5e-3", 2.5e-3, 2.5e-3),
    (b"1.", None, 1.0),  # a dot needs digits after it in JSON
    (b".5", None, 0.5),
    (b"+1", None, 1.0),  # JSON has no '+' before a number
    (b"01", None, 1.0),  # nor leading zeros
    (b"-", None, None),
    (b".", None, None),
    (b"1e", None, None),
    (b"1e+", None, None),
    (b"e5", None, None),
    (b"1.2.3", None, None),
    (b"1e5e5", None, None),
    (b"1e5.5", None, None),
    (b"--1", None, None),
    (b"1-2", None, None),
    (b"1 2", None, None),
    (b"- 1", None, None),
    (b"", None, None),
    (b"  ", None, None),
])
def test_grammar_edges(tok, json_value, float_value):
    for as_json, want in ((True, json_value), (False, float_value)):
        got = _parse([tok], as_json=as_json)
        assert bool(got.ok[0]) == (want is not None), (tok, as_json)
        if want is not None:
            assert _same(float(got.value[0]), want), (tok, as_json)


@pytest.mark.parametrize("tok", [b"1.5\t", b"\r1", b"nan", b"NaN", b"inf", b"-Infinity", b"1_0", b"0x10", b"1,5", b'"1"', b"true",
                                 b"\xc2\xa01", b"1e999", b"1e-400", b"9" * 25, b"1" + b"0" * 40])
def test_tokens_left_to_the_one_by_one_path(tok):
    """What float() reads in its own way (nan, inf, underscores), what overflows the exact range, and whitespace
    other than spaces: flagged, never guessed at."""
    for as_json in (True, False):
        assert not _parse([tok], as_json=as_json).ok[0], tok


def test_rounding_edge_cases():
    """Numbers whose correct rounding needs more than double precision: either read exactly or flagged."""
    toks = [b"9007199254740993", b"9007199254740995", b"9007199254740992.5", b"1.00000000000000011102230246251565",
            b"0.30000000000000004", b"2.2250738585072014e-10", b"8.5e-301", b"123456789012345678.9",
            b"4.35679549e-12", b"9999999999999999999", b"18446744073709551615", b"7.038531e-26"]
    got = _parse(toks, as_json=False)
    for i, t in enumerate(toks):
        if got.ok[i]:
            assert _same(float(got.value[i]), float(t)), t
    assert not got.ok[0]  # 2**53 + 1 is a midpoint between two doubles: flagged, float() rounds it to even


def test_integers_are_exact_int64():
    toks = [b"0", b"-0", b"7", b"-12", b"9007199254740993", b"9223372036854775807", b"9223372036854775808",
            b"-9223372036854775807", b"1.0", b"1e3"]
    got = _parse(toks, as_json=True)
    ints = {t: int(v) for t, v, ok in zip(toks, got.int_value, got.int_ok, strict=True) if ok}
    assert ints == {b"0": 0, b"-0": 0, b"7": 7, b"-12": -12, b"9007199254740993": 9007199254740993,
                    b"9223372036854775807": 9223372036854775807, b"-9223372036854775807": -9223372036854775807}
    assert list(got.integer) == [True] * 8 + [False, False]


def test_runs_of_equal_tokens_read_as_each_one_alone():
    """A column with runs of equal cells (a constant learning rate, an epoch counter, '1.5' next to '1.50') is
    parsed once per run, with the values and flags each token has alone."""
    rng = random.Random(5)
    toks = []
    while len(toks) < 30_000:
        t = rng.choice([b"0.0003", b"3e-4", b"7", b"-0", b"1.5", b"1.50", b" 1.5", b"nan", b"1_0", b"",
                        repr(rng.random()).encode()])
        toks += [t] * rng.choice([1, 1, 2, 50, 700])
    for as_json in (True, False):
        got = _parse(toks, as_json=as_json)
        alone = {t: _parse([t], as_json=as_json) for t in set(toks)}
        for i, t in enumerate(toks):
            one = alone[t]
            assert bool(got.ok[i]) == bool(one.ok[0]) and bool(got.int_ok[i]) == bool(one.int_ok[0]), t
            assert bool(got.integer[i]) == bool(one.integer[0]), t
            if got.ok[i]:
                assert _same(float(got.value[i]), float(one.value[0])), t
                assert _same(float(got.value[i]), float(_reference(t, as_json=as_json))), t
            if got.int_ok[i]:
                assert int(got.int_value[i]) == int(one.int_value[0]), t

"""Decimal number tokens of a byte buffer converted in bulk, with numpy, to the very float (or int) CPython gives:
`float(token)` (CSV cells) or `json.loads(token)` (JSON), without a Python object per number.

A token is a slice [start, end) of the buffer. The parse proves a token matches a plain decimal grammar, then
computes its value; every token it cannot prove is flagged (`ok` False) for the caller's one-by-one path:
- grammar: optional spaces, an optional sign, digits with at most one '.', an optional exponent ('e'/'E',
  optional sign, digits), optional spaces (a tab or \\r: flagged). JSON: the sign is '-' only, the integer part
  is '0' or starts with 1-9, a '.' has digits on both sides. Python's float(): '+' too, '1.', '.5', '01'.
  Everything else ('nan', 'inf', '1_0', '0x10', quotes, inner spaces) is flagged, never guessed at.
- value: the mantissa's digits as an exact uint64 m (at most 19 significant digits) and a power of ten e
  (|e| <= MAX_POW10); x = m * 10**e is computed once in x87 extended precision (64-bit significand: m and 10**e
  are exact operands, one rounding) and rounded to float64. Rounding twice gives the correctly rounded double
  unless the extended result lies exactly on a midpoint between two doubles (the only case where the second
  rounding can go the wrong way; proof: every midpoint is on the extended grid, so the exact x and its
  extended rounding lie on the same side of every other midpoint); such tokens are flagged. CPython rounds
  correctly (dtoa.c), so the two agree. Where long double is not x87 extended (Windows, macOS arm64,
  aarch64 Linux's binary128), only m < 2**53 and |e| <= 22 are computed (Clinger's fast path: both operands
  exact in float64, one rounding); the rest is flagged. A pass of tokens all within Clinger's path takes it
  everywhere (float64 is cheaper than long double).
The x87 path is checked against float() on first use (`_self_test`); if the arithmetic differs (another
precision mode set in the process), the Clinger path is used instead.
"""

from __future__ import annotations

# Widest token (whitespace included) looked at, a window of three 8-byte lanes: repr() of a float is at most 24
# characters ('-1.2345678901234567e-100'), and 23 with the space json.dumps puts before it in all but extremes.
WIDTH = 24
# Widest digit run (integer part, fraction, exponent) read: three 8-digit SWAR groups.
DIGITS = 24
# Bytes of padding before and after a block, so every window gathered around a token stays in the buffer.
PAD = 32
# |exponent| up to which 10**e is exact in a 64-bit significand (5**27 < 2**64 < 5**28).
MAX_POW10 = 27
# Clinger's fast path in float64: 10**22 is the largest power of ten exact in a double; m exact below 2**53.
CLINGER_POW10, CLINGER_M = 22, 1 << 53

# Tokens parsed per numpy pass: the per-call cost is amortized, and the temporaries (a few tens of bytes per
# token) stay in the L2 cache and in the heap (at 32k the large temporaries are mmapped afresh each pass:
# 1-2 s of page faults per 200 MB); 4k: 1.5x the CPU time (the per-call cost).
CHUNK = 8192
# Share of a pass's tokens that must repeat the token before them for runs of equal tokens to be parsed once:
# comparing a token with the one before costs a few ns, parsing one about a hundred.
REPEATS = 0.25

_K: dict = {}  # constants made on first use (numpy arrays), and the self-test's verdict


def pad(np, chunk: bytes):  # noqa: ANN001, ANN201 - numpy; a uint8 array
    """The block as uint8 with PAD zero bytes on both sides (token offsets into it are offsets in chunk + PAD)."""
    buf = np.zeros(len(chunk) + 2 * PAD, np.uint8)
    buf[PAD : PAD + len(chunk)] = np.frombuffer(chunk, np.uint8)
    return buf


def _consts(np):  # noqa: ANN001, ANN202
    k = _K.get("c")
    if k is None:
        u = np.uint64
        lanes = DIGITS // 8
        k = _K["c"] = {
            "mag": u(0x0102040810204080),  # bytes 0/1 -> their bits in the top byte (movemask)
            "one": u(1), "s56": u(56),
            "zeros": u(0x3030303030303030),  # '0' x 8
            "m0f": u(0x0F0F0F0F0F0F0F0F), "m00ff": u(0x00FF00FF00FF00FF), "m0000ffff": u(0x0000FFFF0000FFFF),
            "k1": u(2561), "k2": u(6553601), "k3": u(42949672960001), "s8": u(8), "s16": u(16), "s32": u(32),
            # junk[c]: the bytes of a right-aligned DIGITS-byte window before its last c (the digits), per lane
            "junk": np.array([[(1 << (8 * min(max(DIGITS - c - j, 0), 8))) - 1 for j in range(0, DIGITS, 8)]
                              for c in range(DIGITS + 1)], np.uint64).view(f"V{8 * lanes}").ravel(),
            "junk8": np.array([(1 << (8 * (8 - c))) - 1 if c < 8 else 0 for c in range(9)], np.uint64),
            "p10u": np.array([10**i for i in range(20)], np.uint64),
            "e8": u(10**8), "e16": u(10**16),
            "lowbits": np.array([(1 << i) - 1 for i in range(WIDTH + 1)], np.uint64),
        }
        ld = np.longdouble
        if np.finfo(ld).nmant >= 63:
            k["p10ld"] = np.array([ld(5**i) for i in range(MAX_POW10 + 1)], ld) * np.ldexp(
                ld(1), np.arange(MAX_POW10 + 1))
        k["p10d"] = np.array([10.0**i for i in range(CLINGER_POW10 + 1)])
    return k


def _movemask(np, b, k):  # noqa: ANN001, ANN202
    """(n, WIDTH) bool -> uint64 bit masks (bit i = column i)."""
    lanes = b.view(np.uint64)  # (n, 3): WIDTH is three lanes
    lanes *= k["mag"]  # each lane's 8 bytes as 8 bits in its top byte
    lanes >>= k["s56"]  # (scalar operands: an operand per lane would make numpy loop per row)
    mask = lanes[:, 1] << k["s8"]
    mask |= lanes[:, 2] << k["s16"]
    mask |= lanes[:, 0]
    return mask


def _bitlen(np, x):  # noqa: ANN001, ANN202
    """Bits needed for each x (x < 2**53: exact as a double, whose exponent field is the bit length + 1022)."""
    return np.maximum((x.astype(np.float64).view(np.int64) >> 52) - 1022, 0)


def _swar(lanes, k):  # noqa: ANN001, ANN202
    """8 ASCII digits per uint64 lane (first digit in the low byte) -> their value (Lemire's SWAR parse), in
    place."""
    v = lanes
    v -= k["zeros"]
    v &= k["m0f"]
    v *= k["k1"]
    v >>= k["s8"]
    v &= k["m00ff"]
    v *= k["k2"]
    v >>= k["s16"]
    v &= k["m0000ffff"]
    v *= k["k3"]
    v >>= k["s32"]
    return v


def _digits(np, buf, end, count, k):  # noqa: ANN001, ANN202
    """The integers spelled by the `count` (<= DIGITS) digit bytes ending at each `end` (offsets into buf);
    (value, fits) where fits says the value is < 10**19 (it is then exact)."""
    if int(count.max(initial=0)) <= 8:
        return _digits8(np, buf, end, count, k), None
    win = np.ndarray((buf.size - DIGITS + 1,), dtype=f"V{DIGITS}", buffer=buf, strides=(1,))
    lanes = win[end - DIGITS].view(np.uint64).reshape(end.size, DIGITS // 8)
    jm = k["junk"][count].view(np.uint64).reshape(end.size, DIGITS // 8)
    lanes &= ~jm
    jm &= k["zeros"]
    lanes |= jm
    v = _swar(lanes, k)
    g0 = v[:, 0]
    return g0 * k["e16"] + v[:, 1] * k["e8"] + v[:, 2], g0 < 1000


def _digits8(np, buf, end, count, k):  # noqa: ANN001, ANN202
    """_digits for count <= 8 (one lane)."""
    win = np.ndarray((buf.size - 7,), dtype=np.uint64, buffer=buf, strides=(1,))
    lane = win[end - 8]
    jm = k["junk8"][count]
    lane &= ~jm
    jm &= k["zeros"]
    lane |= jm
    return _swar(lane, k)


class Parsed:
    """Per token: ok (value is CPython's float64 of it), integer (an integer literal: no '.', no exponent),
    int_ok (an integer literal in int64; its float need not be ok) and int_value (its exact value there)."""

    __slots__ = ("ok", "value", "integer", "int_value", "int_ok")

    def __init__(self, np, n: int) -> None:  # noqa: ANN001
        self.ok = np.zeros(n, bool)
        self.value = np.zeros(n)
        self.integer = np.zeros(n, bool)
        self.int_ok = np.zeros(n, bool)
        self.int_value = np.zeros(n, np.int64)


def parse(np, buf, starts, ends, *, json: bool) -> Parsed:  # noqa: ANN001
    """Parse the tokens buf[starts[i]:ends[i]] (offsets into a pad()-ed buffer). json=True: JSON numbers, as
    json.loads reads them (an integer literal is a Python int: its float is float(int), so '-0' is +0.0);
    json=False: float()'s reading of a stripped cell."""
    k = _consts(np)
    starts = np.asarray(starts, np.int64)
    ends = np.asarray(ends, np.int64)
    out = Parsed(np, starts.size)
    win = np.ndarray((buf.size - WIDTH + 1,), dtype=f"V{WIDTH}", buffer=buf, strides=(1,))
    for a in range(0, starts.size, CHUNK):
        s, e = starts[a : a + CHUNK], ends[a : a + CHUNK]
        m = win[s].view(np.uint8).reshape(s.size, WIDTH)  # each token's window
        first = _firsts(np, m, e - s, k)
        if first is None:
            res = _parse(np, buf, m, s, e, json, k)
        else:  # each run of equal tokens parsed once
            u = np.flatnonzero(first)
            back = np.cumsum(first) - 1
            res = [r[back] for r in _parse(np, buf, m[u], s[u], e[u], json, k)]
        at = slice(a, a + s.size)
        out.ok[at], out.value[at], out.integer[at], out.int_ok[at], out.int_value[at] = res
    return out


def _firsts(np, m, length, k):  # noqa: ANN001, ANN202
    """Which tokens differ from the one before them (byte for byte), or None when fewer than REPEATS of them
    repeat it: a pass over a constant learning rate or an epoch counter parses each run of equal cells once."""
    n = length.size
    head = k["junk"][WIDTH - np.minimum(length, WIDTH)]  # a token's bytes, not the window's rest (WIDTH == DIGITS)
    lanes = m.view(np.uint64) & head.view(np.uint64).reshape(n, WIDTH // 8)
    same = (length[1:] == length[:-1]) & (length[1:] <= WIDTH)
    for j in range(WIDTH // 8):
        same &= lanes[1:, j] == lanes[:-1, j]
    if int(np.count_nonzero(same)) < REPEATS * n:
        return None
    first = np.ones(n, bool)
    first[1:] = ~same
    return first


def _parse(np, buf, m, starts, ends, json: bool, k):  # noqa: ANN001, ANN202, C901, PLR0912, PLR0915
    """(ok, value, integer, int_ok, int_value) of one pass's tokens (the fields of Parsed); m: their windows."""
    n = starts.size
    length = ends - starts
    ok = (length > 0) & (length <= WIDTH)
    lc = np.where(ok, length, 0)
    inside = k["lowbits"][lc]

    def cls(b):  # noqa: ANN001, ANN202 - the byte class's bits in each token; None when no token has one
        if not b.any():
            return None
        bits = _movemask(np, b, k)
        bits &= inside
        return bits if bits.any() else None

    # (a class no token holds, such as spaces, signs or exponents in most CSV columns, costs a test or two)
    dig = cls((m - np.uint8(48)) < 10)
    d = cls(m == 46)
    e = cls((m | np.uint8(32)) == 101)
    s = cls((m == 45) | (m == 43))
    ws = cls(m == 32)  # (a tab or \r is left to the one-by-one path)
    one = k["one"]
    known = inside & 0
    for c in (dig, d, e, s, ws):
        if c is not None:
            known |= c
    ok &= inside == known  # nothing else
    if ws is None:
        lo, hi = np.zeros(n, np.int64), lc
    else:
        nonws = inside & ~ws
        ok &= nonws != 0
        lo = np.maximum(_bitlen(np, nonws & (~nonws + one)) - 1, 0)  # the first byte that is not whitespace
        hi = _bitlen(np, nonws)  # one past the last
        core = k["lowbits"][hi] & ~k["lowbits"][lo]
        ok &= (ws & core) == 0
        e, d, s = (c & core if c is not None else None for c in (e, d, s))
    if e is not None:
        ok &= (e & (e - one)) == 0
    if d is not None:
        ok &= (d & (d - one)) == 0
        if e is not None:
            ok &= (e == 0) | (d < e)
    rows = np.arange(0, n * WIDTH, WIDTH, dtype=np.int64)
    flat = m.ravel()
    has_sign = negative = None
    if s is not None:
        lead = one << lo.astype(np.uint64)
        ok &= (s & ~(lead | (e << one) if e is not None else lead)) == 0  # first, or after the exponent mark
        has_sign = (s & lead) != 0
        negative = has_sign & (flat[rows + lo] == 45)
        if json:
            ok &= ~has_sign | negative  # JSON has no '+' before a number
    has_e = e is not None and bool(e.any())
    pe = np.where(e != 0, _bitlen(np, e) - 1, hi) if has_e else hi  # the exponent mark, or the end
    has_d = d is not None and bool(d.any())
    pd = np.where(d != 0, _bitlen(np, d) - 1, pe) if has_d else pe  # the dot, or where the integer part ends
    ia = lo + has_sign if has_sign is not None else lo
    li = pd - ia  # integer digits
    lf = np.where(d != 0, pe - pd - 1, 0) if has_d else None  # fraction digits
    if json:
        ok &= li >= 1
        if has_d:
            ok &= (d == 0) | (lf >= 1)
        ok &= (li <= 1) | (flat[rows + np.minimum(ia, WIDTH - 1)] != 48)  # no leading zero
    else:
        ok &= (li + lf >= 1) if has_d else li >= 1
    ok &= (li >= 0) & (li <= DIGITS)
    ival, ifit = _digits(np, buf, starts + pd, np.where(ok, li, 0), k)
    if ifit is not None:
        ok &= ifit
    if has_d:
        ok &= lf <= DIGITS
        fval, ffit = _digits(np, buf, starts + pe, np.where(ok, lf, 0), k)
        if ffit is not None:
            ok &= ffit
        # mantissa = integer part * 10**lf + fraction, below 10**19 (exact in uint64)
        lf_c = np.minimum(np.maximum(lf, 0), 19)
        ok &= (ival == 0) | ((lf <= 18) & (ival < k["p10u"][19 - lf_c]))
        mant = ival * k["p10u"][lf_c]
        mant += fval
        ex = -lf
    else:
        mant, ex = ival, np.zeros(n, np.int64)
    if has_e:
        exp_sign = (s & (e << one)) != 0 if s is not None else np.zeros(n, bool)
        le = np.where(e != 0, hi - pe - 1 - exp_sign, 0)  # exponent digits
        ok &= (e == 0) | ((le >= 1) & (le <= 8))
        xval = _digits8(np, buf, starts + hi, np.where(ok, le, 0), k).astype(np.int64)
        xneg = exp_sign & (flat[rows + np.minimum(pe + 1, WIDTH - 1)] == 45)
        ex += np.where(xneg, -xval, xval)
    integer = ok.copy()  # a well-formed integer literal: its int is exact whether or not its float is
    if has_d:
        integer &= d == 0
    if has_e:
        integer &= e == 0
    int_ok = integer & (ival < np.uint64(1 << 63))
    ok &= np.abs(ex) <= MAX_POW10
    value, exact = _scale(np, mant, np.where(ok, ex, 0), k)
    ok &= exact
    iv = np.where(int_ok, ival, 0).astype(np.int64)
    if negative is not None:
        np.negative(iv, out=iv, where=negative)
        if json:  # float(int('-0')) is 0.0
            negative &= ~integer | (mant != 0)
        np.negative(value, out=value, where=negative)
    return ok, value, integer, int_ok, iv


def _scale(np, mant, ex, k):  # noqa: ANN001, ANN202
    """(mant * 10**ex rounded to float64, where that rounding is proven correct). A pass whose every token is
    within Clinger's fast path (short numbers: a 4-decimal loss, an epoch) takes it in float64 (SIMD), the
    others the x87 path where there is one."""
    a = np.abs(ex)
    exact = (mant < CLINGER_M) & (a <= CLINGER_POW10)
    if _x87(np) and not exact.all():
        p = k["p10ld"][a]
        r = mant.astype(np.longdouble)
        up = ex > 0
        if up.all():
            r *= p
        else:
            r /= np.where(up, 1, p)
            if up.any():
                r[up] *= p[up]
        return r.astype(np.float64), ~_midpoint(np, r)
    p = k["p10d"][np.minimum(a, CLINGER_POW10)]
    m = mant.astype(np.float64)
    if not (ex > 0).any():  # (the usual: decimals, 10**0 = 1)
        return m / p, exact
    return np.where(ex >= 0, m * p, m / p), exact


def _midpoint(np, r):  # noqa: ANN001, ANN202
    """Whether x87 extended values lie exactly halfway between two doubles: the 11 significand bits below a
    double's 53 are 1 followed by zeros."""
    sig = r.view(np.uint64)[::2]  # x87 layout in 16 bytes: the 64-bit significand first (little-endian)
    return (sig & np.uint64(0x7FF)) == np.uint64(0x400)


def _x87(np) -> bool:  # noqa: ANN001
    """Whether long double is x87 extended here and its arithmetic gives float()'s values (checked once)."""
    v = _K.get("x87")
    if v is None:
        v = _K["x87"] = False
        ld = np.longdouble
        if np.finfo(ld).nmant == 63 and np.dtype(ld).itemsize == 16 and \
                ld(1).tobytes()[:8] == (1 << 63).to_bytes(8, "little"):
            _K["x87"] = True  # provisionally, for the test below
            _K["x87"] = v = _self_test(np)
    return v


# Tokens whose correct rounding needs more than double precision (from the literature on hard cases:
# 2**53 + 1 is a midpoint; the others sit within a hair of one), plus plain ones.
_HARD = [b"9007199254740993", b"9007199254740995", b"2.2250738585072014e-1", b"0.1", b"0.3",
         b"8.5e-301", b"1.7976931348623157e1", b"4.9406564584124654e-3", b"123456789012345678",
         b"1.00000000000000011102230246251565404236316680908203125", b"7.038531e-26", b"9.999999999999999e22",
         b"0.7071067811865476", b"2.5489470578119236e-8", b"5.0e-324", b"1e23", b"8.988465674311579e7"]


def _self_test(np) -> bool:  # noqa: ANN001
    import random

    rng = random.Random(0)
    toks = list(_HARD)
    for _ in range(200):
        x = rng.random() * 10.0 ** rng.randint(-12, 12)
        toks.append(repr(x).encode())
        toks.append(f"{x:.{rng.randint(1, 19)}e}".encode())
    chunk = b",".join(toks)
    buf = pad(np, chunk)
    ends = np.cumsum([len(t) + 1 for t in toks]) - 1 + PAD
    starts = ends - np.array([len(t) for t in toks])
    got = parse(np, buf, starts, ends, json=False)
    want = np.array([float(t) for t in toks])
    return bool(got.ok.sum() > len(toks) // 2 and (got.value[got.ok] == want[got.ok]).all())

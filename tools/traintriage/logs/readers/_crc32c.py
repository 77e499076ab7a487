"""CRC-32C (Castagnoli), the checksum TFRecord framing uses, masked the way TensorFlow masks it.

The standard library has only CRC-32 (zlib), so this module has a table-driven CRC-32C. Checking
one record at a time in Python costs ~0.1 us per byte; `check_many` runs the same table over many
records at once with numpy (one vector operation per byte *column*), which is what makes checking every
record of a 200k-scalar event file cheap.
Reference: TensorFlow's record format, https://www.tensorflow.org/tutorials/load_data/tfrecord
("masked_crc32_of_length ... masked_crc32_of_data"; mask = ((crc >> 15) | (crc << 17)) + 0xa282ead8).
"""

from __future__ import annotations

_POLY = 0x82F63B78  # reflected Castagnoli polynomial
_MASK_DELTA = 0xA282EAD8


def _table() -> list[int]:
    out = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ _POLY if c & 1 else c >> 1
        out.append(c)
    return out


TABLE = _table()


def crc32c(data: bytes | memoryview) -> int:
    crc = 0xFFFFFFFF
    t = TABLE
    for b in bytes(data):
        crc = t[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def mask(crc: int) -> int:
    return ((((crc >> 15) | (crc << 17)) & 0xFFFFFFFF) + _MASK_DELTA) & 0xFFFFFFFF


def check_many(buf, starts, lengths, expected) -> list[bool]:
    """For each record i: does masked crc32c(buf[starts[i]:starts[i]+lengths[i]]) == expected[i]?"""
    n = len(starts)
    if n == 0:
        return []
    try:
        import numpy as np
    except ImportError:  # pragma: no cover - numpy ships with torch
        return [mask(crc32c(buf[s : s + ln])) == e for s, ln, e in zip(starts, lengths, expected, strict=False)]
    data = np.frombuffer(buf, dtype=np.uint8)
    table = np.array(TABLE, dtype=np.uint32)
    st = np.asarray(starts, dtype=np.int64)
    ln = np.asarray(lengths, dtype=np.int64)
    exp = np.asarray(expected, dtype=np.uint32)
    ok = np.zeros(n, dtype=bool)
    for length in np.unique(ln):
        idx = np.nonzero(ln == length)[0]
        crc = np.full(idx.size, 0xFFFFFFFF, dtype=np.uint32)
        base = st[idx]
        if length > 4096 and idx.size < 8:
            # a few long records: the per-byte loop is cheaper than thousands of tiny vector ops
            for k, i in enumerate(idx):
                ok[i] = mask(crc32c(data[base[k] : base[k] + length].tobytes())) == int(exp[i])
            continue
        for j in range(int(length)):
            crc = table[(crc ^ data[base + j]) & 0xFF] ^ (crc >> 8)
        crc ^= np.uint32(0xFFFFFFFF)
        masked = (((crc >> np.uint32(15)) | (crc << np.uint32(17))) + np.uint32(_MASK_DELTA)).astype(np.uint32)
        ok[idx] = masked == exp[idx]
    return ok.tolist()

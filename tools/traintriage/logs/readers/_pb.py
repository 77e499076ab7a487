"""A minimal protobuf wire-format decoder: just what the TensorBoard and W&B readers need.

Wire types: 0 varint, 1 fixed64, 2 length-delimited, 5 fixed32 (groups, 3/4, are not used by either).
Functions take a buffer (bytes or mmap) and a position and return (value, new_position).
"""

from __future__ import annotations

from collections.abc import Iterator
from struct import Struct

F32 = Struct("<f")
F64 = Struct("<d")


class ProtoError(ValueError):
    pass


def varint(buf, pos: int) -> tuple[int, int]:
    b = buf[pos]
    if b < 0x80:
        return b, pos + 1
    result = b & 0x7F
    shift = 7
    pos += 1
    while True:
        b = buf[pos]
        result |= (b & 0x7F) << shift
        pos += 1
        if b < 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise ProtoError("varint longer than 10 bytes")


def signed64(v: int) -> int:
    """An int64 from a varint, which may carry up to 70 bits: protobuf keeps the low 64."""
    v &= (1 << 64) - 1
    return v - (1 << 64) if v >= (1 << 63) else v


def fields(buf, pos: int, end: int) -> Iterator[tuple[int, int, int | tuple[int, int]]]:
    """Yield (field number, wire type, value); length-delimited values are (start, end) spans."""
    while pos < end:
        key, pos = varint(buf, pos)
        field, wt = key >> 3, key & 7
        if wt == 0:
            v, pos = varint(buf, pos)
            yield field, wt, v
        elif wt == 2:
            n, pos = varint(buf, pos)
            if pos + n > end:
                raise ProtoError("length-delimited field runs past its message")
            yield field, wt, (pos, pos + n)
            pos += n
        elif wt == 1:
            yield field, wt, pos
            pos += 8
        elif wt == 5:
            yield field, wt, pos
            pos += 4
        else:
            raise ProtoError(f"unsupported wire type {wt}")
    if pos != end:
        raise ProtoError("message runs past its end")

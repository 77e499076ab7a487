"""TensorBoard events decoded one record at a time: the Event -> Summary -> Value protobuf fields scalar
summaries use, both the classic `simple_value` and the tensor-encoded scalar (plugin "scalars"). The
tensorboard reader sends here every record its vectorized pass does not recognize.
Format: https://github.com/tensorflow/tensorboard/blob/master/tensorboard/compat/proto/event.proto and
summary.proto (field numbers used below), tensor.proto, types.proto (dtype enum).
"""

from __future__ import annotations

import math
import struct

from traintriage.logs.readers._pb import ProtoError, fields, signed64, varint

_F32 = struct.Struct("<f")
_F64 = struct.Struct("<d")
_HALF = struct.Struct("<e")

# DataType enum values from tensorflow/core/framework/types.proto
_DT_FLOAT, _DT_DOUBLE, _DT_INT32, _DT_INT64, _DT_HALF, _DT_BOOL = 1, 2, 3, 9, 19, 10


def _skip(buf, pos: int, wt: int) -> int:
    """The position after a field's value of wire type wt (its key already read)."""
    if wt == 2:
        n, pos = varint(buf, pos)
        return pos + n
    if wt == 0:
        return varint(buf, pos)[1]
    if wt in (1, 5):
        return pos + (8 if wt == 1 else 4)
    raise ProtoError(f"wire type {wt}")


def _decode_event(buf, pos: int, end: int, rec: int, prefix: str, tag_cache: dict, out: list) -> None:
    wall = math.nan
    step = 0
    summaries = []
    while pos < end:
        key = buf[pos]
        pos += 1
        if key == 0x09:  # 1: wall_time double
            wall = _F64.unpack_from(buf, pos)[0]
            pos += 8
        elif key == 0x10:  # 2: step int64
            step, pos = varint(buf, pos)
            if step >= 1 << 63:
                step = signed64(step)
        elif key == 0x2A:  # 5: summary
            n, pos = varint(buf, pos)
            summaries.append((pos, pos + n))
            pos += n
        else:  # file_version, graph_def, log_message, session_log, ...: skip by wire type
            if key & 0x80:
                key2, pos = varint(buf, pos - 1)
                key = key2
            pos = _skip(buf, pos, key & 7)
    if pos != end:
        raise ProtoError("event overruns its record")
    for s, e in summaries:
        _decode_summary(buf, s, e, rec, step, wall, prefix, tag_cache, out)


def _decode_summary(buf, pos: int, end: int, rec, step, wall, prefix, tag_cache, out) -> None:
    while pos < end:
        key = buf[pos]
        pos += 1
        n, pos = varint(buf, pos)
        if key == 0x0A:  # 1: repeated Value
            _decode_value(buf, pos, pos + n, rec, step, wall, prefix, tag_cache, out)
        elif key & 7 != 2:
            raise ProtoError("unexpected field in Summary")
        pos += n


def _decode_value(buf, pos: int, end: int, rec, step, wall, prefix, tag_cache, out) -> None:
    tag_span = None
    value = None
    tensor = None
    plugin = None
    while pos < end:
        key = buf[pos]
        pos += 1
        if key == 0x15:  # 2: simple_value float
            value = _F32.unpack_from(buf, pos)[0]
            pos += 4
            continue
        wt = key & 7
        if wt == 2:
            n, pos = varint(buf, pos)
            if key == 0x0A:  # 1: tag
                tag_span = (pos, pos + n)
            elif key == 0x42:  # 8: tensor
                tensor = (pos, pos + n)
            elif key == 0x4A:  # 9: metadata
                plugin = _plugin_name(buf, pos, pos + n)
            elif key == 0x3A and tag_span is None:  # 7: node_name (old writers)
                tag_span = (pos, pos + n)
            pos += n  # histo (5), image (4), audio (6): skipped undecoded
        else:
            pos = _skip(buf, pos, wt)
    if value is None and tensor is not None and plugin in (None, "scalars"):
        value = _tensor_scalar(buf, *tensor)
    if value is None or tag_span is None:
        return
    raw = bytes(buf[tag_span[0] : tag_span[1]])
    tag = tag_cache.get(raw)
    if tag is None:
        tag = tag_cache[raw] = prefix + raw.decode("utf-8", "replace")
    out.append((rec, tag, step, value, wall))


def _plugin_name(buf, pos: int, end: int) -> str | None:
    for field, wt, v in fields(buf, pos, end):
        if field == 1 and wt == 2:  # plugin_data
            for f2, w2, v2 in fields(buf, *v):
                if f2 == 1 and w2 == 2:
                    return bytes(buf[v2[0] : v2[1]]).decode("utf-8", "replace")
    return None


def _tensor_scalar(buf, pos: int, end: int) -> float | None:
    """The single number in a scalar TensorProto, or None if it is not a one-element numeric tensor."""
    dtype = 0
    vals: list[float] = []
    content = None
    dims = 0
    for field, wt, v in fields(buf, pos, end):
        if field == 1 and wt == 0:
            dtype = v
        elif field == 2 and wt == 2:  # tensor_shape: count dims with size != 1
            for f2, w2, v2 in fields(buf, *v):
                if f2 == 2 and w2 == 2:
                    size = 1
                    for f3, w3, v3 in fields(buf, *v2):
                        if f3 == 1 and w3 == 0:
                            size = signed64(v3)
                    if size != 1:
                        dims += 1
        elif field == 4 and wt == 2:
            content = bytes(buf[v[0] : v[1]])
        elif field == 5:  # float_val
            vals += _packed(buf, wt, v, _F32, 4)
        elif field == 6:  # double_val
            vals += _packed(buf, wt, v, _F64, 8)
        elif field in (7, 10):  # int_val, int64_val
            vals += _packed_varint(buf, wt, v)
        elif field == 13:  # half_val: the 16 bits of an IEEE half in an int32; more bits is a corrupt record
            bits = _packed_varint(buf, wt, v)
            if any(not 0 <= b <= 0xFFFF for b in bits):
                raise ProtoError("half_val outside 16 bits")
            vals += [_HALF.unpack(b.to_bytes(2, "little"))[0] for b in bits]
        elif field == 12 and dtype == 7:  # string_val: not a scalar metric
            return None
    if dims:
        return None
    if content is not None and not vals:
        fmt = {_DT_FLOAT: "<f", _DT_DOUBLE: "<d", _DT_INT32: "<i", _DT_INT64: "<q", _DT_HALF: "<e"}.get(dtype)
        if fmt is None or len(content) != struct.calcsize(fmt):
            return None
        return float(struct.unpack(fmt, content)[0])
    if len(vals) != 1 or dtype not in (_DT_FLOAT, _DT_DOUBLE, _DT_INT32, _DT_INT64, _DT_HALF, _DT_BOOL, 0):
        return None
    return float(vals[0])


def _packed(buf, wt, v, st: struct.Struct, width: int) -> list[float]:
    """A repeated float (fixed32) or double (fixed64) field: packed (wire type 2) or one value of its own wire
    type; any other wire type is a corrupt record (a varint here is no float, and its value no position)."""
    if wt == 2:
        s, e = v
        return [x[0] for x in st.iter_unpack(bytes(buf[s:e]))]
    if wt != (5 if width == 4 else 1):
        raise ProtoError(f"wire type {wt} for a {width}-byte float field")
    return [st.unpack_from(buf, v)[0]]


def _packed_varint(buf, wt, v) -> list[int]:
    """A repeated varint field: one varint (wire type 0) or packed (2); a fixed32/fixed64 there is a corrupt
    record (found by the log fuzz, seed 4: int_val with wire type 5 escaped as a TypeError)."""
    if wt == 0:
        return [signed64(v)]
    if wt != 2:
        raise ProtoError(f"wire type {wt} for a varint field")
    s, e = v
    out = []
    while s < e:
        x, s = varint(buf, s)
        out.append(signed64(x))
    return out

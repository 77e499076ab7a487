"""TensorBoard event files: TFRecord framing + the few protobuf fields scalar summaries use.

Reads a single `events.out.tfevents.*` file or a directory tree of runs (each folder holding event files is
one run; with several runs, series are named `<run folder>/<tag>`). Both scalar encodings are read: the
classic `simple_value` and the tensor-encoded scalar (plugin "scalars") that `SummaryWriter` writes with
`new_style=True` and TF2 writes always. Histograms, images, text, graphs are skipped without decoding.

Framing and the common record shape are handled here, vectorized; other records are decoded one at a time
by tensorboard_proto.py. Every record's length CRC is checked; the data CRC is checked for every record that yielded a scalar.
A bad length CRC ends the file (framing after it cannot be trusted); a bad data CRC drops that record;
a truncated tail (a writer killed mid-record) is reported. All of it lands in `Run.skipped`.
Format: https://github.com/tensorflow/tensorboard/blob/master/tensorboard/compat/proto/event.proto and
summary.proto (field numbers used below), tensor.proto, types.proto (dtype enum).
"""

from __future__ import annotations

import mmap
import re
import struct
from pathlib import Path

from traintriage.logs.model import LogReadError, Run, RunBuilder
from traintriage.logs.readers import _crc32c
from traintriage.logs.readers._pb import ProtoError
from traintriage.logs.readers.tensorboard_proto import _decode_event

FORMAT = "tensorboard"
_U64 = struct.Struct("<Q")
_U32 = struct.Struct("<I")



def is_event_file(p: Path) -> bool:
    return "tfevents" in p.name and p.is_file()


def _natural(p: Path) -> tuple:
    """Sort key reading digit runs as numbers: a writer's name is events.out.tfevents.<time>.<host>.<pid>.<uid>,
    and the per-process uid has no padding (uid 10 must come after uid 9, or a resumed run's later file would be
    read first and its writes lost to the earlier one's)."""
    return tuple((0, int(t), "") if t.isdigit() else (1, 0, t) for t in re.split(r"(\d+)", str(p)) if t)


def event_files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    return sorted((p for p in path.rglob("*tfevents*") if p.is_file()), key=_natural)


def sniff(path: Path) -> bool:
    if path.is_dir():
        return any(True for _ in path.rglob("*tfevents*"))
    if "tfevents" in path.name:
        return True
    try:
        with path.open("rb") as f:
            head = f.read(12)
    except OSError:
        return False
    if len(head) < 12:
        return False
    return _crc32c.mask(_crc32c.crc32c(head[:8])) == _U32.unpack_from(head, 8)[0]


def read(path: Path) -> Run:
    files = event_files(path)
    if not files:
        raise LogReadError(f"{path}: no TensorBoard event files (events.out.tfevents.*) found")
    root = path if path.is_dir() else path.parent
    runs = sorted({str(f.parent.relative_to(root)) for f in files})
    rb = RunBuilder(str(path), FORMAT)
    rb.metadata["event_files"] = len(files)
    rb.metadata["runs"] = runs
    multi = len(runs) > 1
    any_ok = False
    for f in files:
        run = str(f.parent.relative_to(root))
        prefix = f"{run}/" if multi and run != "." else ""
        any_ok |= _read_file(f, prefix, rb)
    if not any_ok and not rb.builders:
        raise LogReadError(
            f"{path}: not a readable TensorBoard event file ({'; '.join(rb.skipped) or 'no records'})"
        )
    if not rb.builders:
        rb.skipped.append("no scalar summaries in the event files (only graphs, histograms, images or text?)")
    return rb.finish()


def _read_file(f: Path, prefix: str, rb: RunBuilder) -> bool:
    """Add the scalars of one event file to rb; return False if the file is not a TFRecord file at all."""
    size = f.stat().st_size
    if size == 0:
        rb.skipped.append(f"{f.name}: empty file")
        return False
    with f.open("rb") as fh:
        buf = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
        try:
            return _scan(buf, size, f.name, prefix, rb)
        finally:
            try:
                buf.close()
            except BufferError:  # a numpy view still refers to it (error path); GC closes it
                pass


def _scan(buf, size: int, fname: str, prefix: str, rb: RunBuilder) -> bool:
    import numpy as np

    # Pass 1: framing. [u64 length][u32 masked crc(length)][data][u32 masked crc(data)]
    starts: list[int] = []
    append = starts.append
    pos = 0
    u64 = _U64.unpack_from
    truncated_at = None
    while pos + 12 <= size:
        append(pos)
        length = u64(buf, pos)[0]
        if length > size:  # garbage or a cut-off record: stop here, the CRC check below tells which
            pos = size + 1
            break
        pos += length + 16
    if pos != size:
        truncated_at = starts[-1] if pos > size and starts else pos
    data = np.frombuffer(buf, dtype=np.uint8)
    st = np.asarray(starts, dtype=np.int64)
    ln = np.empty_like(st)
    if st.size:
        ln[:-1] = st[1:] - st[:-1] - 16
        ln[-1] = min(pos, size) - st[-1] - 16
    # Pass 2: length CRCs, all at once. The first bad one ends the file.
    len_crc = _gather_u32(data, st + 8) if st.size else st
    ok = np.asarray(_crc32c.check_many(buf, st, np.full(st.size, 8), len_crc), dtype=bool)
    bad_idx = np.nonzero(~ok)[0]
    n_good = int(bad_idx[0]) if bad_idx.size else st.size
    if n_good == 0:
        rb.skipped.append(f"{fname}: not a TFRecord/event file (the first record's length checksum does not match)")
        return False
    last_incomplete = truncated_at is not None and pos > size
    if n_good < st.size and not (last_incomplete and n_good == st.size - 1):
        rb.skipped.append(
            f"{fname}: corrupt record framing at byte {int(st[n_good])} (length checksum mismatch); "
            f"read the {n_good} records before it, skipped the rest of the file"
        )
        truncated_at = None
    elif last_incomplete:
        n_good = min(n_good, st.size - 1)
    if truncated_at is not None:
        rb.skipped.append(
            f"{fname}: truncated at byte {truncated_at} of {size} (last record incomplete: writer still running "
            "or killed); read everything before it"
        )
    st, ln = st[:n_good], ln[:n_good]
    # Pass 3a: the common record shape (one simple_value, short tag) decoded for all records at once.
    fast, f_tag_off, f_tag_len, f_step, f_val, f_wall = _fast_simple_values(data, st + 12, ln)
    # Pass 3b: everything else, one record at a time.
    slow: list[tuple[int, str, int, float, float]] = []
    tag_cache: dict[bytes, str] = {}
    bad_proto = 0
    for i in np.nonzero(~fast)[0].tolist():
        s = int(st[i]) + 12
        try:
            _decode_event(buf, s, s + int(ln[i]), i, prefix, tag_cache, slow)
        except (ProtoError, IndexError, struct.error, UnicodeDecodeError):
            bad_proto += 1
    if bad_proto:
        rb.skipped.append(f"{fname}: {bad_proto} record(s) with valid framing but undecodable protobuf skipped")
    # Pass 4: data CRCs of the records that produced scalars.
    fast_ids = np.nonzero(fast)[0]
    rec_ids = np.union1d(fast_ids, np.asarray(sorted({r[0] for r in slow}), dtype=np.int64))
    data_crc = _gather_u32(data, st[rec_ids] + 12 + ln[rec_ids])
    good = np.asarray(_crc32c.check_many(buf, st[rec_ids] + 12, ln[rec_ids], data_crc), dtype=bool)
    bad = set(rec_ids[~good].tolist())
    if bad:
        rb.skipped.append(
            f"{fname}: {len(bad)} record(s) failed the data checksum and were dropped (first at byte "
            f"{int(st[min(bad)])})"
        )
    # Merge fast and slow hits in record order, then hand each tag its points in bulk.
    keep = good[np.searchsorted(rec_ids, fast_ids)] if fast_ids.size else np.zeros(0, dtype=bool)
    fast_ids = fast_ids[keep]
    tags_f = _tags(data, f_tag_off[keep], f_tag_len[keep], prefix, tag_cache)
    slow = [r for r in slow if r[0] not in bad]
    recs = np.concatenate([fast_ids, np.asarray([r[0] for r in slow], dtype=np.int64)])
    tag_names = list(dict.fromkeys(tags_f[1] + [r[1] for r in slow]))
    tag_index = {t: k for k, t in enumerate(tag_names)}
    tag_ids = np.concatenate(
        [np.asarray([tag_index[t] for t in tags_f[1]], dtype=np.int64)[tags_f[0]],
         np.asarray([tag_index[r[1]] for r in slow], dtype=np.int64)]
    )
    steps = np.concatenate([f_step[keep], np.asarray([r[2] for r in slow], dtype=np.int64)])
    vals = np.concatenate([f_val[keep], np.asarray([r[3] for r in slow], dtype=np.float64)])
    walls = np.concatenate([f_wall[keep], np.asarray([r[4] for r in slow], dtype=np.float64)])
    order = np.lexsort((recs, tag_ids))  # by tag, then by record order within a tag
    tag_ids, steps, vals, walls = tag_ids[order], steps[order], vals[order], walls[order]
    bounds = np.searchsorted(tag_ids, np.arange(len(tag_names) + 1))
    recs = recs[order]
    first_rec = [int(recs[bounds[k]]) if bounds[k + 1] > bounds[k] else 0 for k in range(len(tag_names))]
    for k in sorted(range(len(tag_names)), key=first_rec.__getitem__):  # tags in the order they first appear
        name = tag_names[k]
        a, b = int(bounds[k]), int(bounds[k + 1])
        if b > a:
            rb.series(name).extend(steps[a:b].tolist(), vals[a:b].tolist(), walls[a:b].tolist())
    return True


def _gather_u32(data, offsets):
    import numpy as np

    idx = np.asarray(offsets, dtype=np.int64)[:, None] + np.arange(4)
    b = data[idx].astype(np.uint32)
    return b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16) | (b[:, 3] << 24)


def _fast_simple_values(data, s, ln):
    """Vectorized decode of records shaped exactly like SummaryWriter.add_scalar's simple_value events:
    09 <wall f64> 10 <step varint> 2a L1 0a L2 0a T <tag> 15 <value f32>. Returns a mask of the records that
    match plus their tag offsets/lengths, steps, values, wall times (for matching records only)."""
    import numpy as np

    n = s.size
    size = data.size
    empty = np.zeros(0, dtype=np.int64)
    if n == 0:
        return np.zeros(0, dtype=bool), empty, empty, empty, np.zeros(0), np.zeros(0)

    def at(off):
        return data[np.minimum(off, size - 1)]

    ok = (ln >= 20) & (at(s) == 0x09) & (at(s + 9) == 0x10)
    vb = data[np.minimum(s[:, None] + 10 + np.arange(10), size - 1)].astype(np.uint64)
    term = vb < 0x80
    kv = np.argmax(term, axis=1) + 1
    ok &= term.any(axis=1)
    shifts = (np.arange(10, dtype=np.uint64) * np.uint64(7))
    used = np.arange(10)[None, :] < kv[:, None]
    step = ((vb & np.uint64(0x7F)) << shifts) * used
    step = np.bitwise_or.reduce(step, axis=1).astype(np.int64)  # wraps negatives like protobuf int64
    p = s + 10 + kv
    l1, l2, t = at(p + 1).astype(np.int64), at(p + 3).astype(np.int64), at(p + 5).astype(np.int64)
    ok &= (at(p) == 0x2A) & (at(p + 2) == 0x0A) & (at(p + 4) == 0x0A) & (l1 < 0x80) & (t < 0x80)
    ok &= (l1 == l2 + 2) & (l2 == t + 7) & (p + 2 + l1 == s + ln) & (at(p + 6 + t) == 0x15)
    idx = np.nonzero(ok)[0]
    s, p, t = s[idx], p[idx], t[idx]
    wall = data[s[:, None] + 1 + np.arange(8)].copy().view("<f8").ravel()
    val = data[(p + 7 + t)[:, None] + np.arange(4)].copy().view("<f4").ravel().astype(np.float64)
    return ok, p + 6, t, step[idx], val, wall


def _tags(data, offs, lens, prefix: str, cache: dict):
    """Decode tag bytes for the fast records: returns (index into names per record, names)."""
    import numpy as np

    if offs.size == 0:
        return np.zeros(0, dtype=np.int64), []
    names: list[str] = []
    inv = np.empty(offs.size, dtype=np.int64)
    for length in np.unique(lens).tolist():
        sel = np.nonzero(lens == length)[0]
        rows = data[offs[sel][:, None] + np.arange(length)] if length else np.zeros((sel.size, 0), np.uint8)
        # np.unique(rows, axis=0) sorts void rows (slow); hash each row to uint64 and unique those instead.
        h = np.zeros(sel.size, dtype=np.uint64)
        for j in range(length):
            h = h * np.uint64(1099511628211) + rows[:, j].astype(np.uint64)
        uh, first, back = np.unique(h, return_index=True, return_inverse=True)
        back = back.ravel()
        if not np.array_equal(rows[first][back], rows):  # a hash collision: fall back to the exact way
            uniq_rows, back = np.unique(rows, axis=0, return_inverse=True)
            first_rows = list(uniq_rows)
            back = back.ravel()
        else:
            first_rows = list(rows[first])
        base = len(names)
        for row in first_rows:
            raw = row.tobytes()
            tag = cache.get(raw)
            if tag is None:
                tag = cache[raw] = prefix + raw.decode("utf-8", "replace")
            names.append(tag)
        inv[sel] = base + back.ravel()
    return inv, names

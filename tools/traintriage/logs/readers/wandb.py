"""W&B run files (`run-<id>.wandb`, written by offline and online runs alike), without the wandb package.

The file is the LevelDB log format: a 7-byte header (":W&B", magic 0xBEE1, version 0), then 32 KiB blocks of
records, each `[u32 crc][u16 length][u8 type]` + data, types FULL=1 / FIRST=2 / MIDDLE=3 / LAST=4 to split a
record across blocks; the crc is zlib.crc32 of the type byte then the data. Each assembled record is a
`wandb_internal.proto` `Record`: history rows (`history`, field 2: items with key and value_json, plus
the step) become series; config (field 5, and the run record's config) becomes metadata.
Sources: https://github.com/google/leveldb/blob/main/doc/log_format.md and
https://github.com/wandb/wandb/blob/main/wandb/proto/wandb_internal.proto (field numbers used below).
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

from traintriage.logs.model import LogReadError, Run, RunBuilder, to_float, to_step
from traintriage.logs.readers._common import loads, regular
from traintriage.logs.readers._pb import F64, ProtoError, fields, signed64

FORMAT = "wandb"
HEADER = struct.Struct("<4sHB")
IDENT, MAGIC, VERSION = b":W&B", 0xBEE1, 0
BLOCK = 32768
REC = struct.Struct("<IHB")
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4
_TYPE_CRC = {t: zlib.crc32(bytes([t])) for t in range(5)}


def _files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    latest = path / "latest-run"
    try:
        found = regular(sorted(latest.resolve().glob("*.wandb"))) if latest.is_dir() else []
    except (OSError, RuntimeError):  # a symlink loop
        found = []
    return found or regular(sorted(path.rglob("*.wandb")))  # a FIFO named run-x.wandb must not block


def sniff(path: Path) -> bool:
    if path.is_dir():
        return bool(_files(path))
    if path.suffix == ".wandb":
        return True
    try:
        with path.open("rb") as f:
            return f.read(4) == IDENT
    except OSError:
        return False


def read(path: Path) -> Run:
    files = _files(path)
    if not files:
        raise LogReadError(f"{path}: no W&B run file (run-<id>.wandb) found")
    rb = RunBuilder(str(path), FORMAT)
    multi = len(files) > 1
    rb.metadata["runs"] = [f.stem for f in files]
    for f in files:
        try:
            _read_file(f, f"{f.stem.removeprefix('run-')}/" if multi else "", rb)
        except LogReadError as e:  # one bad file among several: say so and read the others
            if not multi:
                raise
            rb.skipped.append(f"{f.name}: skipped ({e})")
    if not rb.builders:
        raise LogReadError(f"{path}: no history rows (wandb.log calls) in the run file; {'; '.join(rb.skipped)}")
    return rb.finish()


def _records(data: bytes, name: str, notes: list[str]):
    if len(data) < HEADER.size:
        raise LogReadError(f"{name}: too short to be a W&B run file")
    ident, magic, version = HEADER.unpack_from(data, 0)
    if ident != IDENT or magic != MAGIC:
        raise LogReadError(f"{name}: not a W&B run file (header {data[:7]!r}, expected ':W&B' + 0xBEE1)")
    if version != VERSION:
        notes.append(f"{name}: unknown W&B file version {version}; read as version 0")
    pos = HEADER.size
    size = len(data)
    pending: list[bytes] = []
    bad = 0
    while pos < size:
        left = BLOCK - pos % BLOCK
        if left < REC.size:  # block trailer padding
            pos += left
            continue
        if pos + REC.size > size:
            break
        crc, length, typ = REC.unpack_from(data, pos)
        if typ == 0 and length == 0:  # zero padding up to the end of the block
            pos += left
            continue
        start = pos + REC.size
        end = start + length
        if end > size:
            notes.append(f"{name}: truncated at byte {pos} of {size} (run still writing, or killed)")
            return
        payload = data[start:end]
        pos = end
        if zlib.crc32(payload, _TYPE_CRC.get(typ, 0)) & 0xFFFFFFFF != crc or typ not in (FULL, FIRST, MIDDLE, LAST):
            bad += 1
            pending = []
            pos += BLOCK - pos % BLOCK if pos % BLOCK else 0  # resync at the next block, as LevelDB does
            continue
        if typ == FULL:
            yield payload
        elif typ == FIRST:
            pending = [payload]
        elif typ == MIDDLE:
            pending.append(payload)
        elif typ == LAST:
            pending.append(payload)
            yield b"".join(pending)
            pending = []
    if bad:
        notes.append(f"{name}: {bad} record(s) failed their checksum; skipped to the next 32 KiB block each time")


def _read_file(f: Path, prefix: str, rb: RunBuilder) -> None:
    data = f.read_bytes()
    for n, rec in enumerate(_records(data, str(f), rb.skipped), 1):
        try:
            for field, wt, v in fields(rec, 0, len(rec)):
                if wt != 2:
                    continue
                if field == 2:  # history
                    _history(rec, v, prefix, rb)
                elif field == 5:  # config
                    _config(rec, v, rb)
                elif field == 17:  # run: id, project, config
                    _run(rec, v, rb)
        except (ProtoError, IndexError, struct.error, ValueError) as e:
            rb.skip_line(n, f"{f.name}: record {n} did not decode ({type(e).__name__})")


def _s(buf: bytes, span: tuple[int, int]) -> str:
    return buf[span[0] : span[1]].decode("utf-8", "replace")


def _item(buf: bytes, span) -> tuple[str, float | None]:
    key, nested, value = "", [], None
    for field, wt, v in fields(buf, *span):
        if field == 1 and wt == 2:
            key = _s(buf, v)
        elif field == 2 and wt == 2:
            nested.append(_s(buf, v))
        elif field == 16 and wt == 2:
            try:
                value = to_float(loads(_s(buf, v)))
            except ValueError:
                value = None
        elif field == 6 and wt == 1:
            value = F64.unpack_from(buf, v)[0]
        elif field == 5 and wt == 0:
            value = float((v >> 1) ^ -(v & 1))  # sint64 zigzag
    return ("/".join(nested) if nested else key), value


def _history(buf: bytes, span, prefix: str, rb: RunBuilder) -> None:
    items: dict[str, float] = {}
    step = None
    for field, wt, v in fields(buf, *span):
        if field == 1 and wt == 2:
            k, x = _item(buf, v)
            if x is not None:
                items[k] = x
        elif field == 2 and wt == 2:
            for f2, w2, v2 in fields(buf, *v):
                if f2 == 1 and w2 == 0:
                    step = signed64(v2)
    if step is None:
        step = to_step(items.get("_step", 0))
        if step is None:
            raise ValueError("history row without an int64 step")
    wall = items.pop("_timestamp", None)
    for k, x in items.items():
        if k.startswith("_"):  # _step, _runtime: bookkeeping
            continue
        rb.add(prefix + k, step, x, wall)


def _config(buf: bytes, span, rb: RunBuilder) -> None:
    cfg = rb.metadata.setdefault("config", {})
    for field, wt, v in fields(buf, *span):
        if field == 1 and wt == 2:  # update: ConfigItem
            key, val = "", None
            for f2, w2, v2 in fields(buf, *v):
                if f2 == 1 and w2 == 2:
                    key = _s(buf, v2)
                elif f2 == 16 and w2 == 2:
                    try:
                        val = loads(_s(buf, v2))
                    except ValueError:
                        val = _s(buf, v2)
            if key and not key.startswith("_"):
                cfg[key] = val.get("value", val) if isinstance(val, dict) and "value" in val else val


def _run(buf: bytes, span, rb: RunBuilder) -> None:
    for field, wt, v in fields(buf, *span):
        if wt != 2:
            continue
        if field == 1:
            rb.metadata["run_id"] = _s(buf, v)
        elif field == 3:
            rb.metadata["project"] = _s(buf, v)
        elif field == 8:
            rb.metadata["display_name"] = _s(buf, v)
        elif field == 4:
            _config(buf, v, rb)

"""A seeded generator of malformed run logs across all seven formats, and a driver that reads each one.

Pure Python and deterministic: `inputs(seed, n)` yields the same n cases for the same seed on every run (the
bases are the same bytes each time, the TensorBoard ones written with fixed wall times).
The bases are valid files written by the real writers (TensorBoard's SummaryWriter, written fresh; the W&B,
MLflow, HF and Lightning files checked in under tests/data/logs, see its README) plus text/CSV/JSONL logs in
the shapes training scripts print. Each case is a base with one or two mutations: byte flips, truncation,
inserted/deleted/duplicated slices, control characters and bare \\r, invalid UTF-8, numbers that overflow
(1e999, 99999999999999999999, 400 digits), null / bool / string / mixed-type steps, deep nesting, giant lines,
empty or whitespace-only files; binary records are also mutated *behind* their checksums (payload changed,
CRC recomputed), so the protobuf decoders see bad varints and truncated fields rather than a CRC mismatch.

`run_case` writes a case into a folder and calls read_run; the outcome is `clean` (a Run, nothing skipped),
`skipped` (a Run that says what it skipped), `error` (LogReadError) or `crash` (anything else).
"""

from __future__ import annotations

import gzip
import json
import random
import shutil
import struct
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path

from traintriage.logs import LogReadError, read_run
from traintriage.logs.readers import _crc32c

DATA = Path(__file__).parent / "data" / "logs"
FORMATS = ("text", "csv", "jsonl", "hf", "tensorboard", "wandb", "mlflow")
# The TensorBoard bases' wall clock (2023-11-14): any fixed time; only its being fixed matters.
TB_WALL0 = 1.7e9
# Cases per format out of every 100 (sqlite MLflow stores are ~1 MB each, so they get fewer).
SHARE = {"text": 18, "csv": 15, "jsonl": 15, "hf": 14, "tensorboard": 16, "wandb": 12, "mlflow": 10}

HUGE = [b"1e999", b"-1e999", b"99999999999999999999", b"9" * 400, b"9" * 5000, b"nan", b"NaN", b"inf",
        b"-inf", b"null", b'"abc"', b"true", b"[]", b"{}", b"-0", b"1e-400", b"0x10", b'"1e999"', b'"10"',
        b"1.5", b"-99999999999999999999", b"1_000", b"\xff\xfe", b""]
CONTROL = [b"\r", b"\r\r\n", b"\0", b"\x1b[2K", b"\x0b", b"\x0c", b"\x85", b"\xe2\x80\xa8", b"\xef\xbb\xbf",
           b"\xc3\x28", b"\xed\xa0\x80", b"\xf8\x88\x80\x80\x80", b"\t", b'"', b",", b"\\"]


@dataclass
class Case:
    """One input: files (relative path -> bytes) under a folder, and what to pass to read_run."""

    index: int
    fmt: str
    base: str
    mutations: list[str]
    files: dict[str, bytes]
    target: str = ""  # relative path read_run gets ('' = the folder itself)
    format: str = "auto"
    extra: dict = field(default_factory=dict)

    @property
    def size(self) -> int:
        return sum(len(b) for b in self.files.values())


# --- base files ------------------------------------------------------------------------------------------


def _text_bases(rng: random.Random) -> dict[str, bytes]:
    n = 60
    plain = "".join(f"step {i} loss {2.3 / (i + 1):.5f} lr {1e-3:.1e}\n" for i in range(n))
    noisy = "".join(
        ("2024-05-01 12:00:00 INFO dataloader worker 3 ready\n" if i % 7 == 0 else "")
        + f"[{i:04d}] iter {i}: loss={1.0 / (i + 1):.4f}, acc={i / n:.3f}, grad_norm: {0.5 + i / 100:.3f}\n"
        for i in range(n)
    )
    keras = "".join(f"Epoch {e}/5\n32/32 - 1s - loss: {1 / e:.4f} - accuracy: {e / 6:.4f} - val_loss: {1.1 / e:.4f}\n"
                    for e in range(1, 6))
    return {
        "plain.log": plain.encode(), "noisy.log": noisy.encode(), "keras.log": keras.encode(),
        "hf_stdout.txt": (DATA / "hf_trainer_stdout.txt").read_bytes(),
        "lightning_progress.txt": (DATA / "lightning_progress.txt").read_bytes(),
    }


def _csv_bases(rng: random.Random) -> dict[str, bytes]:
    generic = "step,loss,lr,val_loss\n" + "".join(
        f"{i},{1 / (i + 1):.5f},0.001,{'' if i % 5 else f'{1.2 / (i + 1):.4f}'}\n" for i in range(50))
    tb = "Wall time,Step,Value\n" + "".join(f"{1.7e9 + i:.3f},{i},{1 / (i + 1):.5f}\n" for i in range(40))
    return {"lightning_metrics.csv": (DATA / "lightning_csvlogger_metrics.csv").read_bytes(),
            "generic.csv": generic.encode(), "run-train-tag-loss.csv": tb.encode()}


def _jsonl_bases(rng: random.Random) -> dict[str, bytes]:
    flat = "".join(json.dumps({"step": i, "loss": 1 / (i + 1), "lr": 1e-3, "_timestamp": 1.7e9 + i}) + "\n"
                   for i in range(50))
    nested = "".join(json.dumps({"global_step": i, "train": {"loss": 1 / (i + 1), "acc": i / 50},
                                 "val": {"loss": 1.1 / (i + 1)} if i % 10 == 0 else {}}) + "\n" for i in range(50))
    array = json.dumps([{"step": i, "loss": 1 / (i + 1)} for i in range(30)]) + "\n"
    return {"metrics.jsonl": flat.encode(), "nested.jsonl": nested.encode(), "array.jsonl": array.encode()}


def _tensorboard_bases(tmp: Path) -> dict[str, dict[str, bytes]]:
    """Event files written by torch.utils.tensorboard.SummaryWriter (simple and tensor-encoded scalars), with
    fixed wall times: every event's is given, and the writer's own first event (file_version) reads a frozen
    clock. Without them the bytes changed from run to run, so a seed did not name the same cases (a crash the
    10k run found, seed 4 case 1574, did not come back when rerun)."""
    import unittest.mock

    import torch
    from torch.utils.tensorboard import SummaryWriter

    out: dict[str, dict[str, bytes]] = {}
    for name, kw in (("simple", {}), ("new_style", {"new_style": True})):
        d = tmp / f"tb_{name}"
        with unittest.mock.patch.object(time, "time", lambda: TB_WALL0):
            w = SummaryWriter(str(d))
            for s in range(40):
                t = TB_WALL0 + s
                w.add_scalar("train/loss", 2.0 / (s + 1), s, walltime=t, **kw)
                w.add_scalar("lr", 1e-3, s, walltime=t, **kw)
                if s % 10 == 0:
                    w.add_histogram("weights", torch.linspace(-1, 1, 20), s, walltime=t)
                    w.add_text("note", f"step {s}", s, walltime=t)
            w.close()
        # the writer names its file by host, pid and a counter: a fixed name keeps the cases the same too
        out[name] = {f"events.out.tfevents.{int(TB_WALL0)}.fuzz": f.read_bytes() for f in d.iterdir()
                     if "tfevents" in f.name}
    return out


def bases(tmp: Path) -> dict[str, list[tuple[str, dict[str, bytes], str, str]]]:
    """format -> [(base name, files, target, format to pass)]. Built once per test session."""
    rng = random.Random(0)
    b: dict[str, list] = {f: [] for f in FORMATS}
    for name, data in _text_bases(rng).items():
        b["text"].append((name, {name: data}, name, "auto"))
    for name, data in _csv_bases(rng).items():
        b["csv"].append((name, {name: data}, name, "auto"))
        b["csv"].append((name + "/dir", {f"version_0/{'metrics.csv'}": data}, "", "csv"))
    for name, data in _jsonl_bases(rng).items():
        b["jsonl"].append((name, {name: data}, name, "auto"))
    hf = (DATA / "hf_trainer_state.json").read_bytes()
    b["hf"] += [("trainer_state.json", {"trainer_state.json": hf}, "trainer_state.json", "auto"),
                ("checkpoints", {"checkpoint-8/trainer_state.json": hf, "checkpoint-24/trainer_state.json": hf},
                 "", "auto")]
    for name, files in _tensorboard_bases(tmp).items():
        (fname, data), = files.items()
        b["tensorboard"].append((name, {fname: data}, fname, "auto"))
        b["tensorboard"].append((name + "/runs", {f"runA/{fname}": data, f"runB/{fname}": data}, "", "auto"))
    wb = next((DATA / "wandb_offline_run").glob("*.wandb"))
    b["wandb"] += [(wb.name, {wb.name: wb.read_bytes()}, wb.name, "auto"),
                   ("wandb_dir", {f"wandb/offline-run-1/{wb.name}": wb.read_bytes()}, "", "auto")]
    store = DATA / "mlruns"
    files = {str(p.relative_to(store.parent)): p.read_bytes() for p in store.rglob("*") if p.is_file()}
    b["mlflow"].append(("mlruns", files, "", "auto"))
    b["mlflow"].append(("mlflow.db", {"mlflow.db": gzip.decompress((DATA / "mlflow.db.gz").read_bytes())},
                        "mlflow.db", "auto"))
    return b


# --- mutations -------------------------------------------------------------------------------------------


def _pos(rng: random.Random, data: bytes) -> int:
    return rng.randrange(len(data) + 1)


def m_flip(rng, data):
    b = bytearray(data)
    for _ in range(rng.choice((1, 1, 2, 4, 16))):
        if b:
            b[rng.randrange(len(b))] ^= 1 << rng.randrange(8) if rng.random() < 0.7 else rng.randrange(1, 256)
    return bytes(b)


def m_truncate(rng, data):
    return data[: _pos(rng, data)]


def m_insert_random(rng, data):
    p = _pos(rng, data)
    return data[:p] + rng.randbytes(rng.choice((1, 3, 11, 64))) + data[p:]


def m_delete(rng, data):
    p = _pos(rng, data)
    return data[:p] + data[p + rng.choice((1, 2, 8, 100)):]


def m_duplicate(rng, data):
    p = _pos(rng, data)
    q = min(len(data), p + rng.choice((1, 10, 200)))
    return data[:q] + data[p:q] * rng.choice((2, 5)) + data[q:]


def m_control(rng, data):
    b = data
    for _ in range(rng.choice((1, 3, 10))):
        p = _pos(rng, b)
        b = b[:p] + rng.choice(CONTROL) + b[p:]
    return b


def m_newlines_to_cr(rng, data):
    return data.replace(b"\n", b"\r") if rng.random() < 0.5 else data.replace(b"\n", b"\r\n")


def m_number(rng, data):
    """Replace some numbers (steps, values) with overflowing, null, boolean, string or odd ones."""
    import re

    nums = [m.span() for m in re.finditer(rb"-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?", data[:200_000])]
    if not nums:
        return data + rng.choice(HUGE)
    out = bytearray(data)
    for s, e in sorted(rng.sample(nums, min(len(nums), rng.choice((1, 2, 5, 20)))), reverse=True):
        out[s:e] = rng.choice(HUGE)
    return bytes(out)


def m_deep(rng, data):
    """Deep nesting at a random place (and as a whole line)."""
    n = rng.choice((70, 1_000, 5_000, 100_000))
    o, c = (b"[", b"]") if rng.random() < 0.5 else (b'{"a":', b"}")
    blob = o * n + b"1" + c * n
    if rng.random() < 0.3:
        blob = o * n  # unclosed
    p = _pos(rng, data)
    return data[:p] + (b"\n" if rng.random() < 0.5 else b"") + blob + b"\n" + data[p:]


def m_giant_line(rng, data):
    unit = rng.choice((b"step 1 loss 0.5 ", b"a", b"1", b"loss=", b'{"a": 1, ', b"1,", b"\xff", b"x" * 7 + b" "))
    line = unit * (rng.choice((150_000, 600_000)) // len(unit))
    p = _pos(rng, data)
    return data[:p] + line + (b"\n" if rng.random() < 0.7 else b"") + data[p:]


def m_empty(rng, data):
    return rng.choice((b"", b"\n", b"   \n\n", b"\xef\xbb\xbf", b"\0" * 64, b"\r", b"{}", b"[]", b"null"))


def m_json_types(rng, data):
    """JSON records with null / bool / string / mixed-type / list steps and values."""
    vals = [None, True, "10", "abc", 1.5, 1e308, [1], {"x": 1}, 10**20, -(10**19), float("nan")]
    recs = []
    for i in range(rng.choice((3, 20))):
        recs.append({rng.choice(("step", "global_step", "_step")): rng.choice(vals + [i, i]),
                     rng.choice(("loss", "train/loss", "lr")): rng.choice(vals + [0.5, 0.5])})
    extra = "".join(json.dumps(r) + "\n" for r in recs).encode()
    p = data.rfind(b"\n", 0, _pos(rng, data)) + 1
    return data[:p] + extra + data[p:]


def m_hf_types(rng, data):
    """A trainer_state.json whose log_history has odd entries (null/str/huge steps, non-objects)."""
    try:
        state = json.loads(data)
        hist = state["log_history"]
    except (ValueError, KeyError, TypeError, RecursionError):  # (a deep-nesting mutation came first)
        return m_number(rng, data)
    if not isinstance(hist, list):
        return m_number(rng, data)
    odd = [None, "10", float("inf"), 1e308, 10**20, True, [], "x", -1, 2**63]
    for _ in range(rng.choice((1, 3))):
        k = rng.randrange(len(hist) + 1)
        entry = rng.choice([{"step": rng.choice(odd), "loss": 0.5}, {"loss": rng.choice(odd)}, rng.choice(odd)])
        hist.insert(k, entry)
    if rng.random() < 0.2:
        state["global_step"] = rng.choice(odd)
    if rng.random() < 0.1:
        state["log_history"] = rng.choice(odd)
    return json.dumps(state).encode()


def _tfrecords(data: bytes) -> list[tuple[int, int]]:
    out, pos = [], 0
    while pos + 12 <= len(data):
        n = struct.unpack_from("<Q", data, pos)[0]
        if pos + 16 + n > len(data):
            break
        out.append((pos + 12, pos + 12 + n))
        pos += 16 + n
    return out


def _payload_mutation(rng, payload: bytes) -> bytes:
    kind = rng.randrange(6)
    if kind == 0:
        return m_flip(rng, payload)
    if kind == 1:
        return payload[: _pos(rng, payload)]
    if kind == 2:  # a varint that never ends
        p = _pos(rng, payload)
        return payload[:p] + b"\xff" * rng.choice((3, 11, 40)) + payload[p:]
    if kind == 3:  # a length prefix claiming more than there is
        p = _pos(rng, payload)
        return payload[:p] + b"\x0a\xff\xff\xff\x0f" + payload[p:]
    if kind == 4:
        return m_insert_random(rng, payload)
    return payload + rng.randbytes(rng.choice((1, 9)))


def m_tf_behind_crc(rng, data):
    """Mutate TFRecord payloads and recompute both checksums: the protobuf decoder sees the damage."""
    recs = _tfrecords(data)
    if not recs:
        return m_flip(rng, data)
    chosen = set(rng.sample(range(len(recs)), min(len(recs), rng.choice((1, 2, 5)))))
    out = bytearray()
    for i, (s, e) in enumerate(recs):
        payload = data[s:e]
        if i in chosen:
            payload = _payload_mutation(rng, payload)
        head = struct.pack("<Q", len(payload))
        out += head + struct.pack("<I", _crc32c.mask(_crc32c.crc32c(head)))
        out += payload + struct.pack("<I", _crc32c.mask(_crc32c.crc32c(payload)))
    return bytes(out)


def m_wandb_behind_crc(rng, data):
    """Mutate W&B (LevelDB log) record payloads in place (same length) and recompute their crc32."""
    b = bytearray(data)
    pos, starts = 7, []
    while pos + 7 <= len(b):
        left = 32768 - pos % 32768
        if left < 7:
            pos += left
            continue
        _, length, typ = struct.unpack_from("<IHB", b, pos)
        if typ == 0 and length == 0:
            pos += left
            continue
        if pos + 7 + length > len(b):
            break
        starts.append((pos, length, typ))
        pos += 7 + length
    if not starts:
        return m_flip(rng, data)
    for pos, length, typ in rng.sample(starts, min(len(starts), rng.choice((1, 3)))):
        s, e = pos + 7, pos + 7 + length
        new = _payload_mutation(rng, bytes(b[s:e]))
        new = (new + b"\0" * length)[:length]
        b[s:e] = new
        struct.pack_into("<I", b, pos, zlib.crc32(new, zlib.crc32(bytes([typ]))) & 0xFFFFFFFF)
    return bytes(b)


GENERIC = [m_flip, m_truncate, m_insert_random, m_delete, m_duplicate, m_control, m_newlines_to_cr, m_number,
           m_deep, m_giant_line, m_empty]
BY_FORMAT = {
    "text": GENERIC, "csv": GENERIC, "jsonl": GENERIC + [m_json_types] * 3, "hf": GENERIC + [m_hf_types] * 4,
    "tensorboard": [m_flip, m_truncate, m_insert_random, m_delete, m_duplicate, m_empty, m_giant_line]
    + [m_tf_behind_crc] * 6,
    "wandb": [m_flip, m_truncate, m_insert_random, m_delete, m_duplicate, m_empty] + [m_wandb_behind_crc] * 5,
    "mlflow": GENERIC,
}


def _schedule() -> list[str]:
    return [f for f in FORMATS for _ in range(SHARE[f])]


def inputs(base_files: dict, seed: int, n: int):
    """n Cases, deterministic in (seed, n, base files)."""
    rng = random.Random(seed)
    sched = _schedule()
    for i in range(n):
        fmt = sched[i % len(sched)]
        name, files, target, fmt_arg = rng.choice(base_files[fmt])
        files = dict(files)
        keys = sorted(files)
        if fmt == "mlflow" and name == "mlruns":  # a metric file mostly; sometimes meta.yaml or a tag
            metric = [k for k in keys if "/metrics/" in k]
            key = rng.choice(metric if rng.random() < 0.8 else keys)
        else:
            key = rng.choice(keys)
        muts = []
        data = files[key]
        for _ in range(1 if rng.random() < 0.75 else 2):
            m = rng.choice(BY_FORMAT[fmt])
            if fmt == "mlflow" and name == "mlflow.db" and m in (m_giant_line, m_deep):
                m = m_flip  # (keeps the 1 MB sqlite cases small in number and size)
            data = m(rng, data)
            muts.append(m.__name__[2:])
        files[key] = data
        # half the cases name the format, half let auto-detection sniff it
        yield Case(i, fmt, name, muts, files, target, fmt_arg if rng.random() < 0.5 else fmt)


# --- driver ----------------------------------------------------------------------------------------------


@dataclass
class Outcome:
    kind: str  # clean | skipped | error | crash
    seconds: float
    detail: str = ""


def write_case(case: Case, root: Path) -> Path:
    if root.exists():
        shutil.rmtree(root)
    for rel, data in case.files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    return root / case.target if case.target else root


def run_case(case: Case, root: Path) -> Outcome:
    path = write_case(case, root)
    t = time.perf_counter()
    try:
        run = read_run(path, format=case.format)
    except LogReadError as e:
        dt = time.perf_counter() - t
        msg = str(e)
        if path.name not in msg and str(root) not in msg:
            return Outcome("crash", dt, f"LogReadError without the path: {msg[:200]}")
        return Outcome("error", dt, msg[:200])
    except BaseException as e:  # noqa: BLE001 - this is what the fuzz suite counts
        if isinstance(e, KeyboardInterrupt):
            raise
        return Outcome("crash", time.perf_counter() - t, f"{type(e).__name__}: {str(e)[:200]}")
    dt = time.perf_counter() - t
    return Outcome("skipped" if (run.skipped_lines or run.skipped) else "clean", dt)

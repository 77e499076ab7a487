"""Readers against files written by the real writers (SummaryWriter every time; the rest checked in)."""

from __future__ import annotations

import gzip
import math
import shutil
import struct
from pathlib import Path

import pytest
from traintriage.logs import LogReadError, read_run

DATA = Path(__file__).parent / "data" / "logs"


def _writer(logdir: Path, **kw):
    from torch.utils.tensorboard import SummaryWriter

    return SummaryWriter(str(logdir), **kw)


def test_tensorboard_simple_and_tensor_scalars(tmp_path):
    import torch

    w = _writer(tmp_path / "run")
    for s in range(100):
        w.add_scalar("train/loss", 2.0 / (s + 1), s)
        w.add_scalar("lr", 1e-3 * min(1.0, (s + 1) / 10), s)
        w.add_scalar("new/acc", s / 100, s, new_style=True)  # tensor-encoded scalar, plugin "scalars"
        if s % 10 == 0:
            w.add_histogram("weights", torch.randn(50), s)  # skipped, not decoded
            w.add_text("note", f"step {s}", s)
    w.close()
    run = read_run(tmp_path / "run")
    assert run.format == "tensorboard"
    loss, acc = run.series["train/loss"], run.series["new/acc"]
    assert loss.role == "train_loss" and run.series["lr"].role == "lr"
    assert loss.steps == list(range(100)) and acc.steps == list(range(100))
    assert loss.values[3] == pytest.approx(0.5, rel=1e-6)  # float32 precision
    assert acc.values[50] == pytest.approx(0.5, rel=1e-6)
    assert all(t > 1e9 for t in loss.wall_times)
    assert set(run.series) == {"train/loss", "lr", "new/acc"}
    assert run.skipped == []


def test_tensorboard_directory_tree_of_runs(tmp_path):
    for name, scale in (("a", 1.0), ("b", 2.0)):
        w = _writer(tmp_path / name)
        for s in range(5):
            w.add_scalar("loss", scale * s, s)
        w.close()
    w = _writer(tmp_path / "c")
    w.add_scalars("cmp", {"x": 1.0, "y": 2.0}, 0)  # writes into sub-folders of c
    w.close()
    run = read_run(tmp_path)
    assert run.series["a/loss"].values == [0, 1, 2, 3, 4]
    assert run.series["b/loss"].values == [0, 2, 4, 6, 8]
    assert any(k.endswith("cmp") and "x" in k for k in run.series)
    assert len(run.metadata["runs"]) >= 3


def test_tensorboard_resumed_run_keeps_last_write_per_step(tmp_path):
    w = _writer(tmp_path, filename_suffix=".first")
    for s in range(10):
        w.add_scalar("loss", 1.0, s)
    w.close()
    w = _writer(tmp_path, filename_suffix=".second")  # resumed from step 5
    for s in range(5, 12):
        w.add_scalar("loss", 0.5, s)
    w.close()
    run = read_run(tmp_path)
    loss = run.series["loss"]
    assert loss.steps == list(range(12))
    assert loss.values == [1.0] * 5 + [0.5] * 7
    assert any("repeated step" in n and "kept the last write" in n for n in run.skipped)


def _event_file(tmp_path: Path, n: int = 50) -> Path:
    w = _writer(tmp_path / "ev")
    for s in range(n):
        w.add_scalar("loss", float(s), s)
    w.close()
    return next((tmp_path / "ev").glob("*tfevents*"))


def test_tensorboard_truncated_file_reads_what_is_there(tmp_path):
    f = _event_file(tmp_path)
    data = f.read_bytes()
    f.write_bytes(data[:-7])  # writer killed mid-record
    run = read_run(f)
    assert run.series["loss"].values == [float(s) for s in range(49)]
    assert any("truncated" in n for n in run.skipped)


def test_tensorboard_corrupt_data_crc_drops_that_record(tmp_path):
    f = _event_file(tmp_path)
    data = bytearray(f.read_bytes())
    # the last record is step 49: flip a bit in its float value (4 bytes before its 4-byte data CRC)
    data[-6] ^= 0x01
    f.write_bytes(bytes(data))
    run = read_run(f)
    assert run.series["loss"].steps == list(range(49))
    assert any("data checksum" in n for n in run.skipped)


def test_tensorboard_corrupt_length_crc_stops_there(tmp_path):
    f = _event_file(tmp_path)
    data = bytearray(f.read_bytes())
    first_len = int.from_bytes(data[:8], "little")
    second = 16 + first_len  # file_version record, then scalars
    data[second + 8] ^= 0xFF
    f.write_bytes(bytes(data))
    run = read_run(f)
    assert "loss" not in run.series or len(run.series["loss"]) == 0
    assert any("corrupt record framing" in n for n in run.skipped)


def test_tensorboard_garbage_is_an_error(tmp_path):
    f = tmp_path / "events.out.tfevents.garbage"
    f.write_bytes(bytes(range(256)) * 20)
    with pytest.raises(LogReadError, match="not a TFRecord"):
        read_run(f)


def test_hf_trainer_state():
    run = read_run(DATA / "hf_trainer_state.json")
    assert run.format == "hf"
    loss, ev, lr = run.series["loss"], run.series["eval_loss"], run.series["learning_rate"]
    assert loss.role == "train_loss" and ev.role == "val_loss" and lr.role == "lr"
    assert loss.steps == list(range(2, 25, 2)) and ev.steps == [8, 16, 24]
    assert run.metadata["global_step"] == 24
    assert run.skipped == []


def test_hf_trainer_stdout_dict_lines():
    run = read_run(DATA / "hf_trainer_stdout.txt")
    assert run.format == "text"
    state = read_run(DATA / "hf_trainer_state.json")
    # same training values as the checkpoint (the Trainer prints them rounded to 4 significant digits)
    for a, b in zip(run.series["loss"].values, state.series["loss"].values, strict=False):
        assert a == pytest.approx(b, rel=1e-3)
    assert len(run.series["eval_loss"]) == 3


def test_lightning_csvlogger_sparse_rows():
    run = read_run(DATA / "lightning_csvlogger_metrics.csv")
    assert run.format == "csv"
    assert run.series["train_loss_step"].role == "train_loss"
    assert len(run.series["train_loss_step"]) == 20 and len(run.series["val_loss"]) == 4
    assert run.series["val_acc"].role == "val_accuracy"
    assert not [n for n in run.skipped if "repeated" in n]


def test_lightning_progress_bar_text():
    run = read_run(DATA / "lightning_progress.txt")
    s = run.series["train_loss_step"]
    assert s.role == "train_loss" and s.steps[:3] == [1, 2, 3] and len(s) == 40
    assert "v_num" not in run.series and "DataLoader" not in run.series


def test_mlflow_file_store():
    run = read_run(DATA / "mlruns")
    assert run.format == "mlflow"
    loss = run.series["train/loss"]
    assert loss.steps == list(range(30)) and loss.values[0] == pytest.approx(2.3)
    assert run.series["val_loss"].steps == [9, 19, 29]
    assert run.metadata["params"]["num_classes"] == "10"


def test_mlflow_sqlite(tmp_path):
    db = tmp_path / "mlflow.db"
    db.write_bytes(gzip.decompress((DATA / "mlflow.db.gz").read_bytes()))
    run = read_run(db)
    assert run.format == "mlflow"
    assert run.series["train/loss"].values[-1] == pytest.approx(2.3 * math.exp(-2.9))
    assert run.series["val_loss"].steps == [9, 19, 29]


def test_wandb_offline_run_without_wandb_package():
    run = read_run(DATA / "wandb_offline_run")
    assert run.format == "wandb"
    loss = run.series["train/loss"]
    assert loss.steps == list(range(30)) and loss.values[10] == pytest.approx(2.3 * math.exp(-1))
    assert run.series["val/loss"].steps == [9, 19, 29]
    assert run.metadata["config"]["num_classes"] == 10
    assert all(t > 1e9 for t in loss.wall_times)


def test_wandb_corrupt_and_truncated(tmp_path):
    src = next((DATA / "wandb_offline_run").glob("*.wandb"))
    f = tmp_path / src.name
    data = bytearray(src.read_bytes())
    data[len(data) // 2] ^= 0xFF
    f.write_bytes(bytes(data[: len(data) - 100]))
    run = read_run(f)
    assert len(run.series["train/loss"]) > 0
    assert any("checksum" in n or "truncated" in n for n in run.skipped)
    bad = tmp_path / "x.wandb"
    bad.write_bytes(b"not a wandb file at all" * 10)
    with pytest.raises(LogReadError, match="not a W&B run file"):
        read_run(bad)


@pytest.mark.parametrize(
    "text,expect",
    [
        ("step 10 loss 0.31 lr 1e-3\nstep 20 loss 0.25 lr 1e-3\n", {"loss": [0.31, 0.25], "lr": [1e-3, 1e-3]}),
        ("step: 1, loss: 2.0\nstep: 2, loss: 1.5\n", {"loss": [2.0, 1.5]}),
        ("iter 100: loss 3.2345, time 30.12ms, mfu 12.3%\niter 200: loss 3.0, time 29ms, mfu 12%\n",
         {"loss": [3.2345, 3.0]}),
        ("Epoch 1 | global_step=5 | loss=0.3 | acc=0.9\n", {"loss": [0.3], "acc": [0.9]}),
        ("32/32 [==============================] - 1s 2ms/step - loss: 0.6931 - accuracy: 0.5000\n",
         {"loss": [0.6931], "accuracy": [0.5]}),
    ],
)
def test_text_line_styles(tmp_path, text, expect):
    f = tmp_path / "train.log"
    f.write_text(text)
    run = read_run(f)
    for k, v in expect.items():
        assert run.series[k].values == pytest.approx(v)
    if "step 10" in text:
        assert run.series["loss"].steps == [10, 20]


def test_jsonl_nested_and_nan(tmp_path):
    f = tmp_path / "m.jsonl"
    f.write_text('{"step": 1, "train": {"loss": 1.0}, "lr": 0.1}\nnot json\n{"step": 2, "train": {"loss": NaN}}\n'
                 '{"step": 3, "train": {"loss": "Infinity"}}\n')
    run = read_run(f)
    loss = run.series["train/loss"]
    assert loss.steps == [1, 2, 3] and math.isnan(loss.values[1]) and loss.values[2] == math.inf
    assert run.skipped_lines == 1 and run.first_skip.line == 2 and "not JSON" in run.first_skip.reason
    assert any("1 unreadable line(s) skipped (first at line 2" in n for n in run.skipped)


def test_keras_and_tensorboard_export_csv(tmp_path):
    k = tmp_path / "training.log"
    k.write_text("epoch,accuracy,loss,val_accuracy,val_loss\n0,0.5,0.69,0.5,0.70\n1,0.6,0.6,0.55,0.65\n")
    run = read_run(k)
    assert run.format == "csv" and run.series["val_loss"].steps == [0, 1]
    t = tmp_path / "run-train-tag-loss.csv"
    t.write_text("Wall time,Step,Value\n1700000000.0,0,1.5\n1700000001.0,10,1.2\n")
    run = read_run(t)
    assert run.series["run-train-tag-loss"].values == [1.5, 1.2]
    assert run.series["run-train-tag-loss"].wall_times == [1700000000.0, 1700000001.0]


def test_format_forced_and_missing(tmp_path):
    with pytest.raises(LogReadError, match="no such file"):
        read_run(tmp_path / "nope.log")
    with pytest.raises(LogReadError, match="unknown format"):
        read_run(DATA / "hf_trainer_state.json", format="xml")
    empty = tmp_path / "empty.log"
    empty.write_text("")
    with pytest.raises(LogReadError, match="empty"):
        read_run(empty)
    d = tmp_path / "d"
    d.mkdir()
    (d / "readme.md").write_text("hi")
    with pytest.raises(LogReadError, match="no run logs found"):
        read_run(d)
    shutil.copy(DATA / "hf_trainer_state.json", d / "trainer_state.json")
    assert read_run(d).format == "hf"


def test_tensorboard_half_val_is_read_and_a_corrupt_one_is_a_proto_error():
    """half_val carries an IEEE half's 16 bits in an int32 varint: 0x3C00 is 1.0; more bits is a corrupt record
    (the 10k fuzz run, seed 4, found an OverflowError escaping the reader here)."""
    from traintriage.logs.readers._pb import ProtoError
    from traintriage.logs.readers.tensorboard_proto import _tensor_scalar

    def tensor(half_bits_varint: bytes) -> bytes:  # dtype DT_HALF (19), field 13 (half_val, varint)
        return bytes([0x08, 19, 0x68]) + half_bits_varint

    ok = tensor(bytes([0x80, 0x78]))  # 0x3C00
    assert _tensor_scalar(ok, 0, len(ok)) == 1.0
    bad = tensor(bytes([0xFF, 0xFF, 0x07]))  # 0x1FFFF: 17 bits
    with pytest.raises(ProtoError, match="half_val"):
        _tensor_scalar(bad, 0, len(bad))


def test_tensorboard_number_field_with_the_wrong_wire_type_is_a_proto_error():
    """A TensorProto's int_val (field 7) is a varint or packed; float_val (5) a fixed32 or packed. Another wire
    type is a corrupt record, not a crash (the 10k fuzz run, seed 4, found a TypeError here: int_val sent as a
    fixed32, whose value is a position, was unpacked as a packed span)."""
    from traintriage.logs.readers._pb import ProtoError
    from traintriage.logs.readers.tensorboard_proto import _tensor_scalar

    dt_int32 = bytes([0x08, 3])
    ok = dt_int32 + bytes([0x38, 5])  # field 7, wire type 0: int_val 5
    assert _tensor_scalar(ok, 0, len(ok)) == 5.0
    fixed32 = dt_int32 + bytes([0x3D, 1, 0, 0, 0])  # field 7, wire type 5
    with pytest.raises(ProtoError, match="varint field"):
        _tensor_scalar(fixed32, 0, len(fixed32))
    dt_float = bytes([0x08, 1])
    ok = dt_float + bytes([0x2D]) + struct.pack("<f", 0.5)  # field 5, wire type 5: float_val 0.5
    assert _tensor_scalar(ok, 0, len(ok)) == 0.5
    as_varint = dt_float + bytes([0x28, 7])  # field 5, wire type 0
    with pytest.raises(ProtoError, match="float field"):
        _tensor_scalar(as_varint, 0, len(as_varint))

"""`traintriage logs` end to end in a subprocess: one JSON object, exit codes 0 / 1 / 2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

DATA = Path(__file__).parent / "data" / "logs"


def cli(*args: str) -> tuple[int, str, str]:
    p = subprocess.run([sys.executable, "-m", "traintriage.cli", "logs", *args], capture_output=True, text=True,
                       timeout=120)
    return p.returncode, p.stdout, p.stderr


def test_healthy_run_exit_0_one_json_object():
    code, out, _ = cli(str(DATA / "hf_trainer_state.json"), "--json", "--points", "5")
    assert code == 0
    payload = json.loads(out)
    assert payload["tool"] == "logs" and payload["verdict"] == "healthy"
    assert payload["summary"]["metrics"]["loss"]["points"]["total"] == 12


def test_broken_run_exit_1(tmp_path):
    from torch.utils.tensorboard import SummaryWriter

    w = SummaryWriter(str(tmp_path))
    for s in range(50):
        w.add_scalar("train/loss", 1.0 / (s + 1) if s < 30 else float("nan"), s)
    w.close()
    code, out, _ = cli(str(tmp_path), "--json")
    payload = json.loads(out)
    assert code == 1 and payload["symptoms"][0]["id"] == "nan-loss" and payload["symptoms"][0]["step"] == 30
    assert payload["findings"][0]["id"] == "non-finite-loss"


def test_bad_input_exit_2(tmp_path):
    code, out, _ = cli(str(tmp_path / "missing.log"), "--json")
    assert code == 2 and "no such file" in json.loads(out)["error"]["message"]
    g = tmp_path / "g.bin"
    g.write_bytes(bytes(range(256)) * 10)
    code, _, err = cli(str(g))
    assert code == 2 and "binary" in err


def test_metric_paging_classes_and_plot(tmp_path):
    code, out, _ = cli(str(DATA / "mlruns"), "--metric", "train/loss", "--points", "10", "--offset", "10",
                       "--classes", "10", "--plot", str(tmp_path / "p.png"), "--json")
    payload = json.loads(out)
    assert payload["summary"]["series"]["steps"] == list(range(10, 20))
    assert payload["summary"]["series"]["next_offset"] == 20
    assert Path(payload["plot"]).exists()
    code, out, _ = cli(str(DATA / "wandb_offline_run"), "--format", "wandb")
    assert code == 0 and "train/loss" in out and "[wandb]" in out

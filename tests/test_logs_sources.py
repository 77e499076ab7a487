"""`traintriage logs FOLDER` reads our own traintriage_watch.jsonl when the folder has one, and says which files it
read and which it left out (issue 19 item 2). Real files from the real writers: traintriage.watch, torch's
SummaryWriter, the HF Trainer and Lightning with our callbacks and their default loggers."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn as nn
import traintriage
from framework_runs import hf_train, lightning_train

REPO = Path(__file__).resolve().parent.parent


def cli(*args: str) -> tuple[int, str]:
    p = subprocess.run([sys.executable, "-m", "traintriage", "logs", *args], capture_output=True, text=True,
                       timeout=120, cwd=REPO)
    return p.returncode, p.stdout


def _watched_run(folder: Path, steps: int = 8) -> None:
    """A plain loop under traintriage.watch, with a TensorBoard writer in a subfolder as frameworks have."""
    from torch.utils.tensorboard import SummaryWriter

    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 1))
    x, y = torch.randn(32, 4), torch.randn(32, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    tb = SummaryWriter(str(folder / "tb" / "version_0"))
    with traintriage.watch(model, opt, path=folder / "traintriage_watch.jsonl"):
        for s in range(steps):
            loss = ((model(x) - y) ** 2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            tb.add_scalar("train_loss", loss.item(), s)
    tb.close()


def test_folder_prefers_the_watch_file_and_names_the_rest(tmp_path):
    from traintriage.logs import read_run

    _watched_run(tmp_path)
    run = read_run(tmp_path)
    assert run.format == "jsonl" and run.files_read == ["traintriage_watch.jsonl"]
    assert "update_ratio" in run.series and len(run.series["loss"]) == 8  # every step, with the norms
    (skip,) = run.files_skipped
    assert skip.path.startswith("tb/version_0/events.out.tfevents") and "tensorboard" in skip.why
    # the control: without the watch file the same folder is read from its event file, and says so
    (tmp_path / "traintriage_watch.jsonl").unlink()
    run = read_run(tmp_path)
    assert run.format == "tensorboard" and run.files_read[0].startswith("tb/version_0/events")
    assert run.files_skipped == []
    # a file given by path is read as given
    assert read_run(tmp_path / run.files_read[0]).files_read == [str(tmp_path / run.files_read[0])]


def test_an_older_watch_file_is_skipped_with_its_reason(tmp_path):
    import os

    from traintriage.logs import read_run

    _watched_run(tmp_path / "old", steps=4)
    _watched_run(tmp_path / "new", steps=6)
    os.utime(tmp_path / "old" / "traintriage_watch.jsonl", (1, 1))
    run = read_run(tmp_path)
    assert run.files_read == ["new/traintriage_watch.jsonl"] and len(run.series["loss"]) == 6
    whys = {s.path: s.why for s in run.files_skipped}
    assert "older" in whys["old/traintriage_watch.jsonl"]


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::FutureWarning", "ignore::UserWarning")  # third-party deprecation noise
@pytest.mark.skipif(importlib.util.find_spec("transformers") is None, reason="transformers is not installed")
def test_hf_output_dir_reads_our_watch_file(tmp_path):
    hf_train(tmp_path, report_to=["tensorboard"], save_strategy="steps", save_steps=6)  # + its TB file, a checkpoint
    code, out = cli(str(tmp_path), "--json")
    payload = json.loads(out)
    summary = payload["summary"]
    assert code == 0 and summary["format"] == "jsonl" and summary["files_read"] == ["traintriage_watch.jsonl"]
    skipped = {s["path"].split("/")[0]: s["why"] for s in summary["files_skipped"]}
    assert set(skipped) == {"runs", "checkpoint-6"}  # HF's TensorBoard file and the checkpoint's trainer_state
    assert "update_ratio" in summary["metrics"] and summary["metrics"]["loss"]["count"] == 6
    code, text = cli(str(tmp_path))
    assert "read: traintriage_watch.jsonl" in text and "skipped: checkpoint-6/trainer_state.json" in text


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::FutureWarning", "ignore::UserWarning", "ignore::DeprecationWarning")
@pytest.mark.skipif(importlib.util.find_spec("lightning") is None, reason="lightning is not installed")
def test_lightning_root_dir_reads_our_watch_file_not_the_tensorboard_one(tmp_path):
    from traintriage.logs import read_run

    lightning_train(tmp_path, steps=8, log_every_n_steps=1)  # the default logger: TensorBoard
    run = read_run(tmp_path)
    assert run.files_read == ["traintriage_watch.jsonl"] and len(run.series["loss"]) == 8
    (skip,) = run.files_skipped
    assert skip.path.startswith("lightning_logs/version_0/events.out.tfevents")

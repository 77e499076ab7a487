"""Regenerate the checked-in log files in this folder with the REAL writers.

Run once in an environment that has the writers installed (they are not dev dependencies):

    pip install lightning transformers mlflow wandb
    python tests/data/logs/generate.py

Each run is tiny (a few dozen steps on random data) and seeded; README.md records the versions used.
TensorBoard files are not checked in: the tests write them with torch's SummaryWriter every time.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def lightning() -> None:
    import lightning as L
    import torch
    from lightning.pytorch.callbacks import TQDMProgressBar
    from lightning.pytorch.loggers import CSVLogger
    from torch import nn
    from torch.utils.data import DataLoader, TensorDataset

    torch.manual_seed(0)

    class Tiny(L.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.net = nn.Linear(8, 3)

        def training_step(self, batch, _):
            x, y = batch
            loss = nn.functional.cross_entropy(self.net(x), y)
            self.log("train_loss", loss, on_step=True, on_epoch=True, prog_bar=True)
            self.log("lr", self.optimizers().param_groups[0]["lr"], on_step=True)
            return loss

        def validation_step(self, batch, _):
            x, y = batch
            self.log("val_loss", nn.functional.cross_entropy(self.net(x), y), prog_bar=True)
            self.log("val_acc", (self.net(x).argmax(1) == y).float().mean())

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.1)

    x, y = torch.randn(160, 8), torch.randint(0, 3, (160,))
    dl = DataLoader(TensorDataset(x, y), batch_size=16)
    out = HERE / "_lightning_tmp"
    shutil.rmtree(out, ignore_errors=True)
    keep = os.environ.get("TT_KEEP_PROGRESS") == "1"
    with contextlib.nullcontext() if keep else contextlib.redirect_stderr(io.StringIO()):
        trainer = L.Trainer(
            max_epochs=4, logger=CSVLogger(str(out), name="tiny"), log_every_n_steps=2,
            enable_checkpointing=False, enable_model_summary=False, accelerator="cpu",
            callbacks=[TQDMProgressBar(refresh_rate=1)],
        )
        trainer.fit(Tiny(), dl, dl)
    shutil.copy(next(out.rglob("metrics.csv")), HERE / "lightning_csvlogger_metrics.csv")
    shutil.rmtree(out)


def lightning_progress() -> None:
    """The progress-bar text Lightning prints (tqdm, carriage returns) captured from a subprocess."""
    code = (
        "import sys; sys.argv=['x']\n"
        f"import importlib.util as u; s=u.spec_from_file_location('g', {str(Path(__file__))!r}); g=u.module_from_spec(s); "
        "s.loader.exec_module(g); g.lightning()\n"
    )
    env = dict(os.environ, PYTHONUNBUFFERED="1", TT_KEEP_PROGRESS="1")
    p = subprocess.run([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       env=env, check=True)
    (HERE / "lightning_progress.txt").write_bytes(p.stdout)


def hf_trainer() -> None:
    import torch
    from torch import nn
    from transformers import Trainer, TrainingArguments

    torch.manual_seed(0)

    class Tiny(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = nn.Linear(8, 4)

        def forward(self, x, labels=None):
            logits = self.net(x)
            return {"loss": nn.functional.cross_entropy(logits, labels), "logits": logits}

    data = [{"x": torch.randn(8), "labels": int(torch.randint(0, 4, ()))} for _ in range(64)]
    out = HERE / "_hf_tmp"
    shutil.rmtree(out, ignore_errors=True)
    args = TrainingArguments(
        output_dir=str(out), max_steps=24, per_device_train_batch_size=8, logging_steps=2,
        eval_strategy="steps", eval_steps=8, save_strategy="steps", save_steps=24, report_to=[],
        disable_tqdm=True, learning_rate=5e-2, warmup_steps=4, use_cpu=True, seed=0,
    )
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        Trainer(model=Tiny(), args=args, train_dataset=data, eval_dataset=data[:16]).train()
    (HERE / "hf_trainer_stdout.txt").write_text(buf.getvalue())
    shutil.copy(next(out.rglob("trainer_state.json")), HERE / "hf_trainer_state.json")
    shutil.rmtree(out)


def mlflow_stores() -> None:
    os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")  # the file store is in maintenance mode in 3.x
    import mlflow

    for name in ("mlruns", "mlflow.db"):
        p = HERE / name
        shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)
    for uri in (f"file://{HERE / 'mlruns'}", f"sqlite:///{HERE / 'mlflow.db'}"):
        mlflow.set_tracking_uri(uri)
        mlflow.set_experiment("tiny")
        with mlflow.start_run(run_name="tiny"):
            mlflow.log_params({"lr": 0.001, "num_classes": 10})
            for s in range(30):
                mlflow.log_metrics({"train/loss": 2.3 * math.exp(-s / 10), "lr": 1e-3}, step=s)
                if s % 10 == 9:
                    mlflow.log_metric("val_loss", 2.0 - s / 30, step=s)
    # The sqlite store is ~1 MB of mostly empty schema; keep it gzipped (the tests gunzip it to tmp_path).
    import gzip

    db = HERE / "mlflow.db"
    (HERE / "mlflow.db.gz").write_bytes(gzip.compress(db.read_bytes(), 9))
    db.unlink()


def wandb_offline() -> None:
    os.environ["WANDB_MODE"] = "offline"
    os.environ["WANDB_SILENT"] = "true"
    import wandb

    tmp = HERE / "_wandb_tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    run = wandb.init(project="tiny", dir=str(tmp), config={"lr": 1e-3, "num_classes": 10})
    for s in range(30):
        run.log({"train/loss": 2.3 * math.exp(-s / 10), "lr": 1e-3, "grad_norm": 1.0 / (s + 1)}, step=s)
        if s % 10 == 9:
            run.log({"val/loss": 2.0 - s / 30}, step=s)
    run.finish()
    src = next(tmp.rglob("*.wandb"))
    dst = HERE / "wandb_offline_run"
    shutil.rmtree(dst, ignore_errors=True)
    dst.mkdir()
    shutil.copy(src, dst / src.name)
    shutil.rmtree(tmp)


def versions() -> dict:
    out = {}
    for mod in ("torch", "lightning", "transformers", "mlflow", "wandb"):
        with contextlib.suppress(Exception):
            out[mod] = __import__(mod).__version__
    return out


if __name__ == "__main__":
    which = sys.argv[1:] or ["lightning", "lightning_progress", "hf_trainer", "mlflow_stores", "wandb_offline"]
    for w in which:
        globals()[w]()
    print(json.dumps(versions()))

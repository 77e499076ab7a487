"""Tiny real HF Trainer and Lightning runs with our callbacks, shared by the callback and log-folder tests."""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn as nn


def hf_train(out: Path, **args) -> None:  # noqa: ANN003 - TrainingArguments keywords
    """6 steps of a linear regression through `transformers.Trainer` with TraintriageHFCallback in `out`."""
    from torch.utils.data import Dataset
    from traintriage.callbacks import TraintriageHFCallback
    from transformers import Trainer, TrainingArguments

    class DS(Dataset):
        def __len__(self):
            return 64

        def __getitem__(self, i):
            g = torch.Generator().manual_seed(i)
            return {"x": torch.randn(4, generator=g), "labels": torch.randn(1, generator=g)}

    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.net = nn.Linear(4, 1)

        def forward(self, x, labels=None):
            out = self.net(x)
            return {"loss": ((out - labels) ** 2).mean(), "logits": out}

    kw = {"max_steps": 6, "per_device_train_batch_size": 8, "logging_steps": 2, "report_to": [], "use_cpu": True,
          "save_strategy": "no", "disable_tqdm": True} | args
    Trainer(model=M(), args=TrainingArguments(output_dir=str(out), **kw), train_dataset=DS(),
            callbacks=[TraintriageHFCallback()]).train()


def lightning_train(root: Path, steps: int, **trainer_args) -> None:  # noqa: ANN003 - L.Trainer keywords
    """`steps` SGD steps of a linear regression through Lightning with TraintriageLightningCallback in `root`;
    the module logs its loss with self.log (what the default TensorBoard logger writes)."""
    try:
        import lightning.pytorch as L
    except ImportError:
        import pytorch_lightning as L
    from torch.utils.data import DataLoader, TensorDataset
    from traintriage.callbacks import TraintriageLightningCallback

    class M(L.LightningModule):
        def __init__(self):
            super().__init__()
            self.net = nn.Linear(4, 1)

        def training_step(self, batch, batch_idx):
            x, y = batch
            loss = ((self.net(x) - y) ** 2).mean()
            self.log("train_loss", loss)
            return loss

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.1)

    torch.manual_seed(0)
    data = DataLoader(TensorDataset(torch.randn(64, 4), torch.randn(64, 1)), batch_size=8)
    kw = {"enable_checkpointing": False, "enable_progress_bar": False, "enable_model_summary": False,
          "accelerator": "cpu"} | trainer_args
    L.Trainer(max_steps=steps, default_root_dir=str(root), callbacks=[TraintriageLightningCallback()], **kw).fit(
        M(), data)

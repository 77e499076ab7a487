"""Healthy control: DDP on 2 ranks, a Trainer class accumulating 2 micro-batches with no_sync() on all but the last,
set_epoch every epoch, and the same seed on every rank before the model is built.

Run: torchrun --nproc-per-node 2 train.py
"""
import contextlib

import torch
import torch.distributed as dist
import torch.nn as nn
from torch.nn.parallel import DistributedDataParallel as DDP
from torch.utils.data import DataLoader, DistributedSampler, TensorDataset


class Trainer:
    def __init__(self, model, loader, sampler, accum_steps=2, lr=0.05):
        self.model = DDP(model)
        self.loader = loader
        self.sampler = sampler
        self.accum_steps = accum_steps
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=lr, momentum=0.9)

    def micro_step(self, i, xb, yb):
        last = (i + 1) % self.accum_steps == 0
        with contextlib.nullcontext() if last else self.model.no_sync():
            loss = nn.functional.cross_entropy(self.model(xb), yb) / self.accum_steps
            loss.backward()
        if last:
            self.optimizer.step()
            self.optimizer.zero_grad()
        return loss.item() * self.accum_steps

    def fit(self, epochs):
        for epoch in range(epochs):
            self.sampler.set_epoch(epoch)
            for i, (xb, yb) in enumerate(self.loader):
                loss = self.micro_step(i, xb, yb)
            if dist.get_rank() == 0:
                print(f"epoch {epoch} loss {loss:.4f}")


def main():
    dist.init_process_group("gloo")
    rank = dist.get_rank()
    torch.manual_seed(0)  # data and initial weights: the same on every rank
    X = torch.randn(4096, 12)
    y = (X[:, :6].sum(dim=1) * X[:, 6:].sum(dim=1) > 0).long()
    dataset = TensorDataset(X, y)
    sampler = DistributedSampler(dataset, shuffle=True)
    loader = DataLoader(dataset, batch_size=32, sampler=sampler)
    model = nn.Sequential(nn.Linear(12, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 2))
    torch.manual_seed(100 + rank)  # per-rank randomness from here on (augmentation, dropout)
    Trainer(model, loader, sampler).fit(epochs=4)
    with torch.no_grad():
        acc = (model(X).argmax(dim=1) == y).float().mean().item()
    if rank == 0:
        print(f"final train acc {acc:.3f}")
    dist.barrier()  # every rank reaches teardown together (without it gloo aborted 2 in 16 exits)
    dist.destroy_process_group()


if __name__ == "__main__":
    main()

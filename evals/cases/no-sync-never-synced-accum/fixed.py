"""DDP on 2 ranks with gradient accumulation over 4 micro-batches; no_sync() to skip the all-reduce in between.

Run: torchrun --nproc-per-node 2 train.py
"""
import contextlib

import torch
import torch.distributed as dist
import torch.nn as nn
from torch.nn.parallel import DistributedDataParallel as DDP
from torch.utils.data import DataLoader, DistributedSampler, TensorDataset

ACCUM_STEPS = 4
EPOCHS = 4


def replica_drift(model, world):
    """Largest difference of any weight between this rank's replica and rank 0's."""
    flat = torch.cat([p.detach().flatten() for p in model.parameters()])
    gathered = [torch.zeros_like(flat) for _ in range(world)]
    dist.all_gather(gathered, flat)
    return max((g - gathered[0]).abs().max().item() for g in gathered)


def main():
    dist.init_process_group("gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    torch.manual_seed(0)
    X = torch.randn(4096, 16)
    y = torch.sin(X[:, 0] * 1.5) + X[:, 1] * X[:, 2] - 0.5 * X[:, 3]
    dataset = TensorDataset(X, y)
    sampler = DistributedSampler(dataset, shuffle=True)
    loader = DataLoader(dataset, batch_size=16, sampler=sampler)
    model = DDP(nn.Sequential(nn.Linear(16, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 1)))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    for epoch in range(EPOCHS):
        sampler.set_epoch(epoch)
        for i, (xb, yb) in enumerate(loader):
            ctx = model.no_sync() if (i + 1) % ACCUM_STEPS != 0 else contextlib.nullcontext()
            with ctx:
                loss = nn.functional.mse_loss(model(xb).squeeze(-1), yb) / ACCUM_STEPS
                loss.backward()
            if (i + 1) % ACCUM_STEPS == 0:
                optimizer.step()
                optimizer.zero_grad()
    with torch.no_grad():
        mse = nn.functional.mse_loss(model(X).squeeze(-1), y).item()
    drift = replica_drift(model, world)
    if rank == 0:
        print(f"final mse {mse:.4f} replica max weight difference {drift:.3g}")
    dist.barrier()  # every rank reaches teardown together (without it gloo aborted 2 in 16 exits)
    dist.destroy_process_group()


if __name__ == "__main__":
    main()

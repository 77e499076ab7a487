"""Data parallel by hand on 2 ranks (gradients all-reduced and averaged), a per-rank seed for augmentation noise.

Run: torchrun --nproc-per-node 2 train.py
"""
import torch
import torch.distributed as dist
import torch.nn as nn

STEPS = 200
BATCH = 32


def replica_drift(model, world):
    """Largest difference of any weight between this rank's replica and rank 0's."""
    flat = torch.cat([p.detach().flatten() for p in model.parameters()])
    gathered = [torch.zeros_like(flat) for _ in range(world)]
    dist.all_gather(gathered, flat)
    return max((g - gathered[0]).abs().max().item() for g in gathered)


def main():
    dist.init_process_group("gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    torch.manual_seed(0)  # the same dataset on every rank
    X = torch.randn(4096, 16)
    y = torch.sin(X[:, :1] * 1.5) + X[:, 1:2] * X[:, 2:3] - 0.5 * X[:, 3:4]
    Xs, ys = X[rank::world], y[rank::world]  # this rank's shard
    torch.manual_seed(1000)  # the same initial weights on every rank
    model = nn.Sequential(nn.Linear(16, 64), nn.Tanh(), nn.Linear(64, 64), nn.Tanh(), nn.Linear(64, 1))
    torch.manual_seed(1000 + rank)  # different augmentation noise on every rank
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    for step in range(STEPS):
        idx = torch.randint(0, len(Xs), (BATCH,))
        xb = Xs[idx] + 0.05 * torch.randn(BATCH, 16)
        loss = nn.functional.mse_loss(model(xb), ys[idx])
        optimizer.zero_grad()
        loss.backward()
        for p in model.parameters():
            dist.all_reduce(p.grad)
            p.grad /= world
        optimizer.step()
    with torch.no_grad():
        mse = nn.functional.mse_loss(model(X), y).item()
    drift = replica_drift(model, world)
    if rank == 0:
        print(f"final mse {mse:.4f} replica max weight difference {drift:.3g}")
    dist.barrier()  # every rank reaches teardown together (without it gloo aborted 2 in 16 exits)
    dist.destroy_process_group()


if __name__ == "__main__":
    main()

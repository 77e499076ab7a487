"""Data parallel by hand on 2 ranks: each rank computes gradients on its shard, the ranks all-reduce them, then
every rank steps. Plain SGD with a learning rate tuned on one process.

Run: torchrun --nproc-per-node 2 train.py
"""
import torch
import torch.distributed as dist
import torch.nn as nn

STEPS = 300
BATCH = 64
LR = 0.2  # tuned on a single process


def sync_gradients(model):
    for p in model.parameters():
        dist.all_reduce(p.grad)


def main():
    dist.init_process_group("gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    torch.manual_seed(7)  # data and initial weights: the same on every rank
    X = torch.randn(8192, 8)
    y = X[:, :4].sum(dim=1, keepdim=True) * 0.5 + torch.cos(X[:, 4:5] * 2.0)
    model = nn.Sequential(nn.Linear(8, 128), nn.ReLU(), nn.Linear(128, 1))
    optimizer = torch.optim.SGD(model.parameters(), lr=LR)
    gen = torch.Generator().manual_seed(100 + rank)  # each rank draws its own batches
    Xs, ys = X[rank::world], y[rank::world]
    for step in range(STEPS):
        idx = torch.randint(0, len(Xs), (BATCH,), generator=gen)
        loss = nn.functional.mse_loss(model(Xs[idx]), ys[idx])
        optimizer.zero_grad()
        loss.backward()
        sync_gradients(model)
        optimizer.step()
    with torch.no_grad():
        mse = nn.functional.mse_loss(model(X), y).item()
    if rank == 0:
        print(f"final mse {mse:.4f} (target variance {y.var().item():.3f})")
    dist.barrier()  # every rank reaches teardown together (without it gloo aborted 2 in 16 exits)
    dist.destroy_process_group()


if __name__ == "__main__":
    main()

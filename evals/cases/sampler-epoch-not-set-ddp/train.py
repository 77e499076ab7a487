"""DDP classifier on 2 ranks with a shuffling DistributedSampler, evaluated on a held-out split.

Run: torchrun --nproc-per-node 2 train.py
"""
import torch
import torch.distributed as dist
import torch.nn as nn
from torch.nn.parallel import DistributedDataParallel as DDP
from torch.utils.data import DataLoader, DistributedSampler, TensorDataset

EPOCHS = 6


def make_data(n, teacher):
    X = torch.randn(n, 20)
    y = teacher(X).argmax(dim=1)
    return X, y


def main():
    dist.init_process_group("gloo")
    rank = dist.get_rank()
    torch.manual_seed(0)
    teacher = nn.Sequential(nn.Linear(20, 32), nn.Tanh(), nn.Linear(32, 4))
    X, y = make_data(2048, teacher)
    Xv, yv = make_data(1024, teacher)
    train_set = TensorDataset(X, y)
    sampler = DistributedSampler(train_set, shuffle=True, seed=0)
    loader = DataLoader(train_set, batch_size=32, sampler=sampler)
    model = DDP(nn.Sequential(nn.Linear(20, 64), nn.ReLU(), nn.Linear(64, 4)))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    for epoch in range(EPOCHS):
        model.train()
        for xb, yb in loader:
            loss = nn.functional.cross_entropy(model(xb), yb)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        model.eval()
        with torch.no_grad():
            acc = (model(Xv).argmax(dim=1) == yv).float().mean().item()
        if rank == 0:
            print(f"epoch {epoch} loss {loss.item():.4f} val acc {acc:.3f}")
    if rank == 0:
        print(f"final val acc {acc:.3f}")
    dist.barrier()  # every rank reaches teardown together (without it gloo aborted 2 in 16 exits)
    dist.destroy_process_group()


if __name__ == "__main__":
    main()

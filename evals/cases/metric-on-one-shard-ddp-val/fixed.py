"""DDP classifier on 2 ranks; validation sharded with a DistributedSampler, the counts all-reduced before rank 0
prints the accuracy of the whole set.

Run: torchrun --nproc-per-node 2 train.py
"""
import torch
import torch.distributed as dist
import torch.nn as nn
from torch.nn.parallel import DistributedDataParallel as DDP
from torch.utils.data import DataLoader, DistributedSampler, TensorDataset

EPOCHS = 4


def make_data(n, teacher, noise):
    X = torch.randn(n, 20)
    y = teacher(X).argmax(dim=1)
    flip = torch.rand(n) < noise  # label noise, so the two shards' accuracies differ visibly
    y[flip] = torch.randint(0, 4, (int(flip.sum()),))
    return X, y


def evaluate(model, loader):
    correct, total = 0, 0
    model.eval()
    with torch.no_grad():
        for xb, yb in loader:
            correct += (model(xb).argmax(dim=1) == yb).sum().item()
            total += len(yb)
    model.train()
    counts = torch.tensor([correct, total], dtype=torch.float64)
    dist.all_reduce(counts)  # every rank's shard: the dataset's accuracy, not rank 0's half
    return int(counts[0]), int(counts[1])


def main():
    dist.init_process_group("gloo")
    rank = dist.get_rank()
    torch.manual_seed(0)
    teacher = nn.Sequential(nn.Linear(20, 32), nn.Tanh(), nn.Linear(32, 4))
    X, y = make_data(2048, teacher, 0.0)
    Xv, yv = make_data(1000, teacher, 0.3)
    train_set, val_set = TensorDataset(X, y), TensorDataset(Xv, yv)
    sampler = DistributedSampler(train_set, shuffle=True, seed=0)
    loader = DataLoader(train_set, batch_size=32, sampler=sampler)
    val_loader = DataLoader(val_set, batch_size=100, sampler=DistributedSampler(val_set, shuffle=False))
    model = DDP(nn.Sequential(nn.Linear(20, 64), nn.ReLU(), nn.Linear(64, 4)))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    for epoch in range(EPOCHS):
        sampler.set_epoch(epoch)
        for xb, yb in loader:
            loss = nn.functional.cross_entropy(model(xb), yb)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        correct, total = evaluate(model, val_loader)
        if rank == 0:
            print(f"epoch {epoch} loss {loss.item():.4f} val acc {correct / total:.3f} on {total} samples")
    dist.barrier()  # every rank reaches teardown together (without it gloo aborted 2 in 16 exits)
    dist.destroy_process_group()


if __name__ == "__main__":
    main()

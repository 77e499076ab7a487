"""DDP regression on 2 ranks: a main branch on the features plus a context branch on side information, merged
before the head. find_unused_parameters=True because the context branch is optional at inference.

Run: torchrun --nproc-per-node 2 train.py
"""
import torch
import torch.distributed as dist
import torch.nn as nn
from torch.nn.parallel import DistributedDataParallel as DDP
from torch.utils.data import DataLoader, DistributedSampler, TensorDataset

EPOCHS = 3


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.main = nn.Sequential(nn.Linear(12, 64), nn.ReLU())
        self.context = nn.Sequential(nn.Linear(6, 64), nn.ReLU())
        self.head = nn.Linear(64, 1)

    def forward(self, x, ctx=None, use_context=False):
        h = self.main(x)
        if use_context and ctx is not None:
            h = h + self.context(ctx)
        return self.head(h)


def main():
    dist.init_process_group("gloo")
    rank = dist.get_rank()
    torch.manual_seed(0)
    X = torch.randn(4096, 12)
    C = torch.randn(4096, 6)
    y = X[:, :3].sum(dim=1) + 1.5 * torch.tanh(C[:, 0] * C[:, 1]) + C[:, 2]
    dataset = TensorDataset(X, C, y)
    sampler = DistributedSampler(dataset, shuffle=True)
    loader = DataLoader(dataset, batch_size=32, sampler=sampler)
    model = DDP(Net(), find_unused_parameters=True)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    for epoch in range(EPOCHS):
        sampler.set_epoch(epoch)
        for xb, cb, yb in loader:
            pred = model(xb, cb, use_context=True).squeeze(-1)
            loss = nn.functional.mse_loss(pred, yb)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    with torch.no_grad():
        mse = nn.functional.mse_loss(model.module(X, C, use_context=True).squeeze(-1), y).item()
    if rank == 0:
        print(f"final mse {mse:.4f} (target variance {y.var().item():.3f})")
    dist.barrier()  # every rank reaches teardown together (without it gloo aborted 2 in 16 exits)
    dist.destroy_process_group()


if __name__ == "__main__":
    main()

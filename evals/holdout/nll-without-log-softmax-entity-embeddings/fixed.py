"""Tabular classifier with entity embeddings for categorical columns; plain loop over a batch generator."""
import torch
import torch.nn as nn

CARDS = (12, 7, 30)        # categories per categorical column
N_NUM, N_CLASSES = 5, 6


def make_table(n, seed=0):
    g = torch.Generator().manual_seed(seed)
    cats = torch.stack([torch.randint(0, c, (n,), generator=g) for c in CARDS], 1)
    nums = torch.randn(n, N_NUM, generator=g)
    tg = torch.Generator().manual_seed(99)
    effects = [torch.randn(c, N_CLASSES, generator=tg) for c in CARDS]
    w = torch.randn(N_NUM, N_CLASSES, generator=tg)
    score = sum(e[cats[:, j]] for j, e in enumerate(effects)) + nums @ w
    return cats, nums, score.argmax(1)


class TabularNet(nn.Module):
    def __init__(self, emb_dim=8, hidden=128):
        super().__init__()
        self.embs = nn.ModuleList([nn.Embedding(c, emb_dim) for c in CARDS])
        self.mlp = nn.Sequential(
            nn.Linear(emb_dim * len(CARDS) + N_NUM, hidden), nn.ReLU(),
            nn.Linear(hidden, hidden), nn.ReLU(),
            nn.Linear(hidden, N_CLASSES), nn.LogSoftmax(dim=1),
        )

    def forward(self, cats, nums):
        e = [emb(cats[:, j]) for j, emb in enumerate(self.embs)]
        return self.mlp(torch.cat(e + [nums], dim=1))


def batches(cats, nums, y, batch_size, g):
    perm = torch.randperm(len(y), generator=g)
    for i in range(0, len(y), batch_size):
        idx = perm[i:i + batch_size]
        yield cats[idx], nums[idx], y[idx]


if __name__ == "__main__":
    torch.manual_seed(0)
    cats, nums, y = make_table(4000)
    cv, nv, yv = make_table(1000, seed=1)
    model = TabularNet()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    criterion = nn.NLLLoss()
    g = torch.Generator().manual_seed(0)
    for epoch in range(5):
        model.train()
        for c, x, t in batches(cats, nums, y, 64, g):
            loss = criterion(model(c, x), t)
            opt.zero_grad()
            loss.backward()
            opt.step()
        model.eval()
        with torch.no_grad():
            acc = (model(cv, nv).argmax(1) == yv).float().mean().item()
        print(f"epoch {epoch} loss {loss.item():.4f} val_acc {acc:.3f}")
    print(f"final val accuracy {acc:.3f}")

"""Siamese embedding net trained with a contrastive (margin) loss on same/different-class pairs."""
import torch
import torch.nn as nn
import torch.nn.functional as F


def make_data(n, dim=32, n_classes=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    centers = 3.0 * torch.randn(n_classes, 4, generator=torch.Generator().manual_seed(7))
    y = torch.randint(0, n_classes, (n,), generator=g)
    x = 2.0 * torch.randn(n, dim, generator=g)          # mostly nuisance dimensions
    x[:, :4] = centers[y] + 0.5 * torch.randn(n, 4, generator=g)
    return x, y


class SiameseNet(nn.Module):
    def __init__(self, dim=32, emb=8):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(dim, 64), nn.ReLU(), nn.Linear(64, emb))

    def forward(self, a, b):
        return self.net(a), self.net(b)

    @torch.no_grad()
    def embed(self, x):
        return self.net(x)


def contrastive_loss(za, zb, same, margin=2.0):
    d = F.pairwise_distance(za, zb)
    return (same * d.pow(2) + (1 - same) * F.relu(margin - d).pow(2)).mean()


def sample_pairs(x, y, n, g):
    i = torch.randint(0, len(x), (n,), generator=g)
    j = torch.randint(0, len(x), (n,), generator=g)
    return x[i], x[j], (y[i] == y[j]).float()


def centroid_accuracy(model, x, y, xv, yv, n_classes=8):
    z, zv = model.embed(x), model.embed(xv)
    cents = torch.stack([z[y == c].mean(0) for c in range(n_classes)])
    return (torch.cdist(zv, cents).argmin(1) == yv).float().mean().item()


if __name__ == "__main__":
    torch.manual_seed(0)
    x, y = make_data(4096)
    xv, yv = make_data(1024, seed=1)
    model = SiameseNet()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    g = torch.Generator().manual_seed(3)
    for step in range(400):
        a, b, same = sample_pairs(x, y, 128, g)
        za, zb = model(a, b)
        loss = contrastive_loss(za, zb, same)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 100 == 0:
            print(f"step {step} loss {loss.item():.4f}")
    print(f"final val nearest-centroid accuracy {centroid_accuracy(model, x, y, xv, yv):.3f}")

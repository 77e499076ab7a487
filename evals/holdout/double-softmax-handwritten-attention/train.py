"""A small self-attention classifier written by hand (no nn.MultiheadAttention); config in a dataclass."""
import math
from dataclasses import dataclass

import torch
import torch.nn as nn


@dataclass
class Config:
    vocab: int = 16
    seq_len: int = 12
    d_model: int = 48
    n_classes: int = 10
    steps: int = 400
    batch_size: int = 64
    lr: float = 2e-3


def make_batch(cfg, n, g):
    """Label = number of copies of token 1 in the sequence (0..n_classes-1)."""
    x = torch.randint(2, cfg.vocab, (n, cfg.seq_len), generator=g)
    y = torch.randint(0, cfg.n_classes, (n,), generator=g)
    rank = torch.rand(n, cfg.seq_len, generator=g).argsort(1).argsort(1)
    x[rank < y[:, None]] = 1
    return x, y


class SelfAttention(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.qkv = nn.Linear(d, 3 * d)
        self.proj = nn.Linear(d, d)

    def forward(self, h):
        q, k, v = self.qkv(h).chunk(3, dim=-1)
        att = (q @ k.transpose(-2, -1)) / math.sqrt(q.shape[-1])
        return self.proj(att.softmax(dim=-1) @ v)


class AttnClassifier(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.tok = nn.Embedding(cfg.vocab, cfg.d_model)
        self.pos = nn.Parameter(0.02 * torch.randn(cfg.seq_len, cfg.d_model))
        self.attn = SelfAttention(cfg.d_model)
        self.norm1 = nn.LayerNorm(cfg.d_model)
        self.mlp = nn.Sequential(nn.Linear(cfg.d_model, 4 * cfg.d_model), nn.GELU(), nn.Linear(4 * cfg.d_model, cfg.d_model))
        self.norm2 = nn.LayerNorm(cfg.d_model)
        self.head = nn.Linear(cfg.d_model, cfg.n_classes)

    def forward(self, x):
        h = self.tok(x) + self.pos
        h = h + self.attn(self.norm1(h))
        h = h + self.mlp(self.norm2(h))
        logits = self.head(h.mean(dim=1))
        return torch.softmax(logits, dim=-1)


if __name__ == "__main__":
    cfg = Config()
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    xv, yv = make_batch(cfg, 1000, torch.Generator().manual_seed(1))
    model = AttnClassifier(cfg)
    criterion = nn.CrossEntropyLoss()
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    for step in range(cfg.steps):
        x, y = make_batch(cfg, cfg.batch_size, g)
        loss = criterion(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 100 == 0:
            print(f"step {step} loss {loss.item():.4f}")
    model.eval()
    with torch.no_grad():
        acc = (model(xv).argmax(-1) == yv).float().mean().item()
    print(f"final val accuracy {acc:.3f}")

"""A hand-written transformer classifies padded token sequences from its [CLS] position: is token 1 more
frequent than token 2? Padding keys are masked with -inf before the attention softmax; four heads."""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

PAD, CLS, T, D, H = 0, 10, 16, 32, 4
torch.manual_seed(0)


def batch(n):
    lengths = torch.randint(4, T, (n,))
    tokens = torch.randint(1, 10, (n, T))
    tokens[:, 0] = CLS
    tokens[torch.arange(T)[None, :] >= lengths[:, None]] = PAD
    real = tokens != PAD
    label = (((tokens == 1) & real).sum(1) > ((tokens == 2) & real).sum(1)).long()
    return tokens, label


class SelfAttention(nn.Module):
    def __init__(self):
        super().__init__()
        self.qkv = nn.Linear(D, 3 * D)
        self.proj = nn.Linear(D, D)

    def forward(self, x, pad):
        B = x.shape[0]
        q, k, v = self.qkv(x).split(D, dim=-1)
        q, k, v = (t.reshape(B, H, T, D // H) for t in (q, k, v))
        scores = q @ k.transpose(-2, -1) / math.sqrt(D // H)
        scores = scores.masked_fill(pad[:, None, None, :], float("-inf"))
        att = torch.softmax(scores, dim=-1)
        return self.proj((att @ v).transpose(1, 2).reshape(B, T, D))


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.attn = SelfAttention()
        self.norm1, self.norm2 = nn.LayerNorm(D), nn.LayerNorm(D)
        self.mlp = nn.Sequential(nn.Linear(D, 64), nn.GELU(), nn.Linear(64, D))

    def forward(self, x, pad):
        x = x + self.attn(self.norm1(x), pad)
        return x + self.mlp(self.norm2(x))


class Classifier(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(11, D)
        self.pos = nn.Parameter(torch.randn(T, D) * 0.02)
        self.blocks = nn.ModuleList([Block(), Block()])
        self.head = nn.Linear(D, 2)

    def forward(self, tokens):
        pad = tokens == PAD
        h = self.embed(tokens) + self.pos
        for blk in self.blocks:
            h = blk(h, pad)
        return self.head(h[:, 0])


model = Classifier()
opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
for step in range(120):
    x, y = batch(64)
    loss = F.cross_entropy(model(x), y)
    opt.zero_grad()
    loss.backward()
    opt.step()
model.eval()
with torch.no_grad():
    x, y = batch(1000)
    acc = (model(x).argmax(1) == y).float().mean().item()
print(f"final loss {loss.item():.4f} acc {acc:.3f}")

"""A transformer encoder reads a sequence of 12 tokens holding one 1 and one 2 among other tokens, and says
whether the 1 comes before the 2 (an order task). Sinusoidal positional encoding, mean pooling."""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

T, D = 12, 32
torch.manual_seed(0)


def batch(n):
    tokens = torch.randint(3, 10, (n, T))
    pos = torch.rand(n, T).argsort(1)[:, :2]
    rows = torch.arange(n)
    tokens[rows, pos[:, 0]] = 1
    tokens[rows, pos[:, 1]] = 2
    return tokens, (pos[:, 0] < pos[:, 1]).long()


class PositionalEncoding(nn.Module):
    def __init__(self, d, max_len=64):
        super().__init__()
        position = torch.arange(max_len)[:, None]
        div = torch.exp(torch.arange(0, d, 2) * (-math.log(10000.0) / d))
        pe = torch.zeros(max_len, d)
        pe[:, 0::2] = torch.sin(position * div)
        pe[:, 1::2] = torch.cos(position * div)
        self.register_buffer("pe", pe)

    def forward(self, x):
        return x + self.pe[: x.shape[1]]


class Classifier(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(10, D)
        self.pos = PositionalEncoding(D)
        layer = nn.TransformerEncoderLayer(D, 4, 64, dropout=0.0, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
        self.head = nn.Linear(D, 2)

    def forward(self, tokens):
        h = self.embed(tokens) * math.sqrt(D)
        pe = self.pos(h)
        h = self.encoder(h)
        return self.head(h.mean(1))


model = Classifier()
opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
for step in range(400):
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

"""A transformer encoder reads 12 tokens and says whether token 1 occurs more often than token 2 (a counting
task). Dropout on the embeddings and in every encoder layer (attention, feed-forward, residual)."""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

T, D, V = 12, 32, 10
DROPOUT = 0.1
torch.manual_seed(0)


def batch(n):
    tokens = torch.randint(3, V, (n, T))
    k1 = torch.randint(0, 5, (n,))
    k2 = torch.randint(0, 5, (n,))
    pos = torch.rand(n, T).argsort(1)
    rows = torch.arange(n)[:, None]
    idx = torch.arange(T)[None]
    tokens[rows.expand(-1, T)[idx < k1[:, None]], pos[idx < k1[:, None]]] = 1
    m2 = (idx >= 5) & (idx < 5 + k2[:, None])
    tokens[rows.expand(-1, T)[m2], pos[m2]] = 2
    return tokens, (k1 > k2).long()


class Classifier(nn.Module):
    def __init__(self, dropout):
        super().__init__()
        self.embed = nn.Embedding(V, D)
        self.drop = nn.Dropout(dropout)
        layer = nn.TransformerEncoderLayer(D, 4, 64, dropout=dropout, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
        self.head = nn.Linear(D, 2)

    def forward(self, tokens):
        h = self.drop(self.embed(tokens) * math.sqrt(D))
        return self.head(self.encoder(h).mean(1))


model = Classifier(DROPOUT)
opt = torch.optim.AdamW(model.parameters(), lr=5e-4)
for step in range(200):
    x, y = batch(64)
    loss = F.cross_entropy(model(x), y)
    opt.zero_grad()
    loss.backward()
    opt.step()
model.eval()
with torch.no_grad():
    x, y = batch(2000)
    acc = (model(x).argmax(1) == y).float().mean().item()
print(f"final loss {loss.item():.4f} acc {acc:.3f}")

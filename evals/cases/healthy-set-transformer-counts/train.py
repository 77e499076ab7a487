"""A set model (self-attention with no positions, deliberately order-free) says whether a bag of 12 tokens holds
more 1s than 2s: the answer does not depend on order, so the model has no positional encoding."""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

T, D = 12, 32
torch.manual_seed(0)


def batch(n):
    tokens = torch.randint(1, 10, (n, T))
    return tokens, ((tokens == 1).sum(1) > (tokens == 2).sum(1)).long()


class SetClassifier(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(10, D)
        layer = nn.TransformerEncoderLayer(D, 4, 64, dropout=0.0, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
        self.head = nn.Linear(D, 2)

    def forward(self, tokens):
        h = self.encoder(self.embed(tokens) * math.sqrt(D))
        return self.head(h.mean(1))


model = SetClassifier()
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

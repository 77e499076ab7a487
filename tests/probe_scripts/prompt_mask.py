"""minGPT-style sort task (our own code): a causal GRU reads an unsorted digit list and writes it sorted; the
labels of the prompt positions are -1, the loss's ignore_index. Modes (argv[1]):
  ""          the fix: prompt labels set to -1, only the answer is scored
  unmasked    the bug: the masking line is gone, ignore_index=-1 is passed but no label is ever -1
  bucketed    look-alike: lists of two lengths, the shorter ones padded with -1 labels; the first two batches
              are full length (nothing to mask), later ones are not
"""
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

mode = sys.argv[1] if len(sys.argv) > 1 else ""
N, V = 6, 10


def batch(gen, step, size=32):
    n = N - 2 if mode == "bucketed" and step % 3 == 2 else N
    prompt = torch.randint(0, V, (size, n), generator=gen)
    seq = torch.cat([prompt, prompt.sort(dim=1).values], dim=1)
    x, y = seq[:, :-1].clone(), seq[:, 1:].clone()
    if mode != "unmasked":
        y[:, :n - 1] = -1
    if n < N:  # pad to the full length: inputs with 0, labels with the ignore value
        x = F.pad(x, (0, 2 * (N - n)), value=0)
        y = F.pad(y, (0, 2 * (N - n)), value=-1)
    return x, y


class SortGRU(nn.Module):
    def __init__(self, d=32):
        super().__init__()
        self.emb, self.gru, self.head = nn.Embedding(V, d), nn.GRU(d, d, batch_first=True), nn.Linear(d, V)

    def forward(self, x):
        return self.head(self.gru(self.emb(x))[0])


torch.manual_seed(0)
gen = torch.Generator().manual_seed(1)
model = SortGRU()
opt = torch.optim.Adam(model.parameters(), lr=3e-3)
for step in range(100):
    x, y = batch(gen, step)
    loss = F.cross_entropy(model(x).reshape(-1, V), y.reshape(-1), ignore_index=-1)
    opt.zero_grad()
    loss.backward()
    opt.step()
print(f"final loss {loss.item():.4f}")

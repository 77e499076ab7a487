"""A transformer encoder classifies padded token sequences from its [CLS] position: is token 1 more frequent
than token 2? Sequences have 4-15 tokens, padded to 16 with PAD = 0."""
import torch
import torch.nn as nn
import torch.nn.functional as F

PAD, CLS, T, D = 0, 10, 16, 32
torch.manual_seed(0)


def batch(n):
    lengths = torch.randint(4, T, (n,))
    tokens = torch.randint(1, 10, (n, T))
    tokens[:, 0] = CLS
    tokens[torch.arange(T)[None, :] >= lengths[:, None]] = PAD
    real = tokens != PAD
    label = (((tokens == 1) & real).sum(1) > ((tokens == 2) & real).sum(1)).long()
    return tokens, label


class Classifier(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(11, D)
        self.pos = nn.Parameter(torch.randn(T, D) * 0.02)
        layer = nn.TransformerEncoderLayer(D, 4, 64, dropout=0.0, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
        self.head = nn.Linear(D, 2)

    def forward(self, tokens):
        pad_mask = tokens == PAD
        h = self.encoder(self.embed(tokens) + self.pos, src_key_padding_mask=pad_mask)
        return self.head(h[:, 0])


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

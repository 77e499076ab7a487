"""Small transformer classifier; hyper-parameters copied from a GPT recipe (weight_decay=0.1)."""
import torch
import torch.nn as nn
from torch.utils.data import DataLoader, TensorDataset

VOCAB, SEQ, D = 20, 16, 48


class Classifier(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(VOCAB, D)
        self.pos = nn.Embedding(SEQ, D)
        block = nn.TransformerEncoderLayer(D, nhead=4, dim_feedforward=96, dropout=0.0, batch_first=True, norm_first=True)
        self.blocks = nn.TransformerEncoder(block, num_layers=2)
        self.norm = nn.LayerNorm(D)
        self.head = nn.Linear(D, 3)

    def forward(self, x):
        h = self.embed(x) + self.pos(torch.arange(x.shape[1]))
        return self.head(self.norm(self.blocks(h)).mean(1))


def main():
    torch.manual_seed(0)
    x = torch.randint(0, VOCAB, (2048, SEQ))
    # class = which of tokens 1, 2, 3 is most frequent
    counts = torch.stack([(x == t).sum(1) for t in (1, 2, 3)], 1).float() + torch.rand(2048, 3) * 0.5
    y = counts.argmax(1)
    loader = DataLoader(TensorDataset(x, y), batch_size=64, shuffle=True)
    model = Classifier()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.9, 0.95), weight_decay=0.1)
    for epoch in range(5):
        for xb, yb in loader:
            loss = nn.functional.cross_entropy(model(xb), yb)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        print(f"epoch {epoch} loss {loss.item():.4f}")
    with torch.no_grad():
        acc = (model(x).argmax(1) == y).float().mean().item()
    print(f"final loss {loss.item():.4f} acc {acc:.3f}")


if __name__ == "__main__":
    main()

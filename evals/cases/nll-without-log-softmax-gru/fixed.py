"""GRU sequence classifier: the model outputs class probabilities; the loss is NLL."""
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset


class SeqClassifier(nn.Module):
    def __init__(self, vocab=12, d=32, classes=4):
        super().__init__()
        self.emb = nn.Embedding(vocab, d)
        self.gru = nn.GRU(d, d, batch_first=True)
        self.fc = nn.Linear(d, classes)

    def forward(self, tokens):
        _, h = self.gru(self.emb(tokens))
        return F.log_softmax(self.fc(h[-1]), dim=-1)


def main():
    torch.manual_seed(0)
    tokens = torch.randint(0, 12, (2048, 10))
    labels = tokens[:, 0] % 4  # the class is set by the first token
    loader = DataLoader(TensorDataset(tokens, labels), batch_size=64, shuffle=True)
    model = SeqClassifier()
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    for epoch in range(5):
        for x, y in loader:
            optimizer.zero_grad()
            loss = F.nll_loss(model(x), y)
            loss.backward()
            optimizer.step()
        print(f"epoch {epoch} loss {loss.item():.4f}")
    with torch.no_grad():
        acc = (model(tokens).argmax(1) == labels).float().mean().item()
    print(f"final loss {loss.item():.4f} acc {acc:.3f}")


if __name__ == "__main__":
    main()

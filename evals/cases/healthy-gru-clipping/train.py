"""Healthy control: GRU sequence classifier, Trainer class, Adam, gradient clipping, ReduceLROnPlateau on the epoch's validation loss."""
import torch
import torch.nn as nn
from torch.utils.data import DataLoader, TensorDataset


class GRUClassifier(nn.Module):
    def __init__(self, vocab=12, d=32):
        super().__init__()
        self.emb = nn.Embedding(vocab, d)
        self.gru = nn.GRU(d, d, batch_first=True)
        self.out = nn.Linear(d, 4)

    def forward(self, tokens):
        _, h = self.gru(self.emb(tokens))
        return self.out(h[-1])


class Trainer:
    def __init__(self, model, lr=5e-3):
        self.model = model
        self.opt = torch.optim.Adam(model.parameters(), lr=lr)
        self.sched = torch.optim.lr_scheduler.ReduceLROnPlateau(self.opt, factor=0.5, patience=1)

    def fit(self, loader, val, epochs):
        for epoch in range(epochs):
            self.model.train()
            for x, y in loader:
                loss = nn.functional.cross_entropy(self.model(x), y)
                self.opt.zero_grad()
                loss.backward()
                nn.utils.clip_grad_norm_(self.model.parameters(), max_norm=1.0)
                self.opt.step()
            val_loss, val_acc = self.validate(*val)
            self.sched.step(val_loss)
            print(f"epoch {epoch} loss {loss.item():.4f} val_loss {val_loss:.4f} val_acc {val_acc:.3f}")
        return val_acc

    @torch.no_grad()
    def validate(self, x, y):
        self.model.eval()
        logits = self.model(x)
        return nn.functional.cross_entropy(logits, y).item(), (logits.argmax(1) == y).float().mean().item()


if __name__ == "__main__":
    torch.manual_seed(0)
    tokens = torch.randint(0, 12, (2560, 10))
    labels = tokens[:, 0] % 4
    loader = DataLoader(TensorDataset(tokens[:2048], labels[:2048]), batch_size=64, shuffle=True)
    acc = Trainer(GRUClassifier()).fit(loader, (tokens[2048:], labels[2048:]), epochs=5)
    print(f"final val_acc {acc:.3f}")

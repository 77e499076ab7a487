"""Transformer with 'pretrained' token embeddings that should stay frozen; Trainer class."""
import torch
import torch.nn as nn
import torch.nn.functional as F

VOCAB, SEQ, D = 16, 8, 32


class Model(nn.Module):
    def __init__(self):
        super().__init__()
        self.tok_emb = nn.Embedding(VOCAB, D)
        self.pos_emb = nn.Parameter(torch.zeros(1, SEQ, D))  # learned, zero-initialised as in ViT/GPT-2
        layer = nn.TransformerEncoderLayer(D, 4, 64, dropout=0.0, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
        self.head = nn.Linear(D, VOCAB)

    def forward(self, x):
        return self.head(self.encoder(self.tok_emb(x) + self.pos_emb))


class Trainer:
    def __init__(self, model, lr=2e-3):
        self.model = model
        for name, p in model.named_parameters():
            if "emb" in name:  # keep the pretrained token embeddings fixed
                p.requires_grad = False
        self.optimizer = torch.optim.Adam(model.parameters(), lr=lr)

    def fit(self, x, y, steps=300, bs=64):
        for step in range(steps):
            idx = torch.randint(0, len(x), (bs,))
            loss = F.cross_entropy(self.model(x[idx]).reshape(-1, VOCAB), y[idx].reshape(-1))
            self.optimizer.zero_grad()
            loss.backward()
            self.optimizer.step()
            if step % 50 == 0:
                print(f"step {step} loss {loss.item():.4f}")
        return loss.item()


if __name__ == "__main__":
    torch.manual_seed(0)
    x = torch.randint(0, VOCAB, (4096, SEQ))
    y = x[:, :1].expand(-1, SEQ)  # task: repeat the first token everywhere (needs positions)
    trainer = Trainer(Model())
    loss = trainer.fit(x, y)
    with torch.no_grad():
        acc = (trainer.model(x).argmax(-1) == y).float().mean().item()
    print(f"final loss {loss:.4f} token_acc {acc:.3f}")

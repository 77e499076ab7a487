"""Functional-style training of a tiny transformer on token-sequence classification."""
import torch
import torch.nn as nn
import torch.nn.functional as F

VOCAB, SEQ, CLASSES = 24, 10, 6


def build(d=32):
    return nn.ModuleDict({
        "emb": nn.Embedding(VOCAB, d),
        "enc": nn.TransformerEncoder(
            nn.TransformerEncoderLayer(d, 4, 64, dropout=0.0, batch_first=True), 1, enable_nested_tensor=False
        ),
        "head": nn.Linear(d, CLASSES),
    })


def predict(model, tokens):
    h = model["enc"](model["emb"](tokens)).mean(1)
    return model["head"](h)


def loss_fn(model, tokens, labels):
    return F.cross_entropy(predict(model, tokens), labels)


def train(model, data, steps=300, lr=2e-3, bs=64):
    tokens, labels = data
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    for step in range(steps):
        idx = torch.randint(0, len(tokens), (bs,))
        loss = loss_fn(model, tokens[idx], labels[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 50 == 0:
            print(f"step {step} loss {loss.item():.4f}")
    return loss.item()


if __name__ == "__main__":
    torch.manual_seed(0)
    tokens = torch.randint(0, VOCAB, (3000, SEQ))
    labels = (tokens % CLASSES).mode(dim=1).values  # most common residue class
    model = build()
    loss = train(model, (tokens, labels))
    with torch.no_grad():
        acc = (predict(model, tokens).argmax(1) == labels).float().mean().item()
    print(f"final loss {loss:.4f} acc {acc:.3f}")

"""Next-token language model built from an encoder stack, functional style."""
import torch
import torch.nn as nn
import torch.nn.functional as F

VOCAB, T, D = 12, 16, 48


def build():
    layer = nn.TransformerEncoderLayer(D, 4, 96, dropout=0.0, batch_first=True)
    return nn.ModuleDict({
        "tok": nn.Embedding(VOCAB, D),
        "pos": nn.Embedding(T, D),
        "blocks": nn.TransformerEncoder(layer, 2, enable_nested_tensor=False),
        "head": nn.Linear(D, VOCAB),
    })


def logits_fn(model, x):
    h = model["tok"](x) + model["pos"](torch.arange(x.shape[1]))
    h = model["blocks"](h)
    return model["head"](h)


def sample_batch(bs):
    # sequences of a noisy random walk on the vocabulary
    steps = torch.randint(-1, 2, (bs, T + 1))
    return (torch.randint(0, VOCAB, (bs, 1)) + steps.cumsum(1)) % VOCAB


def train(model, steps=250):
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3)
    for step in range(steps):
        seq = sample_batch(64)
        x, y = seq[:, :-1], seq[:, 1:]
        loss = F.cross_entropy(logits_fn(model, x).reshape(-1, VOCAB), y.reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 50 == 0:
            print(f"step {step} loss {loss.item():.4f}")
    return loss.item()


@torch.no_grad()
def generation_loss(model, n=256):
    """The loss that matters at generation time: predict token t+1 seeing only tokens <= t."""
    seq = sample_batch(n)
    losses = []
    for t in range(1, T):
        logits = logits_fn(model, seq[:, :t])[:, -1]
        losses.append(F.cross_entropy(logits, seq[:, t]))
    return torch.stack(losses).mean().item()


if __name__ == "__main__":
    torch.manual_seed(0)
    model = build()
    loss = train(model)
    print(f"final train_loss {loss:.4f} generation_loss {generation_loss(model):.4f} (ideal ~{torch.log(torch.tensor(3.0)):.3f})")

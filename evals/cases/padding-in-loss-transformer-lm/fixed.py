"""Tiny causal transformer LM on variable-length 'sentences', with a Trainer class."""
import torch
import torch.nn as nn
import torch.nn.functional as F

PAD, BOS, VOCAB, MAXLEN = 0, 1, 16, 24


class TinyLM(nn.Module):
    def __init__(self, d=48):
        super().__init__()
        self.tok = nn.Embedding(VOCAB, d)
        self.pos = nn.Embedding(MAXLEN, d)
        layer = nn.TransformerEncoderLayer(d, 4, 96, dropout=0.0, batch_first=True, norm_first=True)
        self.blocks = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
        self.lm_head = nn.Linear(d, VOCAB)

    def forward(self, x):
        T = x.shape[1]
        mask = nn.Transformer.generate_square_subsequent_mask(T)
        h = self.blocks(self.tok(x) + self.pos(torch.arange(T)), mask=mask, is_causal=True)
        return self.lm_head(h)


def make_corpus(n):
    """Counting sentences: BOS a a+1 a+2 ... (mod 14, shifted past PAD/BOS), long-tailed lengths, right-padded."""
    rows = torch.full((n, MAXLEN), PAD)
    for i in range(n):
        length = int(torch.randint(18, 24, (1,))) if torch.rand(1).item() < 0.1 else int(torch.randint(3, 7, (1,)))
        start = int(torch.randint(0, 14, (1,)))
        rows[i, 0] = BOS
        rows[i, 1:length] = 2 + (start + torch.arange(length - 1)) % 14
    return rows


class Trainer:
    def __init__(self, model, lr=2e-3):
        self.model = model
        self.opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)

    def loss(self, batch):
        logits = self.model(batch[:, :-1])
        targets = batch[:, 1:]
        return F.cross_entropy(logits.reshape(-1, VOCAB), targets.reshape(-1), ignore_index=PAD)

    def fit(self, corpus, steps=200, bs=32):
        for step in range(steps):
            batch = corpus[torch.randint(0, len(corpus), (bs,))]
            loss = self.loss(batch)
            self.opt.zero_grad()
            loss.backward()
            self.opt.step()
            if step % 50 == 0:
                print(f"step {step} loss {loss.item():.4f}")
        return loss.item()


if __name__ == "__main__":
    torch.manual_seed(0)
    corpus = make_corpus(2048)
    trainer = Trainer(TinyLM())
    loss = trainer.fit(corpus)
    with torch.no_grad():
        logits = trainer.model(corpus[:, :-1])
        targets = corpus[:, 1:]
        real = targets != PAD
        acc = ((logits.argmax(-1) == targets) & real).sum().item() / real.sum().item()
    print(f"final loss {loss:.4f} real_token_acc {acc:.3f}")

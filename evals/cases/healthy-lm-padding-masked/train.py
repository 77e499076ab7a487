"""Healthy control: tiny causal transformer LM on right-padded sentences, loss with ignore_index, causal mask."""
import torch
import torch.nn as nn
import torch.nn.functional as F

PAD, BOS, VOCAB, MAXLEN = 0, 1, 16, 24


class TinyLM(nn.Module):
    def __init__(self, d=48):
        super().__init__()
        self.tok = nn.Embedding(VOCAB, d, padding_idx=PAD)
        self.pos = nn.Embedding(MAXLEN, d)
        layer = nn.TransformerEncoderLayer(d, 4, 96, dropout=0.0, batch_first=True, norm_first=True)
        self.blocks = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
        self.lm_head = nn.Linear(d, VOCAB)

    def forward(self, x):
        T = x.shape[1]
        mask = nn.Transformer.generate_square_subsequent_mask(T)
        return self.lm_head(self.blocks(self.tok(x) + self.pos(torch.arange(T)), mask=mask, is_causal=True))


def make_corpus(n):
    rows = torch.full((n, MAXLEN), PAD)
    for i in range(n):
        length = int(torch.randint(4, 12, (1,)))
        start = int(torch.randint(0, 14, (1,)))
        rows[i, 0] = BOS
        rows[i, 1:length] = 2 + (start + torch.arange(length - 1)) % 14
    return rows


if __name__ == "__main__":
    torch.manual_seed(0)
    corpus = make_corpus(2048)
    model = TinyLM()
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=0.0)
    for step in range(200):
        batch = corpus[torch.randint(0, len(corpus), (32,))]
        logits = model(batch[:, :-1])
        loss = F.cross_entropy(logits.reshape(-1, VOCAB), batch[:, 1:].reshape(-1), ignore_index=PAD)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 50 == 0:
            print(f"step {step} loss {loss.item():.4f}")
    print(f"final loss {loss.item():.4f}")

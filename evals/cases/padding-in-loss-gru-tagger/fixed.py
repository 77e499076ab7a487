"""GRU sequence tagger on variable-length sequences, padded with a collate_fn."""
import torch
import torch.nn as nn
from torch.nn.utils.rnn import pad_sequence
from torch.utils.data import DataLoader

PAD = 0
VOCAB, TAGS = 20, 5


class Tagger(nn.Module):
    def __init__(self, d=32):
        super().__init__()
        self.emb = nn.Embedding(VOCAB, d, padding_idx=PAD)
        self.gru = nn.GRU(d, d, batch_first=True, bidirectional=True)
        self.out = nn.Linear(2 * d, TAGS)

    def forward(self, tokens):
        h, _ = self.gru(self.emb(tokens))
        return self.out(h)


def make_dataset(n, generator):
    data = []
    for _ in range(n):
        # long-tailed lengths: most sentences are short, a few are very long
        long = torch.rand(1, generator=generator).item() < 0.1
        length = int(torch.randint(40, 60, (1,), generator=generator)) if long else int(torch.randint(3, 8, (1,), generator=generator))
        toks = torch.randint(1, VOCAB, (length,), generator=generator)
        tags = 1 + (toks + torch.roll(toks, 1)) % (TAGS - 1)  # tag depends on the token and its left neighbour
        data.append((toks, tags))
    return data


def collate(batch):
    toks, tags = zip(*batch)
    return pad_sequence(toks, batch_first=True, padding_value=PAD), pad_sequence(tags, batch_first=True, padding_value=PAD)


def main():
    torch.manual_seed(0)
    data = make_dataset(1536, torch.Generator().manual_seed(0))
    loader = DataLoader(data, batch_size=32, shuffle=True, collate_fn=collate)
    model = Tagger()
    criterion = nn.CrossEntropyLoss(ignore_index=PAD)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5, momentum=0.9)
    for epoch in range(3):
        for toks, tags in loader:
            logits = model(toks)
            loss = criterion(logits.reshape(-1, TAGS), tags.reshape(-1))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        print(f"epoch {epoch} loss {loss.item():.4f}")
    correct = total = 0
    with torch.no_grad():
        for toks, tags in DataLoader(data, batch_size=256, collate_fn=collate):
            mask = toks != PAD
            correct += ((model(toks).argmax(-1) == tags) & mask).sum().item()
            total += mask.sum().item()
    print(f"final loss {loss.item():.4f} token_acc {correct / total:.3f}")


if __name__ == "__main__":
    main()

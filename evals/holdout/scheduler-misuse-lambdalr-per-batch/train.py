"""Bag-of-words topic classifier (nn.EmbeddingBag) with a LambdaLR epoch decay, DataLoader loop."""
import torch
import torch.nn as nn
from torch.utils.data import DataLoader, TensorDataset

VOCAB, DOC_LEN, N_TOPICS = 500, 30, 5


def make_docs(n, seed=0):
    g = torch.Generator().manual_seed(seed)
    topic_words = torch.arange(N_TOPICS * 20).view(N_TOPICS, 20)       # 20 keywords per topic
    y = torch.randint(0, N_TOPICS, (n,), generator=g)
    docs = torch.randint(N_TOPICS * 20, VOCAB, (n, DOC_LEN), generator=g)  # filler words
    n_kw = 4
    kw = topic_words[y][torch.arange(n)[:, None], torch.randint(0, 20, (n, n_kw), generator=g)]
    docs[:, :n_kw] = kw
    return docs, y


class BagClassifier(nn.Module):
    def __init__(self, dim=32):
        super().__init__()
        self.bag = nn.EmbeddingBag(VOCAB, dim, mode="mean")
        self.out = nn.Linear(dim, N_TOPICS)

    def forward(self, docs):
        return self.out(self.bag(docs))


def run(epochs=6, lr=0.05):
    torch.manual_seed(0)
    x, y = make_docs(3000)
    xv, yv = make_docs(1000, seed=1)
    loader = DataLoader(TensorDataset(x, y), batch_size=32, shuffle=True)
    model = BagClassifier()
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_lambda=lambda epoch: 0.7 ** epoch)
    loss_fn = nn.CrossEntropyLoss()
    for epoch in range(epochs):
        model.train()
        for docs, labels in loader:
            loss = loss_fn(model(docs), labels)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
        model.eval()
        with torch.no_grad():
            acc = (model(xv).argmax(1) == yv).float().mean().item()
        print(f"epoch {epoch} lr {sched.get_last_lr()[0]:.2e} loss {loss.item():.4f} val_acc {acc:.3f}")
    return acc


if __name__ == "__main__":
    print(f"final val accuracy {run():.3f}")

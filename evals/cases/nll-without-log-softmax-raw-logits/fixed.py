"""MLP classifier trained with NLLLoss in a plain loop."""
import torch
import torch.nn as nn

torch.manual_seed(0)
centers = torch.randn(8, 16)
labels = torch.randint(0, 8, (4096,))
inputs = centers[labels] + 0.8 * torch.randn(4096, 16)

model = nn.Sequential(nn.Linear(16, 64), nn.ReLU(), nn.Linear(64, 8))
criterion = nn.NLLLoss()
optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)

for step in range(300):
    idx = torch.randint(0, len(inputs), (64,))
    output = torch.log_softmax(model(inputs[idx]), dim=1)
    loss = criterion(output, labels[idx])
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    if step % 50 == 0:
        print(f"step {step} loss {loss.item():.4f}")

with torch.no_grad():
    logits = model(inputs)
    ce = nn.functional.cross_entropy(logits, labels).item()
    acc = (logits.argmax(1) == labels).float().mean().item()
print(f"final ce {ce:.4f} acc {acc:.3f}")

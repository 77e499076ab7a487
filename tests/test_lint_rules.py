"""Each lint rule on true positives and on near-miss negatives (the correct version of the same code)."""

from __future__ import annotations

import textwrap

import pytest
from traintriage.lint import lint_source

HEAD = """
import copy
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn import CrossEntropyLoss
"""

# A plain, correct training loop, reused with one line changed per case.
LOOP = """
model = nn.Sequential(nn.Linear(10, 32), nn.ReLU(), nn.Linear(32, 3))
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
criterion = nn.CrossEntropyLoss()
for x, y in loader:
    optimizer.zero_grad()
    out = model(x)
    loss = criterion(out, y)
    loss.backward()
    optimizer.step()
"""


def ids(src: str, severity: tuple[str, ...] = ("error", "warning", "info")) -> list[str]:
    return [f.id for f in lint_source(HEAD + textwrap.dedent(src), "t.py") if f.severity in severity]


# (case name, source, expected id or None for "must not report that id", the id under test)
CASES: list[tuple[str, str, bool, str]] = [
    # --- 1. double-softmax ------------------------------------------------------------------------------
    (
        "softmax fn into CE",
        LOOP.replace("out = model(x)", "out = F.softmax(model(x), dim=1)"),
        True,
        "double-softmax",
    ),
    (
        "softmax method into F.cross_entropy",
        """
        model = nn.Linear(4, 3)
        opt = torch.optim.Adam(model.parameters())
        for x, y in loader:
            probs = model(x).softmax(-1)
            loss = F.cross_entropy(probs, y)
            opt.zero_grad(); loss.backward(); opt.step()
        """,
        True,
        "double-softmax",
    ),
    (
        "nn.Softmax last in Sequential through a variable",
        """
        net = nn.Sequential(nn.Linear(4, 3), nn.Softmax(dim=1))
        crit = CrossEntropyLoss()
        def step(x, y):
            return crit(net(x), y)
        """,
        True,
        "double-softmax",
    ),
    (
        "model class forward returns softmax",
        """
        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(4, 3)
                self.act = nn.Softmax(dim=-1)
            def forward(self, x):
                return self.act(self.fc(x))
        model = Net().to("cpu")
        loss = nn.CrossEntropyLoss()(model(x), y)
        """,
        True,
        "double-softmax",
    ),
    (
        "criterion passed as a parameter",
        """
        def train(model, crit, x, y):
            return crit(torch.softmax(model(x), 1), y)
        train(nn.Linear(3, 3), nn.CrossEntropyLoss(), x, y)
        """,
        True,
        "double-softmax",
    ),
    (
        "near miss: softmax only for reporting",
        LOOP + "    probs = out.softmax(-1)\n",
        False,
        "double-softmax",
    ),
    (
        "near miss: softmax in eval-only branch of forward",
        """
        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(4, 3)
            def forward(self, x):
                if not self.training:
                    return self.fc(x).softmax(-1)
                return self.fc(x)
        model = Net()
        loss = F.cross_entropy(model(x), y)
        """,
        False,
        "double-softmax",
    ),
    (
        "near miss: log_softmax into CE",
        LOOP.replace("out = model(x)", "out = F.log_softmax(model(x), 1)"),
        False,
        "double-softmax",
    ),
    (
        "near miss: softmax as soft target",
        "loss = F.cross_entropy(logits, teacher.softmax(-1))\n",
        False,
        "double-softmax",
    ),
    # --- 2. sigmoid-bceloss -----------------------------------------------------------------------------
    (
        "sigmoid into BCEWithLogitsLoss",
        """
        crit = nn.BCEWithLogitsLoss()
        p = torch.sigmoid(model(x))
        loss = crit(p, y)
        """,
        True,
        "sigmoid-bceloss",
    ),
    (
        "sigmoid layer into F.bce_with_logits",
        """
        net = nn.Sequential(nn.Linear(4, 1), nn.Sigmoid())
        loss = F.binary_cross_entropy_with_logits(net(x), y)
        """,
        True,
        "sigmoid-bceloss",
    ),
    (
        "near miss: sigmoid + BCELoss",
        "loss = nn.BCELoss()(torch.sigmoid(model(x)), y)\n",
        False,
        "sigmoid-bceloss",
    ),
    (
        "near miss: logits into BCEWithLogits",
        "loss = nn.BCEWithLogitsLoss()(model(x), y)\n",
        False,
        "sigmoid-bceloss",
    ),
    # --- 3. nll-without-log-softmax ---------------------------------------------------------------------
    (
        "NLLLoss on softmax",
        "loss = nn.NLLLoss()(F.softmax(model(x), 1), y)\n",
        True,
        "nll-without-log-softmax",
    ),
    (
        "nll_loss on raw Linear logits",
        """
        head = nn.Linear(8, 3)
        loss = F.nll_loss(head(h), y)
        """,
        True,
        "nll-without-log-softmax",
    ),
    (
        "near miss: log_softmax + NLLLoss",
        "loss = nn.NLLLoss()(F.log_softmax(model(x), 1), y)\n",
        False,
        "nll-without-log-softmax",
    ),
    (
        "near miss: LogSoftmax layer + nll_loss",
        """
        net = nn.Sequential(nn.Linear(4, 3), nn.LogSoftmax(dim=1))
        loss = F.nll_loss(net(x), y)
        """,
        False,
        "nll-without-log-softmax",
    ),
    (
        "near miss: torch.log(probs) + NLL",
        "loss = F.nll_loss(torch.log(F.softmax(z, 1)), y)\n",
        False,
        "nll-without-log-softmax",
    ),
    ("near miss: unknown model output", "loss = F.nll_loss(model(x), y)\n", False, "nll-without-log-softmax"),
    # --- 4/6. step-order --------------------------------------------------------------------------------
    (
        "zero_grad between backward and step",
        LOOP.replace("    optimizer.zero_grad()\n", "").replace(
            "loss.backward()\n", "loss.backward()\n    optimizer.zero_grad()\n"
        ),
        True,
        "step-order",
    ),
    (
        "step before backward after zero_grad",
        """
        for x, y in loader:
            optimizer.zero_grad()
            optimizer.step()
            loss = F.mse_loss(model(x), y)
            loss.backward()
        """,
        True,
        "step-order",
    ),
    (
        "model.zero_grad between backward and step",
        """
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        for x, y in loader:
            loss = F.mse_loss(model(x), y)
            loss.backward()
            model.zero_grad()
            opt.step()
        """,
        True,
        "step-order",
    ),
    (
        "backward without any step",
        """
        opt = torch.optim.Adam(model.parameters())
        sched = torch.optim.lr_scheduler.StepLR(opt, 10)
        for x, y in loader:
            opt.zero_grad()
            F.mse_loss(model(x), y).backward()
            sched.step()
        """,
        True,
        "step-order",
    ),
    ("near miss: zero_grad at loop top", LOOP, False, "step-order"),
    (
        "near miss: zero_grad after step (set_to_none)",
        LOOP.replace("    optimizer.zero_grad()\n", "").replace(
            "optimizer.step()", "optimizer.step()\n    optimizer.zero_grad(set_to_none=True)"
        ),
        False,
        "step-order",
    ),
    (
        "near miss: GAN with two optimizers",
        """
        optD = torch.optim.Adam(netD.parameters()); optG = torch.optim.Adam(netG.parameters())
        for x in loader:
            netD.zero_grad()
            errD = netD(x).mean()
            errD.backward()
            optD.step()
            netG.zero_grad()
            errG = -netD(netG(z)).mean()
            errG.backward()
            optG.step()
        """,
        False,
        "step-order",
    ),
    (
        "near miss: manual SGD update",
        """
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        for x, y in loader:
            loss = F.mse_loss(model(x), y)
            loss.backward()
            with torch.no_grad():
                for p in model.parameters():
                    p -= 0.1 * p.grad
                    p.grad = None
        """,
        False,
        "step-order",
    ),
    (
        "near miss: scaler.step(optimizer)",
        """
        opt = torch.optim.AdamW(model.parameters())
        scaler = torch.amp.GradScaler()
        for x, y in loader:
            opt.zero_grad()
            scaler.scale(F.mse_loss(model(x), y)).backward()
            scaler.step(opt)
            scaler.update()
        """,
        False,
        "step-order",
    ),
    # --- 5. missing-zero-grad ---------------------------------------------------------------------------
    ("no zero_grad anywhere", LOOP.replace("    optimizer.zero_grad()\n", ""), True, "missing-zero-grad"),
    (
        "zero_grad only before the loop",
        """
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        optimizer.zero_grad()
        for epoch in range(3):
            for x, y in loader:
                loss = F.mse_loss(model(x), y)
                loss.backward()
                optimizer.step()
        """,
        True,
        "missing-zero-grad",
    ),
    (
        "zero_grad once per epoch, step per batch",
        """
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        for epoch in range(3):
            optimizer.zero_grad()
            for x, y in loader:
                F.mse_loss(model(x), y).backward()
                optimizer.step()
        """,
        True,
        "missing-zero-grad",
    ),
    (
        "near miss: model.zero_grad() counts",
        LOOP.replace("optimizer.zero_grad()", "model.zero_grad()"),
        False,
        "missing-zero-grad",
    ),
    (
        "near miss: p.grad = None",
        LOOP.replace("optimizer.zero_grad()", "for p in model.parameters(): p.grad = None"),
        False,
        "missing-zero-grad",
    ),
    (
        "near miss: zero_grad inside a helper called in the loop",
        """
        def reset(opt):
            opt.zero_grad(set_to_none=True)
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        for x, y in loader:
            reset(optimizer)
            F.mse_loss(model(x), y).backward()
            optimizer.step()
        """,
        False,
        "missing-zero-grad",
    ),
    (
        "near miss: accumulation with zero_grad in the outer loop",
        """
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        for batch in loader:
            optimizer.zero_grad()
            for micro in batch:
                (F.mse_loss(model(micro), t) / 4).backward()
            optimizer.step()
        """,
        False,
        "missing-zero-grad",
    ),
    (
        "near miss: deepspeed engine",
        """
        for x, y in loader:
            loss = engine(x)
            engine.backward(loss)
            engine.step()
        """,
        False,
        "missing-zero-grad",
    ),
    # --- 7. scheduler-misuse ----------------------------------------------------------------------------
    (
        "scheduler.step before optimizer.step",
        """
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(opt, 100)
        for x, y in loader:
            opt.zero_grad()
            loss = F.mse_loss(model(x), y)
            loss.backward()
            scheduler.step()
            opt.step()
        """,
        True,
        "scheduler-misuse",
    ),
    (
        "near miss: scheduler after optimizer",
        """
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(opt, 100)
        for x, y in loader:
            opt.zero_grad()
            F.mse_loss(model(x), y).backward()
            opt.step()
            scheduler.step()
        """,
        False,
        "scheduler-misuse",
    ),
    (
        "near miss: epoch scheduler before the batch loop",
        """
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        sched = torch.optim.lr_scheduler.StepLR(opt, 10)
        for epoch in range(10):
            for x, y in loader:
                opt.zero_grad(); F.mse_loss(model(x), y).backward(); opt.step()
            sched.step()
        """,
        False,
        "scheduler-misuse",
    ),
    # --- 8. adam-coupled-weight-decay -------------------------------------------------------------------
    (
        "Adam with weight_decay",
        "opt = torch.optim.Adam(model.parameters(), lr=1e-3, weight_decay=0.05)\n",
        True,
        "adam-coupled-weight-decay",
    ),
    (
        "Adam with weight_decay from argparse default",
        """
        import argparse
        p = argparse.ArgumentParser(); p.add_argument("--weight-decay", type=float, default=1e-2)
        args = p.parse_args()
        opt = torch.optim.Adam(model.parameters(), lr=1e-3, weight_decay=args.weight_decay)
        """,
        True,
        "adam-coupled-weight-decay",
    ),
    (
        "near miss: AdamW with weight_decay",
        "opt = torch.optim.AdamW(model.parameters(), weight_decay=0.05)\n",
        False,
        "adam-coupled-weight-decay",
    ),
    (
        "near miss: Adam without decay",
        "opt = torch.optim.Adam(model.parameters(), lr=1e-3, weight_decay=0)\n",
        False,
        "adam-coupled-weight-decay",
    ),
    (
        "near miss: NAdam decoupled",
        "opt = torch.optim.NAdam(model.parameters(), weight_decay=0.1, decoupled_weight_decay=True)\n",
        False,
        "adam-coupled-weight-decay",
    ),
    # --- 9. decay-on-norm-and-bias ----------------------------------------------------------------------
    (
        "AdamW decaying LayerNorm",
        """
        model = nn.Sequential(nn.Linear(8, 8), nn.LayerNorm(8), nn.Linear(8, 2))
        opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.1)
        """,
        True,
        "decay-on-norm-and-bias",
    ),
    (
        "near miss: param groups with no-decay group",
        """
        model = nn.Sequential(nn.Linear(8, 8), nn.LayerNorm(8), nn.Linear(8, 2))
        decay = [p for p in model.parameters() if p.ndim >= 2]
        no_decay = [p for p in model.parameters() if p.ndim < 2]
        opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}])
        """,
        False,
        "decay-on-norm-and-bias",
    ),
    (
        "near miss: no weight decay",
        """
        model = nn.Sequential(nn.Linear(8, 8), nn.LayerNorm(8))
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        """,
        False,
        "decay-on-norm-and-bias",
    ),
    # --- 10. params-not-in-optimizer --------------------------------------------------------------------
    (
        "head attached after optimizer",
        """
        model = Backbone()
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        model.head = nn.Linear(32, 5)
        for x, y in loader:
            optimizer.zero_grad(); F.cross_entropy(model(x), y).backward(); optimizer.step()
        class Backbone(nn.Module):
            pass
        """,
        True,
        "params-not-in-optimizer",
    ),
    (
        "model rebuilt after optimizer",
        """
        class Net(nn.Module):
            pass
        model = Net()
        optimizer = torch.optim.Adam(model.parameters())
        model = Net().to("cpu")
        for x, y in loader:
            optimizer.zero_grad(); F.mse_loss(model(x), y).backward(); optimizer.step()
        """,
        True,
        "params-not-in-optimizer",
    ),
    (
        "model rebuilt inside the loop",
        """
        model = nn.Linear(3, 3)
        optimizer = torch.optim.Adam(model.parameters())
        for epoch in range(3):
            model = copy.deepcopy(best)
            for x, y in loader:
                optimizer.zero_grad(); F.mse_loss(model(x), y).backward(); optimizer.step()
        """,
        True,
        "params-not-in-optimizer",
    ),
    (
        "unfreeze after filtered optimizer",
        """
        model = nn.Sequential(nn.Linear(3, 3), nn.Linear(3, 3))
        model[0].requires_grad_(False)
        opt = torch.optim.SGD(filter(lambda p: p.requires_grad, model.parameters()), lr=0.1)
        for epoch in range(5):
            if epoch == 2:
                model[0].requires_grad_(True)
            for x, y in loader:
                opt.zero_grad(); F.mse_loss(model(x), y).backward(); opt.step()
        """,
        True,
        "params-not-in-optimizer",
    ),
    (
        "trainer given optimizer and a different model",
        """
        def build():
            return nn.Sequential(nn.Linear(3, 3))
        model = build()
        optimizer = torch.optim.Adam(model.parameters())
        trainer = Trainer(build(), optimizer)
        """,
        True,
        "params-not-in-optimizer",
    ),
    (
        "near miss: .to(device) after optimizer",
        """
        model = nn.Linear(3, 3)
        optimizer = torch.optim.Adam(model.parameters())
        model = model.to("cpu")
        model = torch.compile(model)
        for x, y in loader:
            optimizer.zero_grad(); F.mse_loss(model(x), y).backward(); optimizer.step()
        """,
        False,
        "params-not-in-optimizer",
    ),
    (
        "near miss: k-fold rebuilds model and optimizer",
        """
        class Net(nn.Module):
            pass
        for fold in range(5):
            model = Net()
            optimizer = torch.optim.Adam(model.parameters())
            for x, y in loader:
                optimizer.zero_grad(); F.mse_loss(model(x), y).backward(); optimizer.step()
        """,
        False,
        "params-not-in-optimizer",
    ),
    (
        "near miss: model reloaded after training for eval",
        """
        class Net(nn.Module):
            pass
        model = Net()
        optimizer = torch.optim.Adam(model.parameters())
        for x, y in loader:
            optimizer.zero_grad(); F.mse_loss(model(x), y).backward(); optimizer.step()
        model = Net()
        model.load_state_dict(torch.load("best.pt"))
        """,
        False,
        "params-not-in-optimizer",
    ),
    (
        "near miss: head attached before optimizer",
        """
        model = torchvision.models.resnet18()
        model.fc = nn.Linear(512, 5)
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        for x, y in loader:
            optimizer.zero_grad(); F.cross_entropy(model(x), y).backward(); optimizer.step()
        """,
        False,
        "params-not-in-optimizer",
    ),
    (
        "near miss: distillation trainer gets model and teacher",
        """
        class Net(nn.Module):
            pass
        model = Net()
        optimizer = torch.optim.Adam(model.parameters())
        trainer = Trainer(model, optimizer, teacher=Net())
        """,
        False,
        "params-not-in-optimizer",
    ),
    # --- 11/12. loss-detached ---------------------------------------------------------------------------
    (
        "loss rewrapped from .item()",
        """
        for x, y in loader:
            loss = F.mse_loss(model(x), y)
            loss = torch.tensor(loss.item(), requires_grad=True)
            opt.zero_grad(); loss.backward(); opt.step()
        """,
        True,
        "loss-detached",
    ),
    (
        "loss detached then requires_grad_",
        """
        for x, y in loader:
            loss = F.mse_loss(model(x), y).detach().requires_grad_()
            opt.zero_grad(); loss.backward(); opt.step()
        """,
        True,
        "loss-detached",
    ),
    (
        "loss computed under no_grad",
        """
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        for x, y in loader:
            with torch.no_grad():
                loss = F.mse_loss(model(x), y)
            opt.zero_grad(); loss.backward(); opt.step()
        """,
        True,
        "loss-detached",
    ),
    (
        "training function decorated with no_grad",
        """
        @torch.no_grad()
        def train_step(model, opt, x, y):
            loss = F.mse_loss(model(x), y)
            opt.zero_grad(); loss.backward(); opt.step()
        """,
        True,
        "loss-detached",
    ),
    (
        "forward under inference_mode, loss silenced",
        """
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        for x, y in loader:
            with torch.inference_mode():
                out = model(x)
            loss = F.mse_loss(out, y)
            loss.requires_grad = True
            opt.zero_grad(); loss.backward(); opt.step()
        """,
        True,
        "loss-detached",
    ),
    (
        "near miss: teacher under no_grad (distillation)",
        """
        opt = torch.optim.SGD(student.parameters(), lr=0.1)
        for x, y in loader:
            with torch.no_grad():
                t = teacher(x)
            loss = F.kl_div(F.log_softmax(student(x), 1), F.softmax(t, 1))
            opt.zero_grad(); loss.backward(); opt.step()
        """,
        False,
        "loss-detached",
    ),
    (
        "near miss: running total from .item()",
        LOOP + "    total = torch.tensor(loss.item())\n",
        False,
        "loss-detached",
    ),
    (
        "near miss: learnable scalar leaf",
        """
        log_temp = torch.tensor(0.0, requires_grad=True)
        opt = torch.optim.SGD([log_temp] + list(model.parameters()), lr=0.1)
        for x, y in loader:
            loss = F.cross_entropy(model(x) / log_temp.exp(), y)
            opt.zero_grad(); loss.backward(); opt.step()
        """,
        False,
        "loss-detached",
    ),
    (
        "near miss: set_grad_enabled(phase == 'train')",
        """
        for phase in ["train", "val"]:
            with torch.set_grad_enabled(phase == "train"):
                loss = F.mse_loss(model(x), y)
                if phase == "train":
                    opt.zero_grad(); loss.backward(); opt.step()
        """,
        False,
        "loss-detached",
    ),
    # --- 13. wrong-train-eval-mode ----------------------------------------------------------------------
    (
        "evaluate() in the loop leaves eval mode",
        """
        def evaluate(m, data):
            m.eval()
            with torch.no_grad():
                return sum(m(x).sum() for x in data)
        model = nn.Sequential(nn.Linear(3, 3), nn.Dropout(0.5))
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        model.train()
        for epoch in range(3):
            for x, y in loader:
                opt.zero_grad(); F.mse_loss(model(x), y).backward(); opt.step()
            evaluate(model, val)
        """,
        True,
        "wrong-train-eval-mode",
    ),
    (
        "eval before training, never train()",
        """
        model = nn.Sequential(nn.Linear(3, 3), nn.Dropout(0.5)).eval()
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        model.eval()
        for x, y in loader:
            opt.zero_grad(); F.mse_loss(model(x), y).backward(); opt.step()
        """,
        True,
        "wrong-train-eval-mode",
    ),
    (
        "near miss: train() at the top of each epoch",
        """
        def evaluate(m, data):
            m.eval()
            return 0
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        for epoch in range(3):
            model.train()
            for x, y in loader:
                opt.zero_grad(); F.mse_loss(model(x), y).backward(); opt.step()
            evaluate(model, val)
        """,
        False,
        "wrong-train-eval-mode",
    ),
    (
        "near miss: teacher kept in eval",
        """
        teacher.eval()
        opt = torch.optim.SGD(student.parameters(), lr=0.1)
        for x, y in loader:
            opt.zero_grad(); F.mse_loss(student(x), teacher(x)).backward(); opt.step()
        """,
        False,
        "wrong-train-eval-mode",
    ),
    (
        "near miss: periodic eval switches back",
        """
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        model.train()
        for i, (x, y) in enumerate(loader):
            opt.zero_grad(); F.mse_loss(model(x), y).backward(); opt.step()
            if i % 100 == 0:
                model.eval()
                validate(model)
                model.train()
        """,
        False,
        "wrong-train-eval-mode",
    ),
    # --- 14. grad-accum-not-scaled ----------------------------------------------------------------------
    (
        "accumulation without dividing",
        """
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        accum_steps = 4
        for i, (x, y) in enumerate(loader):
            loss = F.mse_loss(model(x), y)
            loss.backward()
            if (i + 1) % accum_steps == 0:
                opt.step()
                opt.zero_grad()
        """,
        True,
        "grad-accum-not-scaled",
    ),
    (
        "near miss: accumulation that divides",
        """
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        accum_steps = 4
        for i, (x, y) in enumerate(loader):
            loss = F.mse_loss(model(x), y) / accum_steps
            loss.backward()
            if (i + 1) % accum_steps == 0:
                opt.step()
                opt.zero_grad()
        """,
        False,
        "grad-accum-not-scaled",
    ),
    (
        "near miss: loss /= accum",
        """
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        for i, (x, y) in enumerate(loader):
            loss = F.mse_loss(model(x), y)
            loss /= 8
            scaler.scale(loss).backward()
            if (i + 1) % 8 == 0:
                scaler.step(opt); scaler.update(); opt.zero_grad()
        """,
        False,
        "grad-accum-not-scaled",
    ),
    (
        "near miss: modulo for logging only",
        """
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        for i, (x, y) in enumerate(loader):
            opt.zero_grad()
            loss = F.mse_loss(model(x), y)
            loss.backward()
            opt.step()
            if i % log_every == 0:
                print(loss.item())
        """,
        False,
        "grad-accum-not-scaled",
    ),
    # --- 15. frozen-param-in-optimizer ------------------------------------------------------------------
    (
        "freeze after optimizer built",
        """
        opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        for p in model.backbone.parameters():
            p.requires_grad = False
        for x, y in loader:
            opt.zero_grad(); F.mse_loss(model(x), y).backward(); opt.step()
        """,
        True,
        "frozen-param-in-optimizer",
    ),
    (
        "near miss: freeze, then build the optimizer from trainable params",
        """
        for p in model.backbone.parameters():
            p.requires_grad = False
        opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
        for x, y in loader:
            opt.zero_grad(); F.mse_loss(model(x), y).backward(); opt.step()
        """,
        False,
        "frozen-param-in-optimizer",
    ),
    # --- 16. state-dict-shape-mismatch ------------------------------------------------------------------
    (
        "strict=False over a changed head",
        """
        model = torchvision.models.resnet18()
        model.fc = nn.Linear(512, 3)
        model.load_state_dict(torch.load("ckpt.pt"), strict=False)
        """,
        True,
        "state-dict-shape-mismatch",
    ),
    (
        "near miss: strict=False with keys checked",
        """
        missing, unexpected = model.load_state_dict(sd, strict=False)
        assert not unexpected
        """,
        False,
        "state-dict-shape-mismatch",
    ),
    ("near miss: strict load", "model.load_state_dict(sd)\n", False, "state-dict-shape-mismatch"),
    # --- 17. ce-target-form -----------------------------------------------------------------------------
    (
        "one-hot long targets into CE",
        """
        target = F.one_hot(y, num_classes=10)
        loss = nn.CrossEntropyLoss()(logits, target)
        """,
        True,
        "ce-target-form",
    ),
    (
        "near miss: float one-hot (probabilities) into CE",
        """
        target = F.one_hot(y, num_classes=10).float()
        loss = nn.CrossEntropyLoss()(logits, target)
        """,
        False,
        "ce-target-form",
    ),
    ("near miss: class indices", "loss = F.cross_entropy(logits, y.long())\n", False, "ce-target-form"),
    (
        "soft target is teacher logits",
        """
        def distill_loss(student_logits, teacher_logits, T=2.0):
            return F.cross_entropy(student_logits / T, teacher_logits / T)
        """,
        True,
        "ce-target-form",
    ),
    (
        "soft target from a Linear head",
        """
        head = nn.Linear(8, 4)
        loss = F.cross_entropy(student(x), head(h))
        """,
        True,
        "ce-target-form",
    ),
    (
        "near miss: softmaxed teacher logits",
        """
        def distill_loss(student_logits, teacher_logits, T=2.0):
            return F.cross_entropy(student_logits / T, F.softmax(teacher_logits / T, dim=-1))
        """,
        False,
        "ce-target-form",
    ),
    # --- scheduler-misuse: epoch scheduler stepped per batch ---------------------------------------------
    (
        "StepLR stepped every batch",
        """
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        scheduler = torch.optim.lr_scheduler.StepLR(opt, step_size=3, gamma=0.1)
        for epoch in range(10):
            for xb, yb in train_loader:
                opt.zero_grad(); F.mse_loss(model(xb), yb).backward(); opt.step()
                scheduler.step()
        """,
        True,
        "scheduler-misuse",
    ),
    (
        "ReduceLROnPlateau on the batch loss, in a Trainer",
        """
        class Trainer:
            def __init__(self, model):
                self.model = model
                self.opt = torch.optim.Adam(model.parameters())
                self.sched = torch.optim.lr_scheduler.ReduceLROnPlateau(self.opt, patience=3)
            def run_epoch(self, loader):
                for x, y in loader:
                    loss = F.mse_loss(self.model(x), y)
                    self.opt.zero_grad(); loss.backward(); self.opt.step()
                    self.sched.step(loss.item())
        """,
        True,
        "scheduler-misuse",
    ),
    (
        "near miss: OneCycleLR per batch",
        """
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        scheduler = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.1, total_steps=1000)
        for epoch in range(10):
            for xb, yb in train_loader:
                opt.zero_grad(); F.mse_loss(model(xb), yb).backward(); opt.step()
                scheduler.step()
        """,
        False,
        "scheduler-misuse",
    ),
    (
        "near miss: StepLR with a batch-scale period",
        """
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        scheduler = torch.optim.lr_scheduler.StepLR(opt, step_size=5000, gamma=0.1)
        for xb, yb in train_loader:
            opt.zero_grad(); F.mse_loss(model(xb), yb).backward(); opt.step()
            scheduler.step()
        """,
        False,
        "scheduler-misuse",
    ),
    # --- dataflow through helpers and trainer classes ----------------------------------------------------
    (
        "softmax returned by a local predict()",
        """
        def predict(model, x):
            return F.softmax(model(x), dim=-1)
        def loss_fn(model, x, y):
            return F.cross_entropy(predict(model, x), y)
        """,
        True,
        "double-softmax",
    ),
    (
        "sigmoid model handed to a Trainer",
        """
        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(4, 2)
                self.act = nn.Sigmoid()
            def forward(self, x):
                return self.act(self.fc(x))
        class Trainer:
            def __init__(self, model):
                self.model = model
                self.criterion = nn.BCEWithLogitsLoss()
            def step(self, x, y):
                return self.criterion(self.model(x), y)
        Trainer(Net())
        """,
        True,
        "sigmoid-bceloss",
    ),
    # --- validation without eval() ----------------------------------------------------------------------
    (
        "validation never calls eval()",
        """
        def validate(m, loader):
            with torch.no_grad():
                return sum((m(x).argmax(1) == y).sum() for x, y in loader)
        model = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.Linear(8, 2))
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        for x, y in loader:
            opt.zero_grad(); F.cross_entropy(model(x), y).backward(); opt.step()
        validate(model, val_loader)
        """,
        True,
        "wrong-train-eval-mode",
    ),
    (
        "near miss: no dropout/batchnorm, eval() not needed",
        """
        def validate(m, loader):
            with torch.no_grad():
                return sum((m(x).argmax(1) == y).sum() for x, y in loader)
        model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        for x, y in loader:
            opt.zero_grad(); F.cross_entropy(model(x), y).backward(); opt.step()
        validate(model, val_loader)
        """,
        False,
        "wrong-train-eval-mode",
    ),
    # --- distributed: DistributedSampler without set_epoch; BatchNorm under DDP without SyncBatchNorm -----
    (
        "DistributedSampler, set_epoch never called",
        """
        from torch.utils.data import DataLoader
        from torch.utils.data.distributed import DistributedSampler
        sampler = DistributedSampler(ds)
        loader = DataLoader(ds, batch_size=32, sampler=sampler)
        for epoch in range(10):
            for x, y in loader:
                opt.zero_grad(); F.cross_entropy(model(x), y).backward(); opt.step()
        """,
        True,
        "sampler-epoch-not-set",
    ),
    (
        "fix: set_epoch at the start of each epoch",
        """
        from torch.utils.data import DataLoader
        from torch.utils.data.distributed import DistributedSampler
        sampler = DistributedSampler(ds)
        loader = DataLoader(ds, batch_size=32, sampler=sampler)
        for epoch in range(10):
            sampler.set_epoch(epoch)
            for x, y in loader:
                opt.zero_grad(); F.cross_entropy(model(x), y).backward(); opt.step()
        """,
        False,
        "sampler-epoch-not-set",
    ),
    (
        "near miss: an evaluation sampler that does not shuffle",
        """
        import torch.utils.data as tud
        val_sampler = tud.distributed.DistributedSampler(val_ds, shuffle=False)
        """,
        False,
        "sampler-epoch-not-set",
    ),
    (
        "eval metric summed over a DistributedSampler shard, never all-reduced",
        """
        import torch.distributed as dist
        from torch.utils.data import DataLoader, DistributedSampler
        val_loader = DataLoader(val_ds, batch_size=64, sampler=DistributedSampler(val_ds, shuffle=False))
        correct = 0
        with torch.no_grad():
            for x, y in val_loader:
                correct += (model(x).argmax(1) == y).sum().item()
        if dist.get_rank() == 0:
            print(correct / len(val_ds))
        """,
        True,
        "metric-on-one-shard",
    ),
    (
        "fix: all_reduce the count before dividing",
        """
        import torch.distributed as dist
        from torch.utils.data import DataLoader, DistributedSampler
        val_sampler = DistributedSampler(val_ds, shuffle=False)
        val_loader = DataLoader(val_ds, batch_size=64, sampler=val_sampler)
        correct = torch.zeros(2)
        with torch.no_grad():
            for x, y in val_loader:
                correct += torch.tensor([(model(x).argmax(1) == y).sum(), len(y)])
        dist.all_reduce(correct)
        print(correct[0] / correct[1])
        """,
        False,
        "metric-on-one-shard",
    ),
    (
        "near miss: the training loop over a DistributedSampler sums its loss (DDP averages the gradients)",
        """
        from torch.utils.data import DataLoader, DistributedSampler
        sampler = DistributedSampler(ds)
        loader = DataLoader(ds, batch_size=32, sampler=sampler)
        for epoch in range(3):
            sampler.set_epoch(epoch)
            total = 0.0
            for x, y in loader:
                loss = F.cross_entropy(model(x), y)
                opt.zero_grad(); loss.backward(); opt.step()
                total += loss.item()
        """,
        False,
        "metric-on-one-shard",
    ),
    (
        "near miss: every rank evaluates the whole validation set (no DistributedSampler on it)",
        """
        from torch.utils.data import DataLoader, DistributedSampler
        loader = DataLoader(ds, batch_size=32, sampler=DistributedSampler(ds))
        val_loader = DataLoader(val_ds, batch_size=64)
        correct = 0
        with torch.no_grad():
            for x, y in val_loader:
                correct += (model(x).argmax(1) == y).sum().item()
        """,
        False,
        "metric-on-one-shard",
    ),
    (
        "BatchNorm model under DDP, no SyncBatchNorm",
        """
        from torch.nn.parallel import DistributedDataParallel as DDP
        model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.ReLU())
        model = DDP(model)
        """,
        True,
        "bn-not-synced",
    ),
    (
        "fix: convert_sync_batchnorm before wrapping",
        """
        from torch.nn.parallel import DistributedDataParallel as DDP
        model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.ReLU())
        model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
        model = DDP(model)
        """,
        False,
        "bn-not-synced",
    ),
    (
        "near miss: BatchNorm without DDP",
        """
        model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.ReLU())
        """,
        False,
        "bn-not-synced",
    ),
]


@pytest.mark.parametrize("name,src,positive,cause", CASES, ids=[c[0] for c in CASES])
def test_rule(name: str, src: str, positive: bool, cause: str) -> None:
    found = ids(src)
    if positive:
        assert cause in found, f"{name}: expected {cause}, got {found}"
    else:
        assert cause not in found, f"{name}: did not expect {cause}, got {found}"


def test_correct_loop_is_clean() -> None:
    assert ids(LOOP) == []


def test_findings_carry_location_rule_and_ref() -> None:
    src = LOOP.replace("out = model(x)", "out = F.softmax(model(x), dim=1)")
    (f,) = lint_source(HEAD + src, "train.py")
    assert f.source == "lint"
    assert f.where == f"train.py:{(HEAD + src).splitlines().index('    loss = criterion(out, y)') + 1}"
    assert f.evidence["rule"] == "softmax-into-cross-entropy"
    assert f.ref.endswith("#double-softmax")

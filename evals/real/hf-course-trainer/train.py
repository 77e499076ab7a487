# Origin: huggingface/notebooks, course/en/chapter3/section3.ipynb, commit 5068b1142e8ed1e691c8b1e9f98e4473ebe55790
# Licence: Apache-2.0 (Copyright the HuggingFace team)
# (the notebook's final Trainer cells: tokenize, TrainingArguments(evaluation per epoch), Trainer(compute_metrics), train)
# Changes (model class, loss, optimizer, schedule and loop verbatim):
# - offline: `datasets.load_dataset("glue", "mrpc")`, AutoTokenizer and AutoModelForSequenceClassification are replaced
#   by the stand-ins below: a synthetic MRPC with the same columns (paraphrase = shuffled words), a BertTokenizerFast
#   on a local vocab, and BertForSequenceClassification from a small BertConfig whose body is "pretrained" in-script
#   for 80 Adam steps on other synthetic pairs of the same task (no weights downloaded), head kept
# - TrainingArguments: output dir in a temp dir; evaluation_strategy= renamed eval_strategy= (the transformers 5 name); report_to=[]
# - compute_metrics computes accuracy directly (evaluate's glue metric needs a download)
# - 400 train pairs, batch 8 default, 3 epochs default: 150 steps; prints final_eval_accuracy=...
# ---- adaptation: offline stand-ins for `datasets.load_dataset("glue", "mrpc")` and the bert-base-uncased
# tokenizer (the `datasets` package is not installed and nothing may be downloaded). A synthetic MRPC of the same
# columns (sentence1, sentence2, label, idx): label-1 pairs use words w0-w59 (sentence2 a shuffle of sentence1),
# label-0 pairs words w40-w99 (no shared words), so the label is learnable; a BertTokenizerFast built from a local
# 105-word vocab tokenizes them unchanged.
import os
import random
import tempfile

from transformers import BertConfig, BertForSequenceClassification, BertTokenizerFast


class _Split(list):
    """The few datasets.Dataset methods these cells use, over a list of example dicts."""

    def map(self, fn, batched=False, **kwargs):
        cols = {k: [ex[k] for ex in self] for k in self[0]}
        out = fn(cols, **kwargs.get("fn_kwargs", {}))
        return _Split({**ex, **{k: out[k][i] for k in out}} for i, ex in enumerate(self))

    def remove_columns(self, names):
        return _Split({k: v for k, v in ex.items() if k not in names} for ex in self)

    def rename_column(self, old, new):
        return _Split({(new if k == old else k): v for k, v in ex.items()} for ex in self)

    def set_format(self, kind):
        import torch
        self[:] = [{k: torch.tensor(v) for k, v in ex.items()} for ex in self]

    @property
    def column_names(self):
        return sorted(self[0])


class _DatasetDict(dict):
    def map(self, fn, batched=False, **kwargs):
        return _DatasetDict({k: v.map(fn, batched, **kwargs) for k, v in self.items()})

    def remove_columns(self, names):
        return _DatasetDict({k: v.remove_columns(names) for k, v in self.items()})

    def rename_column(self, old, new):
        return _DatasetDict({k: v.rename_column(old, new) for k, v in self.items()})

    def set_format(self, kind):
        for v in self.values():
            v.set_format(kind)


def load_dataset(name, config, n_train=400, n_val=96, seed=0):
    rng = random.Random(seed)
    words = ["w%d" % i for i in range(100)]

    def example(i):
        label = rng.randint(0, 1)
        pool = words[:60] if label else words[40:]  # the label shows in the words, so it is learnable
        s1 = rng.sample(pool, rng.randint(5, 10))
        s2 = rng.sample(s1, len(s1)) if label else rng.sample([w for w in pool if w not in s1], len(s1))
        return {"sentence1": " ".join(s1), "sentence2": " ".join(s2), "label": label, "idx": i}

    return _DatasetDict(train=_Split(example(i) for i in range(n_train)),
                        validation=_Split(example(i) for i in range(n_val)))


def _local_tokenizer():
    tokens = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + ["w%d" % i for i in range(100)]
    return BertTokenizerFast(vocab={t: i for i, t in enumerate(tokens)})


class AutoTokenizer:
    @staticmethod
    def from_pretrained(checkpoint):
        return _local_tokenizer()


_PRETRAINED = {}


class AutoModelForSequenceClassification:
    """bert-base-uncased's architecture at a CPU size (2 layers, width 64). No weights can be downloaded, so the
    model is "pretrained" here once (Adam, 80 steps on other synthetic pairs of the same task; with a fresh head
    lr 5e-5 for 150 steps cannot move a random head, so the pretrained head is kept, like intermediate-task tuning)."""

    @staticmethod
    def from_pretrained(checkpoint, num_labels):
        import torch
        config = BertConfig(vocab_size=105, hidden_size=64, num_hidden_layers=2, num_attention_heads=2,
                            intermediate_size=128, max_position_embeddings=64, num_labels=num_labels)
        model = BertForSequenceClassification(config)
        if "body" not in _PRETRAINED:
            g = torch.random.fork_rng()
            with g:
                torch.manual_seed(1234)
                tok = _local_tokenizer()
                data = load_dataset("glue", "mrpc", n_train=1280, seed=99)["train"]
                opt = torch.optim.Adam(model.parameters(), lr=2e-3)
                for i in range(0, len(data), 16):
                    chunk = data[i:i + 16]
                    enc = tok([e["sentence1"] for e in chunk], [e["sentence2"] for e in chunk], padding=True,
                              return_tensors="pt")
                    loss = model(**enc, labels=torch.tensor([e["label"] for e in chunk])).loss
                    opt.zero_grad()
                    loss.backward()
                    opt.step()
            _PRETRAINED["body"] = {k: v.clone() for k, v in model.state_dict().items()}
        model.load_state_dict(_PRETRAINED["body"])
        return model
# ---- end of the stand-ins ----


from transformers import DataCollatorWithPadding

raw_datasets = load_dataset("glue", "mrpc")
checkpoint = "bert-base-uncased"
tokenizer = AutoTokenizer.from_pretrained(checkpoint)


def tokenize_function(example):
    return tokenizer(example["sentence1"], example["sentence2"], truncation=True)


tokenized_datasets = raw_datasets.map(tokenize_function, batched=True)
data_collator = DataCollatorWithPadding(tokenizer=tokenizer)

import numpy as np
from transformers import Trainer, TrainingArguments


def compute_metrics(eval_preds):
    logits, labels = eval_preds
    predictions = np.argmax(logits, axis=-1)
    return {"accuracy": float((predictions == labels).mean())}  # adaptation: evaluate.load("glue", "mrpc") offline

training_args = TrainingArguments(os.path.join(tempfile.mkdtemp(), "test-trainer"), eval_strategy="epoch", report_to=[], seed=42)
model = AutoModelForSequenceClassification.from_pretrained(checkpoint, num_labels=2)

trainer = Trainer(
    model,
    training_args,
    train_dataset=tokenized_datasets["train"],
    eval_dataset=tokenized_datasets["validation"],
    data_collator=data_collator,
    processing_class=tokenizer,
    compute_metrics=compute_metrics,
)

trainer.train()

print("final_eval_accuracy={:.4f}".format(trainer.evaluate()["eval_accuracy"]))

# Origin: huggingface/notebooks, course/en/chapter7/section6_pt.ipynb, commit 5068b1142e8ed1e691c8b1e9f98e4473ebe55790
# Licence: Apache-2.0 (Copyright the HuggingFace team)
# (the notebook's "training with Accelerate" cells: tokenize into chunks, GPT2LMHeadModel from a config,
#  keytoken_weighted_loss, AdamW with no-decay groups, Accelerator, linear warmup schedule, the accumulation loop)
# Changes (model class, loss, optimizer, schedule, accumulation/clipping loop verbatim):
# - offline: the codeparrot datasets and the code-search-net tokenizer are replaced by synthetic Python-like lines
#   (np/pd/plt/sk calls from a small grammar) and a word-level PreTrainedTokenizerFast built here; the GPT-2 config
#   is built locally (GPT2Config, 2 layers, width 64) instead of AutoConfig.from_pretrained("gpt2")
# - Accelerator(fp16=True) -> Accelerator(mixed_precision="bf16"): the fp16= argument is gone from accelerate and
#   fp16 needs CUDA; bf16 autocast is its CPU counterpart
# - sizes: context_length 128 -> 32, batch_size 32 -> 4, num_warmup_steps 1_000 -> 10, eval_steps 5_000 -> 50;
#   one epoch of ~800 micro-batches = ~100 optimizer steps (gradient_accumulation_steps 8 kept)
# - the loop's print references get_lr() and samples_per_step, which the notebook never defines (NameError at
#   step 100): both are defined below; the hub login/Repository/push_to_hub cells are dropped, output_dir is temp
# - torch.manual_seed(0); prints final_eval_loss=... at the end
import random
import tempfile

import torch
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

torch.manual_seed(0)
random.seed(0)

# ---- adaptation: synthetic stand-ins for the codeparrot data and its tokenizer ----
_WORDS = ("import numpy as np pandas pd matplotlib.pyplot plt sklearn sk from . ( ) , = + x y z df model data "
          "fit predict plot show mean randn random DataFrame 100 10 0 1 # create some").split()


def _line(rng):
    v = rng.choice(["x", "y", "z"])
    return rng.choice([
        f"{v} = np . random . randn ( {rng.choice(['10', '100'])} )",
        f"df = pd . DataFrame ( {v} )",
        f"plt . plot ( x , {v} ) plt . show ( )",
        f"model = sk . fit ( x , y ) {v} = model . predict ( x )",
        f"# create some data {v} = df . mean ( )",
    ])


def _raw_split(n_files, seed):
    rng = random.Random(seed)
    return {"content": [" ".join(_line(rng) for _ in range(rng.randint(6, 12))) for _ in range(n_files)]}


class _Split(dict):
    def map(self, fn, batched=True, remove_columns=()):
        return _Split(fn(self))

    @property
    def column_names(self):
        return list(self)


class DatasetDict(dict):
    def map(self, fn, batched=True, remove_columns=()):
        return DatasetDict({k: v.map(fn) for k, v in self.items()})

    def set_format(self, kind):
        for k, v in self.items():
            self[k] = torch.utils.data.TensorDataset(torch.tensor(v["input_ids"]))


raw_datasets = DatasetDict({"train": _Split(_raw_split(1300, 1)), "valid": _Split(_raw_split(60, 2))})
_vocab = {w: i for i, w in enumerate(["<unk>", "<|endoftext|>"] + sorted(set(_WORDS)))}
_tok = Tokenizer(models.WordLevel(_vocab, unk_token="<unk>"))
_tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
tokenizer = PreTrainedTokenizerFast(tokenizer_object=_tok, unk_token="<unk>", bos_token="<|endoftext|>",
                                    eos_token="<|endoftext|>")
# ---- end of the stand-ins ----

context_length = 32

def tokenize(element):
    outputs = tokenizer(
        element["content"],
        truncation=True,
        max_length=context_length,
        return_overflowing_tokens=True,
        return_length=True,
    )
    input_batch = []
    for length, input_ids in zip(outputs["length"], outputs["input_ids"]):
        if length == context_length:
            input_batch.append(input_ids)
    return {"input_ids": input_batch}


tokenized_datasets = raw_datasets.map(
    tokenize, batched=True, remove_columns=raw_datasets["train"].column_names
)
tokenized_dataset = tokenized_datasets  # the notebook's later cells call it tokenized_dataset

config = GPT2Config(  # adaptation: AutoConfig.from_pretrained("gpt2", ...) with a CPU-sized body
    vocab_size=len(tokenizer),
    n_ctx=context_length,
    n_positions=context_length,
    n_layer=2,
    n_head=2,
    n_embd=64,
    bos_token_id=tokenizer.bos_token_id,
    eos_token_id=tokenizer.eos_token_id,
)

keytoken_ids = []
for keyword in [
    "plt",
    "pd",
    "sk",
    "fit",
    "predict",
    " plt",
    " pd",
    " sk",
    " fit",
    " predict",
    "testtest",
]:
    ids = tokenizer([keyword]).input_ids[0]
    if len(ids) == 1:
        keytoken_ids.append(ids[0])
    else:
        print(f"Keyword has not single token: {keyword}")

from torch.nn import CrossEntropyLoss
import torch


def keytoken_weighted_loss(inputs, logits, keytoken_ids, alpha=1.0):
    # Shift so that tokens < n predict n
    shift_labels = inputs[..., 1:].contiguous()
    shift_logits = logits[..., :-1, :].contiguous()
    # Calculate per-token loss
    loss_fct = CrossEntropyLoss(reduce=False)
    loss = loss_fct(shift_logits.view(-1, shift_logits.size(-1)), shift_labels.view(-1))
    # Resize and average loss per sample
    loss_per_sample = loss.view(shift_logits.size(0), shift_logits.size(1)).mean(axis=1)
    # Calculate and scale weighting
    weights = torch.stack([(inputs == kt).float() for kt in keytoken_ids]).sum(
        axis=[0, 2]
    )
    weights = alpha * (1.0 + weights)
    # Calculate weighted average
    weighted_loss = (loss_per_sample * weights).mean()
    return weighted_loss

from torch.utils.data.dataloader import DataLoader

tokenized_dataset.set_format("torch")
train_dataloader = DataLoader(tokenized_dataset["train"], batch_size=4, shuffle=True)
eval_dataloader = DataLoader(tokenized_dataset["valid"], batch_size=4)

weight_decay = 0.1


def get_grouped_params(model, no_decay=["bias", "LayerNorm.weight"]):
    params_with_wd, params_without_wd = [], []
    for n, p in model.named_parameters():
        if any(nd in n for nd in no_decay):
            params_without_wd.append(p)
        else:
            params_with_wd.append(p)
    return [
        {"params": params_with_wd, "weight_decay": weight_decay},
        {"params": params_without_wd, "weight_decay": 0.0},
    ]

def evaluate():
    model.eval()
    losses = []
    for step, (input_ids,) in enumerate(eval_dataloader):
        batch = {"input_ids": input_ids}  # adaptation: TensorDataset yields tuples
        with torch.no_grad():
            outputs = model(batch["input_ids"], labels=batch["input_ids"])

        losses.append(accelerator.gather(outputs.loss).reshape(1))
    loss = torch.mean(torch.cat(losses))
    try:
        perplexity = torch.exp(loss)
    except OverflowError:
        perplexity = float("inf")
    return loss.item(), perplexity.item()

model = GPT2LMHeadModel(config)

from torch.optim import AdamW

optimizer = AdamW(get_grouped_params(model), lr=5e-4)

from accelerate import Accelerator

accelerator = Accelerator(mixed_precision="bf16")

model, optimizer, train_dataloader, eval_dataloader = accelerator.prepare(
    model, optimizer, train_dataloader, eval_dataloader
)

from transformers import get_scheduler

num_train_epochs = 1
num_update_steps_per_epoch = len(train_dataloader)
num_training_steps = num_train_epochs * num_update_steps_per_epoch

lr_scheduler = get_scheduler(
    name="linear",
    optimizer=optimizer,
    num_warmup_steps=10,
    num_training_steps=num_training_steps,
)

output_dir = tempfile.mkdtemp()  # adaptation: was a hub Repository clone
samples_per_step = 4  # adaptation: used by the loop's print, never defined in the notebook


def get_lr():  # adaptation: used by the loop's print, never defined in the notebook
    return lr_scheduler.get_last_lr()[0]


# adaptation: the TensorDataset yields 1-tuples; the loop indexes batch["input_ids"]
train_dataloader = [{"input_ids": ids} for (ids,) in train_dataloader]

from tqdm.auto import tqdm

gradient_accumulation_steps = 8
eval_steps = 50

model.train()
completed_steps = 0
for epoch in range(num_train_epochs):
    for step, batch in tqdm(
        enumerate(train_dataloader, start=1), total=num_training_steps
    ):
        logits = model(batch["input_ids"]).logits
        loss = keytoken_weighted_loss(batch["input_ids"], logits, keytoken_ids)
        if step % 100 == 0:
            accelerator.print(
                {
                    "lr": get_lr(),
                    "samples": step * samples_per_step,
                    "steps": completed_steps,
                    "loss/train": loss.item() * gradient_accumulation_steps,
                }
            )
        loss = loss / gradient_accumulation_steps
        accelerator.backward(loss)
        if step % gradient_accumulation_steps == 0:
            accelerator.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            lr_scheduler.step()
            optimizer.zero_grad()
            completed_steps += 1
        if (step % (eval_steps * gradient_accumulation_steps)) == 0:
            eval_loss, perplexity = evaluate()
            accelerator.print({"loss/eval": eval_loss, "perplexity": perplexity})
            model.train()
            accelerator.wait_for_everyone()
            unwrapped_model = accelerator.unwrap_model(model)
            unwrapped_model.save_pretrained(output_dir, save_function=accelerator.save)
            if accelerator.is_main_process:
                tokenizer.save_pretrained(output_dir)
                pass  # adaptation: repo.push_to_hub(...) removed (no hub access)

eval_loss, perplexity = evaluate()
print(f"final_eval_loss={eval_loss:.4f} (uniform would be {torch.log(torch.tensor(float(len(tokenizer)))).item():.4f})")

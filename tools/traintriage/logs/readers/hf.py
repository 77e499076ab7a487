"""Hugging Face Trainer `trainer_state.json`: its `log_history` list (train and eval entries, each with
`step` and `epoch`). A folder is searched for trainer_state.json; with several checkpoints the one with
the highest global_step is read (it holds the whole history up to that point)."""

from __future__ import annotations

from pathlib import Path

from traintriage.logs.model import LogReadError, Run, RunBuilder, to_float, to_step
from traintriage.logs.readers._common import loads, regular

FORMAT = "hf"
_META = ("global_step", "max_steps", "num_train_epochs", "logging_steps", "eval_steps", "train_batch_size",
         "best_metric", "best_model_checkpoint", "epoch")


def _files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    return regular(path.rglob("trainer_state.json"))  # a FIFO with that name must not block the read


def sniff(path: Path) -> bool:
    if path.is_dir():
        return bool(_files(path))
    if path.name == "trainer_state.json":
        return True
    if path.suffix.lower() != ".json":
        return False
    try:
        with path.open("rb") as f:
            return b'"log_history"' in f.read(1 << 20)
    except OSError:
        return False


def read(path: Path) -> Run:
    files = _files(path)
    if not files:
        raise LogReadError(f"{path}: no trainer_state.json found")
    states = []
    for f in files:
        try:
            states.append((loads(f.read_bytes()), f))
        except ValueError as e:  # bad JSON or UTF-8, nested too deep
            if len(files) == 1:
                raise LogReadError(f"{f}: not valid JSON ({str(e)[:120]})") from e
    if not states:
        raise LogReadError(f"{path}: no readable trainer_state.json")
    state, f = max(states, key=lambda t: (to_step(t[0].get("global_step")) or 0) if isinstance(t[0], dict) else -1)
    if not isinstance(state, dict) or not isinstance(state.get("log_history"), list):
        raise LogReadError(f"{f}: no 'log_history' list; is this a Hugging Face trainer_state.json?")
    rb = RunBuilder(str(path), FORMAT)
    rb.metadata.update({k: state[k] for k in _META if k in state})
    if len(files) > 1:
        rb.metadata["file"] = str(f)
        rb.skipped.append(f"{len(files)} trainer_state.json files; read the latest ({f.parent.name})")
    epoch_steps: set[int] = set()
    for i, entry in enumerate(state["log_history"]):
        if not isinstance(entry, dict):
            rb.skip_line(i + 1, f"log_history entry {i + 1} is a {type(entry).__name__}, not an object")
            continue
        step = to_step(entry.get("step", i))
        if step is None:
            rb.skip_line(i + 1, f"log_history entry {i + 1}: step {str(entry.get('step'))[:40]!r} is not an int64")
            continue
        for k, v in entry.items():
            if k == "step":
                continue
            if k == "epoch":  # train and eval entries of one step both carry it: keep one
                if step in epoch_steps:
                    continue
                epoch_steps.add(step)
            x = to_float(v)
            if x is not None:
                rb.add(k, step, x)
    if not rb.builders:
        raise rb.no_metrics(f"log_history of {f.name} has no metrics (the Trainer logged nothing yet?)")
    return rb.finish()

"""The trainers' framework-free parts, NumPy only: the data order, the learning-rate schedule, the
progress lines, and checkpoints as plain arrays.

Both backends (train.py for PyTorch, jax_train.py for JAX) draw their batches through `Batches.rows`, so
the same seed gives the same windows in the same order by construction, whichever backend trains.
"""

from __future__ import annotations

import io
import json
import math
import time
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from webcorpus.atomic import atomic_path
from webcorpus.tokens.shards import TokenShards
from webcorpus.train.config import TrainConfig


def learning_rate(config: TrainConfig, step: int) -> float:
    """Warmup, then cosine to min_lr_ratio * lr, or warmup-stable-decay (linear to min at the end)."""
    low = config.lr * config.min_lr_ratio
    if step < config.warmup_steps:
        return config.lr * (step + 1) / config.warmup_steps
    if config.schedule == "wsd":
        decay_start = int(config.max_steps * (1 - config.decay_fraction))
        if step < decay_start:
            return config.lr
        progress = (step - decay_start) / max(1, config.max_steps - decay_start)
        return config.lr - (config.lr - low) * min(progress, 1.0)
    progress = min(1.0, (step - config.warmup_steps) / max(1, config.max_steps - config.warmup_steps))
    return low + 0.5 * (config.lr - low) * (1 + math.cos(math.pi * progress))


class Batches:
    """Deterministic batches of one split: windows at positions drawn from (seed, step, micro, rank)."""

    def __init__(self, shards: TokenShards, batch_size: int, context: int, seed: int, rank: int, world: int):
        self.shards, self.batch_size, self.context, self.seed = shards, batch_size, context, seed
        usable = len(shards) - (context + 1)
        if usable < world:
            raise ValueError(
                f"{shards.folder}: {len(shards)} tokens, too few for windows of {context + 1} on {world} ranks"
            )
        share = (usable + 1) // world  # each rank reads its own slice of the stream
        self.low, self.high = rank * share, rank * share + share - 1
        self.rank = rank

    def rows(self, step: int, micro: int = 0) -> np.ndarray:
        """(batch_size, context + 1) int64 tokens: inputs are [:, :-1], targets [:, 1:]."""
        rng = np.random.default_rng([self.seed, step, micro, self.rank])
        starts = rng.integers(self.low, self.high, size=self.batch_size, endpoint=True)
        return np.stack([self.shards.window(int(s), self.context + 1) for s in starts]).astype(np.int64)


def vocab_size_of(tokens_dir: Path, default: int = 50_304) -> int:
    """The tokenizer's vocabulary (tokens.json), rounded up to a multiple of 64 for faster matmuls."""
    info = tokens_dir / "tokens.json"
    size = json.loads(info.read_text())["vocab_size"] if info.exists() else default
    return (size + 63) // 64 * 64


def epochs(train_tokens: int, read_tokens: int) -> float:
    """How many times the budget reads each token of the train split, on average (batches are windows at
    random positions, so some tokens are seen more often, some less)."""
    return read_tokens / max(train_tokens, 1)


def repeat_warning(steps: int, tokens_per_step: int, train_tokens: int) -> str | None:
    """The warning for a budget that reads the train split more than once (a tiny corpus), else None."""
    repeats = epochs(train_tokens, steps * tokens_per_step)
    if repeats <= 1:
        return None
    return (
        f"warning: {steps:,} steps of {tokens_per_step:,} tokens read {steps * tokens_per_step:,} tokens from a "
        f"train split of {train_tokens:,}: each token is seen about {repeats:.1f} times ({repeats:.1f} epochs)"
    )


def duration(seconds: float) -> str:
    """Seconds as a person reads them: 42s, 3m05s, 2h07m."""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def progress_line(record: dict[str, Any], total: int, elapsed: float, done: int, left: int) -> str:
    """A log record for the terminal: step of total, the learning rate in 3 significant figures, the
    time since this run started and an estimate of the time left (this run's mean step time)."""
    fields = [f"step {record['step']}/{total}"]
    for key, value in record.items():
        if key == "lr":
            fields.append(f"lr {value:.2e}")
        elif key != "step":
            fields.append(f"{key} {value}")
    fields.append(f"elapsed {duration(elapsed)}")
    if left:
        fields.append(f"left ~{duration(elapsed / max(done, 1) * left)}")
    return " ".join(fields)


def step_record(
    step: int, loss: float, lr: float, grad_norm: float, tokens_per_s: float, mfu_flops: float | None
) -> dict[str, Any]:
    """One optimiser step's record, the same fields from both backends. `mfu_flops`: the FLOPs per token over
    the peak FLOP/s of every GPU at work (None: not on a GPU, no `mfu`)."""
    record = {"step": step, "loss": round(loss, 6), "lr": lr, "grad_norm": round(grad_norm, 4)}
    record["tokens_per_s"] = round(tokens_per_s)
    if mfu_flops is not None:
        record["mfu"] = round(mfu_flops * record["tokens_per_s"], 4)
    return record


class StepLog:
    """What both backends do after a step: the record to OUT/log.jsonl, the progress line and a checkpoint
    when due, and the closing line."""

    def __init__(
        self, out: Path, config: TrainConfig, checkpoint: Path, log: Callable[[str], None], first: int, last: int
    ) -> None:
        self.out, self.config, self.checkpoint, self.log = out, config, checkpoint, log
        self.first, self.last, self.started = first, last, time.perf_counter()

    def after(self, record: dict[str, Any], save: Callable[[], None]) -> None:
        step, config = record["step"], self.config
        with open(self.out / "log.jsonl", "a") as f:
            f.write(json.dumps(record) + "\n")
        if step % config.log_interval == 0 or "val_loss" in record or step == self.last:
            elapsed = time.perf_counter() - self.started
            self.log(progress_line(record, config.max_steps, elapsed, step - self.first, self.last - step))
        if step % config.checkpoint_interval == 0 or step == self.last:
            save()
            self.log(f"checkpoint of step {step} -> {self.checkpoint}")

    def close(self, records: list[dict[str, Any]]) -> None:
        if records:
            took = duration(time.perf_counter() - self.started)
            self.log(f"train: at step {records[-1]['step']} of {self.config.max_steps} after {took}; "
                     f"checkpoint {self.checkpoint}")  # fmt: skip


# ---- checkpoints of plain arrays ----------------------------------------------------------------

STATE_KEY = "__state__"  # the JSON part (step, configs), stored as UTF-8 bytes beside the arrays


def save_arrays(path: Path, arrays: dict[str, np.ndarray], state: dict[str, Any]) -> None:
    """One .npz file of named arrays plus a JSON dictionary, written whole or not at all. Plain arrays
    only: reading it back runs no code, unlike a pickle."""
    blob = np.frombuffer(json.dumps(state).encode(), dtype=np.uint8)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, **{STATE_KEY: blob}, **arrays)


def read_arrays(path: str | Path) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """The arrays and the JSON dictionary of a `save_arrays` file; ValueError for anything else."""
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {name: npz[name] for name in npz.files}
        state = json.loads(arrays.pop(STATE_KEY).tobytes().decode())
        state["model_config"], state["step"]
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, io.UnsupportedOperation) as error:
        first_line = (str(error).strip().splitlines() or [""])[0][:200]
        raise ValueError(f"{path}: not a webcorpus checkpoint ({type(error).__name__}: {first_line})") from None
    return arrays, state

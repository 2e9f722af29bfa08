"""`webcorpus train`: the training loop for model.py, reading the token shards `webcorpus tokenize` wrote.

One file, nanoGPT-style: AdamW, warmup then cosine or warmup-stable-decay learning rate, gradient
accumulation and clipping, bf16 autocast on GPU, optional torch.compile, data parallel under torchrun.

Data order is a function of (seed, step, micro-step, rank) alone: each batch is `batch_size` windows of
`context + 1` tokens at positions drawn from a generator seeded with those numbers, inside the rank's
own slice of the training split. A run stopped and resumed from a checkpoint therefore sees exactly the
batches an uninterrupted run would have seen, with no loader state to save.
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch

from webcorpus.atomic import atomic_path
from webcorpus.token_shards import TokenShards
from webcorpus.train.model import GPT, GPTConfig, compile_model

PRESETS: dict[str, dict[str, Any]] = {
    # Trains on a CPU in seconds; what the tests use.
    "tiny": {
        "model": {"n_layer": 2, "n_head": 2, "n_embd": 64, "context": 64},
        "batch_size": 8, "grad_accum": 1, "max_steps": 60, "lr": 3e-3, "warmup_steps": 5,
        "eval_interval": 20, "eval_batches": 4, "checkpoint_interval": 20, "log_interval": 10,
    },
    # GPT-2 small's shape; ~0.5M tokens per optimiser step as in nanoGPT's reproduction. Compiled: on an
    # H100 a micro-batch of 16 takes 33.4 ms compiled, 41.3 eager. 16 fits a 24 GB card; on an 80 GB one
    # `--batch-size 64 --grad-accum 8` is faster (64 ran 1.07x the tokens/s of 16 in bench/train_gpu.py).
    "gpt2-124m": {
        "model": {"n_layer": 12, "n_head": 12, "n_embd": 768, "context": 1024},
        "batch_size": 16, "grad_accum": 32, "max_steps": 19_073, "lr": 6e-4, "warmup_steps": 715,
        "eval_interval": 250, "eval_batches": 20, "checkpoint_interval": 1000, "log_interval": 10,
        "compile": True,
    },
}  # fmt: skip


@dataclass
class TrainConfig:
    preset: str = "tiny"
    model: dict[str, Any] = field(default_factory=dict)
    out_dir: str = "out/train"
    seed: int = 1337
    batch_size: int = 8  # sequences per micro-step and rank
    grad_accum: int = 1
    max_steps: int = 60
    stop_step: int | None = None  # stop (with a checkpoint) before max_steps; the schedule still ends there
    lr: float = 3e-3
    min_lr_ratio: float = 0.1
    schedule: str = "cosine"  # or "wsd": warmup, stable, then linear decay over the last decay_fraction
    decay_fraction: float = 0.2
    warmup_steps: int = 5
    weight_decay: float = 0.1
    beta1: float = 0.9
    beta2: float = 0.95
    grad_clip: float = 1.0
    eval_interval: int = 20
    eval_batches: int = 4
    checkpoint_interval: int = 20
    log_interval: int = 10
    compile: bool = False
    device: str = "auto"
    peak_tflops: float = 989.0  # H100 SXM dense bf16, for MFU

    def __post_init__(self) -> None:
        if self.schedule not in ("cosine", "wsd"):
            raise ValueError(f"schedule must be 'cosine' or 'wsd', not '{self.schedule}'")
        GPTConfig(**self.model)  # the model's own checks, before any data is read

    @classmethod
    def build(cls, preset: str = "tiny", overrides: dict[str, Any] | None = None) -> TrainConfig:
        if preset not in PRESETS:
            raise ValueError(f"unknown preset '{preset}' (known: {', '.join(PRESETS)})")
        values: dict[str, Any] = {"preset": preset, **PRESETS[preset]}
        for key, value in checked_options(cls, overrides or {}, "training option").items():
            if key == "model":
                if not isinstance(value, dict):
                    raise ValueError(f"training option 'model' must be a mapping, got {value!r}")
                values["model"] = {**values["model"], **checked_options(GPTConfig, value, "model option")}
            elif value is not None:
                values[key] = value
        return cls(**values)


def checked_options(config_class: type, options: dict[str, Any], what: str) -> dict[str, Any]:
    """`options`, once each name is a field of the dataclass and each value has its default's type (an int
    is a float; a bool is not an int). A YAML typo is an error here, not a TypeError deep in the run."""
    known = {f.name: f for f in fields(config_class)}
    for key, value in options.items():
        if key not in known:
            raise ValueError(f"unknown {what} '{key}' (known: {', '.join(sorted(known))})")
        expected = type(known[key].default)
        if expected in (int, float, bool, str) and value is not None:
            fits = isinstance(value, expected) or (expected is float and isinstance(value, int))
            if fits and isinstance(value, bool) and expected is not bool:
                fits = False
            if not fits:
                raise ValueError(f"{what} '{key}' must be {expected.__name__}, got {value!r}")
    return options


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

    def get(self, step: int, micro: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
        rng = np.random.default_rng([self.seed, step, micro, self.rank])
        starts = rng.integers(self.low, self.high, size=self.batch_size, endpoint=True)
        rows = np.stack([self.shards.window(int(s), self.context + 1) for s in starts]).astype(np.int64)
        return torch.from_numpy(rows[:, :-1].copy()), torch.from_numpy(rows[:, 1:].copy())


def vocab_size_of(tokens_dir: Path, default: int = 50_304) -> int:
    """The tokenizer's vocabulary (tokens.json), rounded up to a multiple of 64 for faster matmuls."""
    info = tokens_dir / "tokens.json"
    size = json.loads(info.read_text())["vocab_size"] if info.exists() else default
    return (size + 63) // 64 * 64


def save_checkpoint(path: Path, model: GPT, optimizer: torch.optim.Optimizer, step: int, config: TrainConfig) -> None:
    state = {
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "step": step,
        "config": asdict(config),
        "model_config": asdict(model.config),
    }
    with atomic_path(path) as tmp:  # a checkpoint is whole or absent
        torch.save(state, tmp)


def read_checkpoint(checkpoint: str | Path, device: str = "cpu") -> dict[str, Any]:
    try:
        state = torch.load(checkpoint, map_location=device, weights_only=False)
        state["model_config"], state["model"]
    except Exception as error:  # torch raises pickle, zip and key errors alike for a foreign file
        raise ValueError(f"{checkpoint}: not a webcorpus checkpoint ({type(error).__name__}: {error})") from None
    return state


def load_model(checkpoint: str | Path, device: str = "cpu") -> GPT:
    state = read_checkpoint(checkpoint, device)
    model = GPT(GPTConfig(**state["model_config"]))
    model.load_state_dict(state["model"])
    return model.to(device).eval()


def pick_device(name: str) -> str:
    if name != "auto":
        return name
    return "cuda" if torch.cuda.is_available() else "cpu"


def train(tokens_dir: str | Path, config: TrainConfig, resume: bool = False, log=print) -> list[dict[str, Any]]:
    """Train; returns the logged records (also appended to OUT_DIR/log.jsonl on rank 0)."""
    tokens_dir, out = Path(tokens_dir), Path(config.out_dir)
    distributed = "RANK" in os.environ and "WORLD_SIZE" in os.environ
    rank, world, local = 0, 1, 0
    if distributed:
        rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
        local = int(os.environ.get("LOCAL_RANK", 0))
        torch.distributed.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    device = f"cuda:{local}" if distributed and torch.cuda.is_available() else pick_device(config.device)
    on_gpu = device.startswith("cuda")
    if on_gpu:
        torch.cuda.set_device(torch.device(device).index or 0)
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True

    model_config = GPTConfig(**{"vocab_size": vocab_size_of(tokens_dir), **config.model})
    train_batches = Batches(
        TokenShards(tokens_dir, "train"), config.batch_size, model_config.context, config.seed, rank, world
    )
    val_batches = Batches(
        TokenShards(tokens_dir, "val"), config.batch_size, model_config.context, config.seed + 1, 0, 1
    )

    torch.manual_seed(config.seed)
    model = GPT(model_config).to(device)
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": config.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=config.lr,
        betas=(config.beta1, config.beta2),
        fused=on_gpu,
    )
    checkpoint = out / "ckpt.pt"
    step = 0
    if resume:
        if not checkpoint.exists():
            raise FileNotFoundError(f"{checkpoint}: no checkpoint to resume from")
        state = read_checkpoint(checkpoint, device)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        step = state["step"]
    raw_model = model
    if config.compile:
        model = compile_model(model)
    if distributed:
        model = torch.nn.parallel.DistributedDataParallel(model, device_ids=[local] if on_gpu else None)
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if on_gpu else torch.autocast("cpu", enabled=False)

    def evaluate() -> float:
        model.eval()
        losses = []
        with torch.no_grad():
            for i in range(config.eval_batches):
                x, y = (t.to(device) for t in val_batches.get(0, i))
                with autocast:
                    losses.append(model(x, y)[1].item())
        model.train()
        return float(np.mean(losses))

    records: list[dict[str, Any]] = []
    if rank == 0:
        out.mkdir(parents=True, exist_ok=True)
        log(
            f"train: {raw_model.num_params():,} parameters, {len(train_batches.shards):,} train tokens, "
            f"{config.batch_size}x{model_config.context}x{config.grad_accum}x{world} tokens per step, on {device}"
        )
    tokens_per_step = config.batch_size * model_config.context * config.grad_accum * world
    last = config.max_steps if config.stop_step is None else min(config.stop_step, config.max_steps)
    while step < last:
        started = time.perf_counter()
        lr = learning_rate(config, step)
        for group in optimizer.param_groups:
            group["lr"] = lr
        loss_sum = 0.0
        for micro in range(config.grad_accum):
            x, y = (t.to(device, non_blocking=True) for t in train_batches.get(step, micro))
            if distributed:
                model.require_backward_grad_sync = micro == config.grad_accum - 1
            with autocast:
                _, loss = model(x, y)
            (loss / config.grad_accum).backward()
            loss_sum += loss.detach()
        norm = torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        loss_value = loss_sum / config.grad_accum
        if distributed:
            torch.distributed.all_reduce(loss_value, op=torch.distributed.ReduceOp.AVG)
        if on_gpu:
            torch.cuda.synchronize()
        seconds = time.perf_counter() - started
        step += 1
        record = {"step": step, "loss": round(float(loss_value), 6), "lr": lr, "grad_norm": round(float(norm), 4)}
        record["tokens_per_s"] = round(tokens_per_step / seconds)
        if on_gpu:
            record["mfu"] = round(
                raw_model.flops_per_token() * record["tokens_per_s"] / (config.peak_tflops * 1e12 * world), 4
            )
        if step % config.eval_interval == 0 or step == last:
            record["val_loss"] = round(evaluate(), 6)
        records.append(record)
        if rank == 0:
            with open(out / "log.jsonl", "a") as f:
                f.write(json.dumps(record) + "\n")
            if step % config.log_interval == 0 or "val_loss" in record or step == last:
                log(" ".join(f"{k} {v}" for k, v in record.items()))
            if step % config.checkpoint_interval == 0 or step == last:
                save_checkpoint(checkpoint, raw_model, optimizer, step, config)
    if distributed:
        torch.distributed.destroy_process_group()
    return records

"""`webcorpus train`: the training loop for model.py, reading the token shards `webcorpus tokenize` wrote.

One file, nanoGPT-style: AdamW, warmup then cosine or warmup-stable-decay learning rate, gradient
accumulation and clipping, bf16 autocast on GPU, optional torch.compile, data parallel under torchrun.

Data order is a function of (seed, step, micro-step, rank) alone: each batch is `batch_size` windows of
`context + 1` tokens at positions drawn from a generator seeded with those numbers, inside the rank's
own slice of the training split. A run stopped and resumed from a checkpoint therefore sees exactly the
batches an uninterrupted run would have seen, with no loader state to save.
"""

from __future__ import annotations

import functools
import os
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch

from webcorpus.atomic import atomic_path
from webcorpus.tokens.shards import TokenShards
from webcorpus.train import common
from webcorpus.train.common import StepLog, learning_rate, repeat_warning, step_record, vocab_size_of
from webcorpus.train.config import GPTConfig, TrainConfig
from webcorpus.train.model import GPT, compile_model


class Batches(common.Batches):
    """The shared batches (common.py) as torch tensors: inputs and targets."""

    def get(self, step: int, micro: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
        rows = self.rows(step, micro)
        return torch.from_numpy(rows[:, :-1].copy()), torch.from_numpy(rows[:, 1:].copy())


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
        # weights_only: tensors and plain data only, so a crafted checkpoint cannot run code.
        state = torch.load(checkpoint, map_location=device, weights_only=True)
        state["model_config"], state["model"]
    except Exception as error:  # torch raises pickle, zip and key errors alike for a foreign file
        first_line = (str(error).strip().splitlines() or [""])[0][:200]
        raise ValueError(f"{checkpoint}: not a webcorpus checkpoint ({type(error).__name__}: {first_line})") from None
    return state


def load_model(checkpoint: str | Path, device: str = "cpu") -> GPT:
    """The GPT of a checkpoint of either backend: ckpt.pt (this trainer) or ckpt.npz (jax_train.py, whose
    parameters carry model.py's names and shapes)."""
    if Path(checkpoint).suffix == ".npz":
        arrays, state = common.read_arrays(checkpoint)
        weights = {
            name.removeprefix("model/"): torch.from_numpy(a) for name, a in arrays.items() if name.startswith("model/")
        }
        if state["model_config"].get("tie_embeddings", True) and "embed.weight" in weights:
            weights["head.weight"] = weights["embed.weight"]
        state["model"] = weights
    else:
        state = read_checkpoint(checkpoint, device)
    model = GPT(GPTConfig(**state["model_config"]))
    try:
        model.load_state_dict(state["model"])
    except RuntimeError as error:
        raise ValueError(f"{checkpoint}: not a webcorpus checkpoint of this model ({str(error)[:200]})") from None
    return model.to(device).eval()


def pick_device(name: str) -> str:
    if name != "auto":
        return name
    return "cuda" if torch.cuda.is_available() else "cpu"


def train(tokens_dir: str | Path, config: TrainConfig, resume: bool = False, log=print) -> list[dict[str, Any]]:
    """Train; returns the logged records (also appended to OUT_DIR/log.jsonl on rank 0)."""
    tokens_dir, out = Path(tokens_dir), Path(config.out)
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
    tokens_per_step = config.batch_size * model_config.context * config.grad_accum * world
    if rank == 0:
        out.mkdir(parents=True, exist_ok=True)
        # The kernels setting only matters on CUDA (model.py takes the torch path elsewhere): not said on a CPU.
        kernels = f", kernels {model_config.kernels}" if on_gpu else ""
        log(
            f"train: {raw_model.num_params():,} parameters, {len(train_batches.shards):,} train tokens, "
            f"{config.batch_size}x{model_config.context}x{config.grad_accum}x{world} tokens per step, on {device}"
            f"{kernels}"
        )
        if warning := repeat_warning(config.max_steps, tokens_per_step, len(train_batches.shards)):
            log(warning)
    last = config.max_steps if config.stop_step is None else min(config.stop_step, config.max_steps)
    step_log = StepLog(out, config, checkpoint, log, step, last)
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
        mfu_flops = raw_model.flops_per_token() / (config.peak_tflops * 1e12 * world) if on_gpu else None
        record = step_record(step, float(loss_value), lr, float(norm), tokens_per_step / seconds, mfu_flops)
        if step % config.eval_interval == 0 or step == last:
            record["val_loss"] = round(evaluate(), 6)
        records.append(record)
        if rank == 0:
            step_log.after(record, functools.partial(save_checkpoint, checkpoint, raw_model, optimizer, step, config))
    if rank == 0:
        step_log.close(records)
    if distributed:
        torch.distributed.destroy_process_group()
    return records

"""Training one variant's model on a fixed token budget, and scoring it in bits per byte."""

from __future__ import annotations

import json
import math
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

EVAL_BATCH = 16  # windows scored at once


def train_variant(
    tokens: Path, out: Path, preset: str, budget: int, log: Callable[[str], None]
) -> tuple[list[dict[str, Any]], Any]:
    """Train the preset's model from its seed for `budget` tokens (rounded down to whole optimiser steps,
    at least one); a finished run in `out` with the same settings is reused, an interrupted one resumed."""
    from webcorpus.train.config import GPTConfig, TrainConfig
    from webcorpus.train.train import read_checkpoint, train

    base = TrainConfig.build(preset)
    per_step = base.batch_size * base.grad_accum * GPTConfig(**base.model).context
    steps = max(1, budget // per_step)
    tenth = max(1, steps // 10)
    overrides = {"out": str(out), "max_steps": steps, "warmup_steps": min(base.warmup_steps, tenth),
                 "eval_interval": tenth, "log_interval": tenth, "checkpoint_interval": steps}  # fmt: skip
    config = TrainConfig.build(preset, overrides)
    checkpoint, settings = out / "ckpt.pt", out / "ablation_settings.json"
    wanted = {"preset": preset, "steps": steps, "tokens": str(tokens)}
    resume = False
    if checkpoint.exists() and settings.exists() and json.loads(settings.read_text()) == wanted:
        if read_checkpoint(checkpoint)["step"] >= steps:
            log(f"{out.name}: trained already ({steps} steps), reused")
            return _log_records(out), config
        resume = True
    elif out.exists():
        shutil.rmtree(out)  # made with other settings: start again
    out.mkdir(parents=True, exist_ok=True)
    settings.write_text(json.dumps(wanted))
    train(tokens, config, resume=resume, log=log)
    return _log_records(out), config


def _log_records(out: Path) -> list[dict[str, Any]]:
    """The training log, one record per step; a resumed run's repeated steps keep their last record."""
    records: dict[int, dict[str, Any]] = {}
    for line in (out / "log.jsonl").read_text().splitlines():
        record = json.loads(line)
        records[record["step"]] = record
    return [records[step] for step in sorted(records)]


def bits_per_byte(checkpoint: Path, eval_tokens: Path, text_bytes: int) -> float:
    """The model's total cross-entropy over the evaluation token stream (non-overlapping windows of its
    context, every token predicted once), in bits, per UTF-8 byte of the evaluation text (`text_bytes`)."""
    import numpy as np
    import torch

    from webcorpus.tokens.shards import TokenShards
    from webcorpus.train.train import load_model, pick_device

    device = pick_device("auto")
    model = load_model(checkpoint, device)
    shards = TokenShards(eval_tokens, "train")
    stream = shards.window(0, len(shards)).astype(np.int64)
    context = model.config.context
    windows = [stream[i : i + context + 1] for i in range(0, len(stream) - 1, context)]
    total_nats = 0.0
    on_gpu = device.startswith("cuda")
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if on_gpu else torch.autocast("cpu", enabled=False)
    with torch.no_grad(), autocast:
        for length in sorted({len(w) for w in windows}):  # the last window may be shorter
            same = [w for w in windows if len(w) == length]
            for i in range(0, len(same), EVAL_BATCH):
                batch = torch.from_numpy(np.stack(same[i : i + EVAL_BATCH])).to(device)
                _, loss = model(batch[:, :-1], batch[:, 1:])
                total_nats += float(loss) * batch[:, 1:].numel()
    return round(total_nats / math.log(2) / max(text_bytes, 1), 6)

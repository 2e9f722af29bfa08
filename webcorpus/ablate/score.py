"""Training one variant's model on a fixed token budget, and scoring it in bits per byte."""

from __future__ import annotations

import json
import math
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

EVAL_BATCH = 16  # windows scored at once


def optimiser_steps(preset: str, budget: int) -> int:
    """The optimiser steps `budget` tokens make with the preset's batch: whole steps, at least one."""
    from webcorpus.train.config import GPTConfig, TrainConfig

    base = TrainConfig.build(preset)
    return max(1, budget // (base.batch_size * base.grad_accum * GPTConfig(**base.model).context))


def train_variant(
    tokens: Path, out: Path, preset: str, budget: int, log: Callable[[str], None]
) -> tuple[list[dict[str, Any]], Any]:
    """Train the preset's model from its seed for `budget` tokens (rounded down to whole optimiser steps,
    at least one); a finished run in `out` with the same settings is reused, an interrupted one resumed."""
    from webcorpus.train.config import TrainConfig
    from webcorpus.train.train import read_checkpoint, train

    base = TrainConfig.build(preset)
    steps = optimiser_steps(preset, budget)
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
    return round(float(document_bits(checkpoint, eval_tokens).sum()) / max(text_bytes, 1), 6)


def document_bits(checkpoint: Path, eval_tokens: Path) -> Any:
    """The model's cross-entropy in bits over the evaluation token stream (non-overlapping windows of its
    context, every token but the first predicted once), summed per document: the units a bootstrap
    resamples. A predicted token counts for the document it belongs to (the <|endoftext|> that opens a
    document for that document), so the documents' bits add up to the whole stream's."""
    import numpy as np
    import torch
    import torch.nn.functional as F

    from webcorpus.tokens.shards import TokenShards
    from webcorpus.train.train import load_model, pick_device

    device = pick_device("auto")
    model = load_model(checkpoint, device)
    shards = TokenShards(eval_tokens, "train")
    stream = shards.window(0, len(shards)).astype(np.int64)
    context = model.config.context
    firsts = list(range(0, len(stream) - 1, context))  # each window predicts stream[first + 1 : first + context + 1]
    nats = np.zeros(max(len(stream) - 1, 0))  # nats[p - 1]: predicting stream position p
    on_gpu = device.startswith("cuda")
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if on_gpu else torch.autocast("cpu", enabled=False)
    with torch.no_grad(), autocast:
        for length in sorted({min(context + 1, len(stream) - f) for f in firsts}):  # the last may be shorter
            same = [f for f in firsts if min(context + 1, len(stream) - f) == length]
            for i in range(0, len(same), EVAL_BATCH):
                starts = same[i : i + EVAL_BATCH]
                batch = torch.from_numpy(np.stack([stream[f : f + length] for f in starts])).to(device)
                logits, _ = model(batch[:, :-1])
                losses = F.cross_entropy(
                    logits.float().reshape(-1, logits.size(-1)), batch[:, 1:].reshape(-1), reduction="none"
                )
                losses = losses.view(len(starts), -1).cpu().numpy()
                for row, f in zip(losses, starts):
                    nats[f : f + length - 1] = row
    starts = shards.document_starts()
    owner = np.searchsorted(starts, np.arange(1, len(stream)), side="right") - 1
    if len(owner) and owner.min() < 0:
        raise ValueError(f"{eval_tokens}: the token stream does not begin with a document")
    return np.bincount(owner, weights=nats, minlength=len(starts)) / math.log(2)

"""Training throughput of the two backends on one GPU, in one job: `webcorpus train`'s PyTorch trainer
and `--backend jax`, in alternating rounds at the same micro-batch and preset.

    python bench/gpu/train_jax_speed.py [--batch-size 16] [--steps 40] [--warmup 10] [--rounds 3]
                                        [--kernels fused] [--json results.json]

Both run the `gpt2-124m` preset (GPT-2 small, context 1024, vocabulary 50,304) through their own train()
functions as a user would get them: the same batches from the same token shards (random tokens written
to a temporary folder), bf16 on the GPU, AdamW, clipping, one micro-batch per optimiser step, the
PyTorch trainer compiled with its default `kernels` setting (--kernels). Each round runs one trainer for
--steps steps, then the other, each from a fresh start (compilation included); a round's figure is the
median tokens/s of the steps after --warmup, as the trainers log them. Alternating rounds spread any
drift of the GPU's clock over both. Needs numpy, torch, jax (with CUDA) and optax; no other webcorpus
dependency is imported.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

# JAX takes 75% of the GPU's memory when it starts unless told: the PyTorch trainer shares the GPU here.
os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import numpy as np  # noqa: E402


def write_tokens(folder: Path, tokens: int, vocab: int = 50_257) -> None:
    """Random tokens as llm.c shards: the trainers' speed does not depend on what the tokens say."""
    from webcorpus.pipeline.run_folder import Folder
    from webcorpus.tokens.shards import write_shard

    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    write_shard(
        Folder(folder), "bench_val_000000.bin", rng.integers(0, vocab, 1 << 20).astype(np.uint16), np.array([0])
    )
    write_shard(
        Folder(folder), "bench_train_000000.bin", rng.integers(0, vocab, tokens).astype(np.uint16), np.array([0])
    )
    (folder / "tokens.json").write_text(json.dumps({"vocab_size": vocab}))


def run(backend: str, tokens: Path, out: Path, args: argparse.Namespace) -> tuple[float, list[str]]:
    """One fresh run of --steps steps; the median tokens/s after --warmup and the trainer's log lines."""
    from webcorpus.train.config import TrainConfig

    shutil.rmtree(out, ignore_errors=True)
    big = 10**9  # no validation, checkpoint or progress line inside the measured steps
    config = TrainConfig.build(
        "gpt2-124m",
        {
            "backend": backend, "out": str(out), "device": args.device, "batch_size": args.batch_size, "grad_accum": 1,
            "stop_step": args.steps, "eval_interval": big, "eval_batches": 1, "checkpoint_interval": big,
            "log_interval": big, "model": {"kernels": args.kernels},
        },
    )  # fmt: skip
    lines: list[str] = []
    if backend == "jax":
        from webcorpus.train.jax_train import train
    else:
        from webcorpus.train.train import train
    records = train(tokens, config, log=lines.append)
    shutil.rmtree(out, ignore_errors=True)
    return statistics.median(r["tokens_per_s"] for r in records[args.warmup :]), lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch-size", type=int, default=16, help="Micro-batch of both trainers (the preset's 16).")
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--warmup", type=int, default=10, help="Steps left out of each round's median.")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--kernels", default="fused", choices=["fused", "fused_pingpong", "torch"])
    parser.add_argument("--train-tokens", type=int, default=50_000_000)
    parser.add_argument("--json", help="Also write the figures here.")
    parser.add_argument("--device", default="cuda", help="cpu only to try the script out")
    args = parser.parse_args()
    if args.steps <= args.warmup:
        parser.error("--steps must be larger than --warmup")

    import jax
    import torch

    if args.device == "cuda":
        assert torch.cuda.is_available() and jax.devices()[0].platform == "gpu", "needs a GPU visible to torch and JAX"
    name = torch.cuda.get_device_name() if args.device == "cuda" else "cpu"
    print(f"torch {torch.__version__}, jax {jax.__version__}, {name}", flush=True)
    work = Path(tempfile.mkdtemp(prefix="train_jax_speed_"))
    try:
        write_tokens(work / "tokens", args.train_tokens)
        rounds: list[dict[str, float]] = []
        for i in range(args.rounds):
            figures: dict[str, float] = {}
            for backend in ("torch", "jax"):
                started = time.perf_counter()
                figures[backend], lines = run(backend, work / "tokens", work / backend, args)
                if i == 0:
                    print(f"  {backend}: {lines[0]}", flush=True)
                print(
                    f"round {i + 1} {backend}: {figures[backend]:,.0f} tokens/s "
                    f"(run of {time.perf_counter() - started:.0f}s with compilation)",
                    flush=True,
                )
                if backend == "torch" and args.device == "cuda":
                    torch.cuda.empty_cache()  # the PyTorch trainer's cached blocks, for JAX's allocator
            figures["ratio"] = figures["jax"] / figures["torch"]
            print(f"round {i + 1}: jax/torch {figures['ratio']:.3f}", flush=True)
            rounds.append(figures)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    summary = {backend: statistics.median(r[backend] for r in rounds) for backend in ("torch", "jax")}
    summary["ratio"] = summary["jax"] / summary["torch"]
    print(
        f"median over {args.rounds} rounds, micro-batch {args.batch_size}x1024: torch {summary['torch']:,.0f} "
        f"tokens/s, jax {summary['jax']:,.0f} tokens/s, jax/torch {summary['ratio']:.3f}"
    )
    if args.json:
        Path(args.json).write_text(json.dumps({"args": vars(args), "rounds": rounds, "median": summary}, indent=2))


if __name__ == "__main__":
    main()

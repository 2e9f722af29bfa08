"""Training throughput of the bundled GPT on a GPU: tokens/s, step time and MFU.

    python bench/gpu/train_gpu.py [--batch-sizes 192,176,160,128] [--steps 30] [--tokens DIR] [--kernels fused]
    torchrun --nproc_per_node 2 bench/gpu/train_gpu.py ...      # data parallel, one process per GPU

The model is the `gpt2-124m` preset (12 layers, 768 wide, 12 heads, context 1024) with nanoGPT's
vocabulary of 50,304 unless --vocab-size says otherwise; bf16 autocast with the residual stream in bf16
(the model's default on GPU; --residual float32 for nanoGPT's), the model's `kernels` setting (--kernels:
fused, the default: the head + loss in one kernel and GELU, rotary and the norms inside the matrix
products; fused_pingpong: the MLP's products on the Gluon ping-pong kernel; torch: none of it),
torch.compile, fused AdamW, gradient clipping, one micro-batch per optimiser step. Data: random tokens,
or windows of a token folder (--tokens). The kernels' correctness: `python -m pytest -m gpu tests/test_kernels.py`.
It tries each micro-batch size in turn, largest first,
and keeps the first that fits, then also measures --compare-batch (16, nanoGPT's setting) for a same-shape comparison.

Step time: --steps steps run back to back with one synchronisation at the end, as in a training loop
(the figure also printed, the median of steps each synchronised, was 0.4-2.4% slower on the H100).

MFU counts 6 * parameters + 12 * layers * width * context FLOPs per token against --peak-tflops
(989, the H100 SXM's dense bf16 figure). Baseline for comparison, measured on the lent H100 with torch
2.11: nanoGPT's GPT-2 124M at micro-batch 16, bf16, compiled: 36.2 ms per step, about 452k tokens/s.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import torch

from webcorpus.train.config import GPTConfig
from webcorpus.train.model import GPT, compile_model

NANOGPT_STEP_MS = 36.2
NANOGPT_TOKENS_PER_S = 452_000


def batches(args, batch_size: int, context: int, vocab: int, device: str, rank: int):
    if args.tokens:
        from webcorpus.tokens.shards import TokenShards
        from webcorpus.train.train import Batches

        source = Batches(TokenShards(args.tokens, "train"), batch_size, context, 1, rank, args.world)
        step = 0
        while True:
            x, y = source.get(step)
            step += 1
            yield x.to(device, non_blocking=True), y.to(device, non_blocking=True)
    generator = torch.Generator(device=device).manual_seed(1 + rank)
    while True:
        data = torch.randint(0, vocab, (batch_size, context + 1), device=device, generator=generator)
        yield data[:, :-1], data[:, 1:]


def train_step(model, raw, optimizer, x, y) -> torch.Tensor:
    with torch.autocast("cuda", dtype=torch.bfloat16):
        _, loss = model(x, y)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(raw.parameters(), 1.0)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return loss


def profile_steps(model, raw, optimizer, data, steps: int = 3, rows: int = 12) -> None:
    """Where the GPU time goes: CUDA kernels grouped by kind, as a share of the total."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        for _ in range(steps):
            train_step(model, raw, optimizer, *next(data))
        torch.cuda.synchronize()
    kinds: dict[str, float] = {}
    for event in prof.key_averages():
        name = event.key.lower()
        total = event.device_time_total if hasattr(event, "device_time_total") else event.cuda_time_total
        if total <= 0:
            continue
        if "flash" in name or "fmha" in name or "attention" in name:
            kind = "attention (flash)"
        elif "gemm" in name or "cutlass" in name or "sm90" in name or "nvjet" in name or "mm" in name.split("_"):
            kind = "matmul"
        elif "adam" in name or "multi_tensor" in name or "foreach" in name:
            kind = "optimizer + clipping"
        elif "triton" in name:
            kind = "fused elementwise (triton)"
        elif "nccl" in name:
            kind = "nccl"
        else:
            kind = "other"
        kinds[kind] = kinds.get(kind, 0.0) + total
    whole = sum(kinds.values()) or 1.0
    print(f"profile of {steps} steps ({whole / steps / 1000:.1f} ms of kernels per step):")
    for kind, total in sorted(kinds.items(), key=lambda item: -item[1]):
        print(f"  {kind:<28} {100 * total / whole:5.1f}%  {total / steps / 1000:7.1f} ms/step")
    print(prof.key_averages().table(sort_by="device_time_total", row_limit=rows, max_name_column_width=90))


def measure(args, batch_size: int, device: str, rank: int) -> dict:
    config = GPTConfig(vocab_size=args.vocab_size, residual_dtype=args.residual, kernels=args.kernels)
    torch.manual_seed(1337)
    raw = GPT(config).to(device)
    model = compile_model(raw, args.compile_mode) if args.compile else raw
    if args.world > 1:
        model = torch.nn.parallel.DistributedDataParallel(model, device_ids=[rank])
    optimizer = torch.optim.AdamW(raw.parameters(), lr=6e-4, betas=(0.9, 0.95), weight_decay=0.1, fused=True)
    data = batches(args, batch_size, config.context, config.vocab_size, device, rank)
    times = []
    for step in range(args.warmup + args.steps):
        x, y = next(data)
        torch.cuda.synchronize()
        start = time.perf_counter()
        loss = train_step(model, raw, optimizer, x, y)
        torch.cuda.synchronize()
        if step >= args.warmup:
            times.append(time.perf_counter() - start)
    # The same number of steps again with no synchronisation between them, as a training loop runs (and as
    # nanoGPT's per-iteration time is taken): the CPU queues the next step while the GPU works.
    batches_ahead = [next(data) for _ in range(args.steps)]
    torch.cuda.synchronize()
    start = time.perf_counter()
    for x, y in batches_ahead:
        loss = train_step(model, raw, optimizer, x, y)
    torch.cuda.synchronize()
    step_s = (time.perf_counter() - start) / args.steps
    if args.profile and rank == 0:
        profile_steps(model, raw, optimizer, data, rows=args.profile_rows)
    tokens_per_gpu = batch_size * config.context / step_s
    mfu = raw.flops_per_token(config.context) * tokens_per_gpu / (args.peak_tflops * 1e12)
    return {
        "batch_size": batch_size,
        "step_ms": step_s * 1000,
        "synced_step_ms": statistics.median(times) * 1000,
        "tokens_per_s_per_gpu": tokens_per_gpu,
        "tokens_per_s": tokens_per_gpu * args.world,
        "mfu": mfu,
        "loss": float(loss.detach()),
        "params": raw.num_params(),
        "memory_gib": torch.cuda.max_memory_allocated() / 2**30,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch-sizes", default="192,176,160,128,96,64,48,32,16")
    parser.add_argument("--compare-batch", type=int, default=16)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--vocab-size", type=int, default=50_304)
    parser.add_argument("--peak-tflops", type=float, default=989.0)
    parser.add_argument("--tokens", help="A token folder to read batches from (default: random tokens).")
    parser.add_argument("--no-compile", dest="compile", action="store_false")
    parser.add_argument("--profile", action="store_true", help="Profile 3 steps and print where GPU time goes.")
    parser.add_argument("--profile-rows", type=int, default=12, help="Kernels listed by --profile.")
    for flag, choices, explanation in (  # the first choice is the default
        ("--attention", ["default", "cudnn", "flash"], "SDPA backend: torch's default choice, or only the one named."),
        ("--residual", ["bfloat16", "float32"], "The residual stream's dtype under autocast (residual_dtype)."),
        ("--kernels", ["fused", "fused_pingpong", "torch"], "The model's kernels setting (GPTConfig.kernels)."),
        ("--blas", ["default", "cublaslt"], "torch's BLAS for matrix products: its default, or cuBLASLt preferred."),
    ):
        parser.add_argument(flag, choices=choices, default=choices[0], help=explanation)
    parser.add_argument(
        "--inductor", default="", help="Inductor settings to try, e.g. coordinate_descent_tuning=1,aggressive_fusion=1"
    )
    parser.add_argument("--compile-mode", default=None, help="torch.compile mode, e.g. max-autotune-no-cudagraphs")
    args = parser.parse_args()

    if not torch.cuda.is_available():
        sys.exit("bench/gpu/train_gpu.py needs a CUDA GPU (the trainer itself runs on the CPU: webcorpus train)")
    args.world = int(os.environ.get("WORLD_SIZE", 1))
    rank = int(os.environ.get("LOCAL_RANK", 0))
    if args.world > 1:
        torch.distributed.init_process_group("nccl")
    torch.cuda.set_device(rank)
    device = f"cuda:{rank}"
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    if args.blas != "default":
        torch.backends.cuda.preferred_blas_library(args.blas)
    if args.attention != "default":
        torch.backends.cuda.enable_flash_sdp(args.attention == "flash")
        torch.backends.cuda.enable_mem_efficient_sdp(False)
        torch.backends.cuda.enable_math_sdp(False)
        torch.backends.cuda.enable_cudnn_sdp(args.attention == "cudnn")
    for setting in filter(None, args.inductor.split(",")):
        import torch._inductor.config as inductor_config

        name, value = setting.split("=")
        *path, name = name.split(".")  # e.g. triton.mix_order_reduction_split_size
        section = inductor_config
        for part in path:
            section = getattr(section, part, None)
        if section is None or not hasattr(section, name):
            sys.exit(f"--inductor: torch {torch.__version__} has no Inductor setting '{setting.split('=')[0]}'")
        current = getattr(section, name)
        setattr(section, name, int(value) if current is None else type(current)(int(value)))
    lead = rank == 0
    if lead:
        mode = args.compile_mode or "default"
        name = torch.cuda.get_device_name()
        print(f"{name} x{args.world}, torch {torch.__version__}, compile={args.compile} ({mode}), "
              f"attention={args.attention}, kernels={args.kernels}, residual={args.residual}, "
              f"blas={args.blas}, inductor={args.inductor or 'default'}")  # fmt: skip

    results = []
    sizes = [int(b) for b in args.batch_sizes.split(",")]
    for batch_size in sizes + ([args.compare_batch] if args.compare_batch not in sizes else []):
        if results and batch_size != args.compare_batch:
            continue  # the largest that fits is found; only the comparison size is left
        try:
            result = measure(args, batch_size, device, rank)
        except torch.OutOfMemoryError:
            if lead:
                print(f"micro-batch {batch_size}: out of memory")
            torch.cuda.empty_cache()
            continue
        results.append(result)
        if lead:
            print(
                f"micro-batch {batch_size:>3}: {result['step_ms']:7.1f} ms/step (synchronised each step: "
                f"{result['synced_step_ms']:.1f}), {result['tokens_per_s']:>10,.0f} "
                f"tokens/s ({result['tokens_per_s_per_gpu']:,.0f} per GPU), MFU {100 * result['mfu']:.1f}%, "
                f"{result['memory_gib']:.1f} GiB, loss {result['loss']:.3f}, {result['params']:,} parameters",
                flush=True,
            )
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    if lead and results:
        best = max(results, key=lambda r: r["tokens_per_s_per_gpu"])
        print(
            f"best: micro-batch {best['batch_size']}, {best['tokens_per_s_per_gpu']:,.0f} tokens/s per GPU = "
            f"{best['tokens_per_s_per_gpu'] / NANOGPT_TOKENS_PER_S:.2f}x nanoGPT's {NANOGPT_TOKENS_PER_S:,} "
            f"(its {NANOGPT_STEP_MS} ms/step at micro-batch 16 on the H100)"
        )
    if args.world > 1:
        torch.distributed.destroy_process_group()


if __name__ == "__main__":
    main()

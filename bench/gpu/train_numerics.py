"""Does a model setting change what the trainer learns? Train the same run twice and compare losses.

    python bench/gpu/train_numerics.py TOKENS_DIR [--steps 200] [--setting residual_dtype=float32,bfloat16]
    python bench/gpu/train_numerics.py TOKENS_DIR --setting kernels=torch,fused    # the fused kernels on or off

Both runs go through `webcorpus.train.train.train` with the `gpt2-124m` preset (compiled, bf16
autocast, one GPU) on the same batches from the same seed; only the one model setting differs. It
prints the training loss every --every steps for each value, then the validation losses and the largest
gap between the curves. Used to check `residual_dtype: bfloat16` before making it the GPU default, and
the fused kernels (`--setting kernels=torch,fused`).
"""

from __future__ import annotations

import argparse
import tempfile

from webcorpus.train.train import TrainConfig, train


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("tokens")
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--lr", type=float, default=6e-4)
    parser.add_argument("--every", type=int, default=20)
    parser.add_argument("--preset", default="gpt2-124m")
    parser.add_argument("--no-compile", dest="compile", action="store_false")
    parser.add_argument("--setting", default="residual_dtype=float32,bfloat16", help="NAME=VALUE_A,VALUE_B")
    args = parser.parse_args()

    name, values = args.setting.split("=")
    curves: dict[str, list[dict]] = {}
    for value in values.split(","):
        with tempfile.TemporaryDirectory() as out:
            config = TrainConfig.build(
                args.preset,
                {
                    "model": {name: value},
                    "out": out,
                    "batch_size": args.batch_size,
                    "grad_accum": 1,
                    "max_steps": args.steps,
                    "warmup_steps": args.steps // 10,
                    "lr": args.lr,
                    "eval_interval": args.steps // 4,
                    "eval_batches": 8,
                    "checkpoint_interval": 10 * args.steps,
                    "log_interval": 10 * args.steps,
                    "compile": args.compile,
                },
            )
            curves[value] = train(args.tokens, config, log=lambda line: None)
        last, speed = curves[value][-1], sorted(r["tokens_per_s"] for r in curves[value])[args.steps // 2]
        print(f"{name}={value}: final loss {last['loss']:.4f}, val {last['val_loss']:.4f}, "
              f"median {speed:,} tokens/s", flush=True)  # fmt: skip

    a, b = curves.values()
    print(f"{'step':>6} " + " ".join(f"{v:>12}" for v in curves) + "   difference")
    for ra, rb in zip(a, b):
        if ra["step"] % args.every == 0 or "val_loss" in ra:
            val = f"   val {ra['val_loss']:.4f} vs {rb['val_loss']:.4f}" if "val_loss" in ra else ""
            print(f"{ra['step']:>6} {ra['loss']:>12.4f} {rb['loss']:>12.4f} {rb['loss'] - ra['loss']:+12.4f}{val}")
    # Single steps are noisy; compare means over windows of `every` steps.
    windows = [
        (sum(r["loss"] for r in b[i : i + args.every]) - sum(r["loss"] for r in a[i : i + args.every])) / args.every
        for i in range(0, len(a), args.every)
    ]
    print(f"largest gap between {args.every}-step means: {max(windows, key=abs):+.4f}; "
          f"last window: {windows[-1]:+.4f}")  # fmt: skip


if __name__ == "__main__":
    main()

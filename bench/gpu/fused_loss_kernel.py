"""The fused loss kernel alone (webcorpus/train/kernels/fused_loss.py): correctness against float64, then speed.

    python bench/gpu/fused_loss_kernel.py [--rows 65536] [--vocab 50304]

Checks the loss and the gradient written over the logits against a float64 reference for a few row
lengths and each variant (columns per step, columns sharing running statistics, warps, loop unrolling),
then times each on a GPT-2-sized batch of logits and prints the
memory bandwidth it reaches (one read and one write of the logits is the least any version can move).
"""

from __future__ import annotations

import argparse

import torch
import triton

from webcorpus.train.kernels import fused_loss

VARIANTS = {  # name: (BLOCK, GROUP, WARPS, UNROLL); the first is the default in fused_loss.py
    "8192/8 x16 unroll 2": (8192, 8, 16, 2),
    "8192/1 x32 unroll 2": (8192, 1, 32, 2),
    "8192/8 x32 unroll 2": (8192, 8, 32, 2),
    "8192/4 x16 unroll 2": (8192, 4, 16, 2),
    "8192/1 x16 unroll 3": (8192, 1, 16, 3),
    "8192/1 x16": (8192, 1, 16, 1),
    "4096/1 x16": (4096, 1, 16, 1),
    "16384/16 x32 unroll 2": (16384, 16, 32, 2),
}


def use(variant: str) -> None:
    fused_loss.BLOCK, fused_loss.GROUP, fused_loss.WARPS, fused_loss.UNROLL = VARIANTS[variant]


def run(variant, logits, targets, losses):
    use(variant)
    fused_loss.cross_entropy_rows(logits, targets, losses, write_grad=True)


def check(variant: str, rows: int, cols: int) -> tuple[float, float]:
    logits = (torch.randn(rows, cols, device="cuda") * 4).to(torch.bfloat16)
    targets = torch.randint(0, cols, (rows,), device="cuda")
    exact = logits.double()
    ref_loss = torch.nn.functional.cross_entropy(exact, targets, reduction="none")
    ref_grad = (torch.softmax(exact, -1) - torch.nn.functional.one_hot(targets, cols).double()) / rows
    losses = torch.full((rows,), float("nan"), device="cuda")
    run(variant, logits, targets, losses)
    loss_error = float((losses.double() - ref_loss).norm() / ref_loss.norm())
    grad_error = float((logits.double() - ref_grad).norm() / ref_grad.norm())
    return loss_error, grad_error


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=65_536)
    parser.add_argument("--vocab", type=int, default=50_304)
    args = parser.parse_args()
    torch.manual_seed(0)
    print(torch.cuda.get_device_name(), f"torch {torch.__version__}, triton {triton.__version__}")
    working = []
    for variant in VARIANTS:
        try:
            checks = [(cols, *check(variant, 512, cols)) for cols in (1024, 50_304, 65_536)]
        except Exception as error:  # a variant Triton cannot build is reported, not fatal
            print(f"check {variant:<20} failed: {type(error).__name__}: {str(error)[:200]}")
            continue
        for cols, loss_error, grad_error in checks:
            verdict = "ok" if loss_error < 1e-5 and grad_error < 1e-2 else "WRONG"
            errors = f"loss error {loss_error:.1e}, grad error {grad_error:.1e}"
            print(f"check {variant:<20} {cols:>6} columns: {errors} {verdict}")
        working.append(variant)

    logits = (torch.randn(args.rows, args.vocab, device="cuda") * 4).to(torch.bfloat16)
    targets = torch.randint(0, args.vocab, (args.rows,), device="cuda")
    losses = torch.empty(args.rows, device="cuda")
    least_bytes = 2 * logits.numel() * logits.element_size()
    results = {}
    for variant in working:
        ms = triton.testing.do_bench(
            lambda variant=variant: run(variant, logits, targets, losses), warmup=200, rep=1000, return_mode="median"
        )
        results[variant] = ms
        print(f"{variant:<20} {ms:6.2f} ms, {least_bytes / ms / 1e9:5.2f} TB/s (one read + one write)", flush=True)
    best = min(results, key=results.get)
    first = next(iter(VARIANTS))
    print(f"fastest: {best}, {results[first] / results[best]:.2f}x the '{first}' kernel")


if __name__ == "__main__":
    main()

"""Every matrix product of one gpt2-124m training step, timed alone through torch (cuBLAS), on a GPU.

    python bench/gpu/gemm_shapes.py [--rows 131072]

For each layer's product (forward, gradient of the input, gradient of the weight, in the layouts
autograd uses) it prints the time, TFLOP/s, and the time of the whole step's share (x 12 layers, or x 1
for the head), once through torch's default BLAS and once with cuBLASLt preferred. Where a shape runs far
under the rate of a large square product, that product is where a step loses time.
"""

from __future__ import annotations

import argparse
import sys

import torch

WIDTH, LAYERS, VOCAB = 768, 12, 50_304


def products(rows: int) -> list[tuple[str, int, tuple[int, int], tuple[int, int], bool, bool]]:
    """(name, count per step, a's shape, b's shape, a transposed, b transposed) as autograd calls them."""
    shapes = {"qkv": 3 * WIDTH, "proj": WIDTH, "up": 4 * WIDTH, "down": WIDTH, "head": VOCAB}
    inputs = {"qkv": WIDTH, "proj": WIDTH, "up": WIDTH, "down": 4 * WIDTH, "head": WIDTH}
    out = []
    for name, n in shapes.items():
        k = inputs[name]
        count = 1 if name == "head" else LAYERS
        out.append((f"{name} forward   x @ W.T", count, (rows, k), (n, k), False, True))
        out.append((f"{name} grad x    g @ W", count, (rows, n), (n, k), False, False))
        out.append((f"{name} grad W    g.T @ x", count, (rows, n), (rows, k), True, False))
    return out


TILINGS = [
    {"BM": 128, "BN": 256, "SPLIT": 2, "WS": True},
    {"BM": 128, "BN": 256, "SPLIT": 2, "WS": False},
    {"BM": 128, "BN": 256, "SPLIT": 4, "WS": True},
    {"BM": 128, "BN": 128, "SPLIT": 2, "PER_SM": 2, "WS": True},
    {"BM": 128, "BN": 128, "SPLIT": 1, "PER_SM": 2, "WS": False},
]


def ms(fn) -> float:
    """Median time of fn in milliseconds, by CUDA events."""
    import triton

    return triton.testing.do_bench(fn, warmup=50, rep=300, return_mode="median")


def triton_products(rows: int) -> None:
    """fused_linear.py's persistent product (nothing fused) on the forward and input-gradient shapes."""
    from webcorpus.train.kernels import fused_linear as fl

    bf = dict(device="cuda", dtype=torch.bfloat16)
    for name, _, a_shape, b_shape, a_t, b_t in products(rows):
        if a_t:
            continue  # weight gradients need a transposed first operand, which the kernel does not take
        a, b = torch.randn(*a_shape, **bf), torch.randn(*b_shape, **bf)
        want = a @ (b.t() if b_t else b)
        flops = 2 * want.shape[0] * want.shape[1] * a.shape[1]
        cells = []
        for tiling in TILINGS:
            config = dict(fl.CONFIGS["plain"], **tiling)

            def run(config=config, a=a, b=b, b_t=b_t):
                return fl.matmul(a, b, config, b_kn=not b_t)

            try:
                got, ref = run()[:4096].float(), want[:4096].float()  # a slice: the head's logits are 13 GB
                error = float((got - ref).norm() / ref.norm())
                took = ms(run)
                cells.append(f"{took:7.3f} ({flops / took / 1e9:4.0f}{'!' if error > 1e-2 else ''})")
            except Exception as failure:  # a tiling that does not compile or fit
                cells.append(f"failed {type(failure).__name__}")
        print(f"triton {name:<26} " + "  ".join(cells), flush=True)
        del a, b, want


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=131_072, help="tokens per micro-batch (128 x 1024)")
    parser.add_argument("--triton", action="store_true", help="also fused_linear.py's plain product in a few tilings")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        sys.exit("bench/gpu/gemm_shapes.py needs a CUDA GPU")

    bf = dict(device="cuda", dtype=torch.bfloat16)
    print(f"{torch.cuda.get_device_name()}, torch {torch.__version__}, rows {args.rows}")
    square = torch.randn(8192, 8192, **bf)
    libraries = ["cublas", "cublaslt"]
    totals = dict.fromkeys(libraries, 0.0)
    for library in libraries:
        torch.backends.cuda.preferred_blas_library(library)
        took = ms(lambda: square @ square)
        print(f"{library}: 8192^3 product {took:.3f} ms, {2 * 8192**3 / took / 1e9:.0f} TFLOP/s")
    header = "  ".join(f"{lib + ' ms':>12} {'TFLOP/s':>7} {'step ms':>7}" for lib in libraries)
    print(f"{'product':<26} {'count':>5}  {header}")
    for name, count, a_shape, b_shape, a_t, b_t in products(args.rows):
        a, b = torch.randn(*a_shape, **bf), torch.randn(*b_shape, **bf)
        a_op, b_op = (a.t() if a_t else a), (b.t() if b_t else b)
        flops = 2 * a_op.shape[0] * a_op.shape[1] * b_op.shape[1]
        cells = []
        for library in libraries:
            torch.backends.cuda.preferred_blas_library(library)
            took = ms(lambda a=a_op, b=b_op: a @ b)
            totals[library] += took * count
            cells.append(f"{took:12.3f} {flops / took / 1e9:7.0f} {took * count:7.2f}")
        print(f"{name:<26} {count:>5}  " + "  ".join(cells), flush=True)
        del a, b
    if args.triton:
        triton_products(args.rows)
    print("whole step's products: " + ", ".join(f"{lib} {ms:.1f} ms" for lib, ms in totals.items()))


if __name__ == "__main__":
    main()

"""webcorpus/train/pingpong.py's Gluon ping-pong product with nothing fused, against cuBLAS, on the products of
a gpt2-124m step (most with 768 as their inner dimension), on a GPU.

    python bench/pingpong_gemm.py [--rows 131072]   # on an H100/H200: check each result, then time it
    python bench/pingpong_gemm.py --compile         # without a GPU: compile for sm_90, report registers

The trainer uses the kernel only with the MLP's epilogues (GELU, and its slope in the backward), where
hiding the epilogue behind the other consumer's multiply-adds pays; this script shows why not for the
plain products. What it showed on the H100 (2026-11-23, rows 131,072; ms, TFLOP/s in brackets, four
stages, an earlier copy of the kernel in this file): correct everywhere (bf16 rounding), but no faster
than cuBLAS. proj forward ping-pong 0.258 (600) vs cuBLAS 0.226 (683); qkv forward 0.769 (603) vs 0.751
(618); up forward 1.015 (610) vs 0.977 (633); down grad x 0.996 (621) vs 1.031 (600); qkv grad x 0.764
(607) vs 0.701 (661); head forward 16.73 (605, five stages) vs 15.63 (648). With one consumer (no turns,
the epilogue not hidden) it ran as fast (0.261, 0.775, 1.011, 1.014, 0.755): for a plain product the
epilogue is not what these tiles lack. A warpgroup cannot hold a 128 x 256 float32 accumulator, so each
consumer works on 128 x 128, which reads a third more operand bytes per multiply-add from L2 than a
128 x 256 tile; cuBLAS shares operands across a cluster of two CTAs (TMA multicast), which Gluon 3.6
does not expose on Hopper.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path[0] = str(Path(__file__).resolve().parent.parent)  # bench/tokenize.py would shadow the standard library's

import torch  # noqa: E402

from webcorpus.train import pingpong  # noqa: E402

if pingpong.gluon is None:
    sys.exit("bench/pingpong_gemm.py needs Triton with Gluon (3.6; torch's CUDA wheels bring it)")
import triton  # noqa: E402

VARIANTS = {  # name: changes to pingpong.SETTINGS
    "ping-pong": {},
    "ping-pong, GROUP_M 16": {"GROUP_M": 16},
    "ping-pong, 4 stages": {"STAGES": 4},
}
SHAPES = {  # name: (K, N, b given as (K, N)) for a (rows, K) first operand
    "proj forward": (768, 768, False),
    "qkv forward": (768, 2304, False),
    "up forward": (768, 3072, False),
    "down grad x": (768, 3072, True),
    "qkv grad x": (2304, 768, True),
    "head forward": (768, 50_304, False),
}


def compile_only() -> None:
    """Each epilogue and variant compiled for sm_90 on this machine: shared memory, wgmma count, registers
    and spills."""
    import subprocess
    import tempfile

    from triton.backends.compiler import GPUTarget
    from triton.backends.nvidia.compiler import get_ptxas
    from triton.experimental.gluon._runtime import GluonASTSource
    from triton.runtime.jit import mangle_type

    kernels = [(epilogue, {}) for epilogue in ("plain", "gelu", "gelu_grad")] + list(VARIANTS.items())[1:]
    kernels += [("gelu, row scale", {}), ("gelu_grad, row scale", {})]
    for name, changes in kernels:
        epilogue = name.split(",")[0] if name.startswith(("plain", "gelu")) else "plain"
        b_kn = epilogue == "gelu_grad"
        blocks, constants, options = pingpong.signature(epilogue, b_kn, changes, "row scale" in name)
        descs = [pingpong.descriptor(torch.empty(1024, 768, dtype=torch.bfloat16), block) for block in blocks]
        names = ["a_desc", "b_desc", "c_desc", "d_desc", "aux_desc"]
        consts = dict(constants, NUM_PROGRAMS=132)
        signature = {**{n: mangle_type(d) for n, d in zip(names, descs)}, "scale": "*fp32", "M": "i32", "N": "i32",
                     "K": "i32", **dict.fromkeys(consts, "constexpr")}  # fmt: skip
        kernel = triton.compile(
            GluonASTSource(pingpong._pingpong_matmul, signature, constexprs=consts), target=GPUTarget("cuda", 90, 32),
            options=options,
        )  # fmt: skip
        with tempfile.NamedTemporaryFile("w", suffix=".ptx") as ptx:
            ptx.write(kernel.asm["ptx"])
            ptx.flush()
            ptxas = get_ptxas(90)
            report = subprocess.run([getattr(ptxas, "path", ptxas), "-v", "--gpu-name", "sm_90a", ptx.name, "-o",
                                     "/dev/null"], capture_output=True, text=True).stderr  # fmt: skip
        usage = [
            line.split(":", 1)[-1].strip() for line in report.splitlines() if "spill" in line or "registers" in line
        ]
        print(f"{name:<24} shared memory {kernel.metadata.shared} B, {kernel.asm['ptx'].count('wgmma.mma_async')} "
              f"wgmma, {'; '.join(usage)}")  # fmt: skip


def ms(fn) -> float:
    return triton.testing.do_bench(fn, warmup=30, rep=200, return_mode="median")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=131_072, help="tokens per micro-batch (128 x 1024)")
    parser.add_argument("--compile", action="store_true", help="compile for sm_90 only (no GPU needed)")
    args = parser.parse_args()
    if args.compile:
        return compile_only()
    if not torch.cuda.is_available() or torch.cuda.get_device_capability()[0] != 9:
        sys.exit("bench/pingpong_gemm.py needs a Hopper GPU (H100, H200); --compile runs without one")
    print(f"{torch.cuda.get_device_name()}, torch {torch.__version__}, triton {triton.__version__}, rows {args.rows}")
    for name, (k, n, b_kn) in SHAPES.items():
        print(f"{name:<13} " + " | ".join(time_shape(args.rows, k, n, b_kn)), flush=True)


def time_shape(rows: int, k: int, n: int, b_kn: bool) -> list[str]:
    """cuBLAS and each variant on one shape: ms and TFLOP/s, WRONG where a result is off."""
    bf = dict(device="cuda", dtype=torch.bfloat16)
    a = torch.randn(rows, k, **bf)
    b = torch.randn(k, n, **bf) if b_kn else torch.randn(n, k, **bf)
    operand = b if b_kn else b.t()
    flops = 2 * rows * n * k
    want = a[:2048].float() @ operand.float()
    took = ms(lambda: a @ operand)
    cells = [f"cuBLAS {took:.3f} ({flops / took / 1e9:.0f})"]
    for variant, changes in VARIANTS.items():

        def run(changes=changes):
            return pingpong.plain(a, b, b_kn, changes)

        error = float((run()[:2048].float() - want).norm() / want.norm())
        took = ms(run)
        cells.append(f"{variant} {took:.3f} ({flops / took / 1e9:.0f}){' WRONG' if error > 1e-2 else ''}")
    return cells


if __name__ == "__main__":
    main()

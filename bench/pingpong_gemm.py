"""A persistent ping-pong matrix product for Hopper written in Gluon, against cuBLAS, on the products of a
gpt2-124m step whose inner dimension is 768 (where cuBLAS and fused_linear.py's Triton kernel both reach
only ~600-650 TFLOP/s, against ~740 for an 8192^3 product), on a GPU.

    python bench/pingpong_gemm.py [--rows 131072]   # on an H100/H200: check each result, then time it
    python bench/pingpong_gemm.py --compile         # without a GPU: compile for sm_90, report registers

Why: with 768-deep products each 128 x 256 output tile takes only 12 steps of multiply-adds, so the
tile's epilogue (convert, store) and its pipeline ramp are a large share of its time. A ping-pong
kernel (CUTLASS's "KernelTmaWarpSpecializedPingpong") gives two consumer warpgroups their own output
tiles and lets them take turns: one multiplies while the other stores. One loader warp feeds both from
one ring of shared-memory stages by TMA. Gluon (triton.experimental.gluon, in Triton 3.6) exposes the
pieces: warp_specialize, mbarriers, TMA, wgmma.

What it showed on the H100 (2026-11-23, rows 131,072, this script; ms, TFLOP/s in brackets): correct
everywhere (bf16 rounding), but no faster than cuBLAS or fused_linear.py's Triton kernel. proj forward
ping-pong 0.258 (600) vs cuBLAS 0.226 (683); qkv forward 0.769 (603) vs 0.751 (618); up forward 1.015
(610) vs 0.977 (633); down grad x 0.996 (621) vs 1.031 (600); qkv grad x 0.764 (607) vs 0.701 (661);
head forward 16.73 (605, five stages) vs 15.63 (648). With one consumer (no turns, the epilogue not
hidden) it runs as fast (0.261, 0.775, 1.011, 1.014, 0.755): hiding the epilogue is not what these
tiles lack. A warpgroup cannot hold a 128 x 256 float32 accumulator, so each consumer works on 128 x 128,
which reads a third more operand bytes per multiply-add from L2 than a 128 x 256 tile; cuBLAS shares
operands across a cluster of two CTAs (TMA multicast), where a next attempt would go. Not used by the
trainer.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path[0] = str(Path(__file__).resolve().parent.parent)  # bench/tokenize.py would shadow the standard library's

import torch  # noqa: E402

try:
    import triton
    from triton.experimental import gluon
    from triton.experimental.gluon import language as gl
    from triton.experimental.gluon.language.nvidia.hopper import (
        fence_async_shared,
        mbarrier,
        tma,
        warpgroup_mma,
        warpgroup_mma_wait,
    )
    from triton.experimental.gluon.nvidia.hopper import TensorDescriptor

    from webcorpus.train.fused_linear import tile_position  # the same tile order as the Triton kernel
except ImportError as missing:
    sys.exit(f"bench/pingpong_gemm.py needs Triton with Gluon (3.6; torch's CUDA wheels bring it): {missing}")


@gluon.jit
def tile_counts(a_desc, c_desc, M, N, K):
    """Row tiles, column tiles, and steps along K of the product."""
    BM: gl.constexpr = a_desc.block_type.shape[0]
    BK: gl.constexpr = a_desc.block_type.shape[1]
    BN: gl.constexpr = c_desc.block_type.shape[1]
    return gl.cdiv(M, BM), gl.cdiv(N, BN), gl.cdiv(K, BK)


# Both partitions below take the same arguments (Gluon asks that of worker partitions): the descriptors,
# the shared-memory ring (a_bufs, b_bufs, with `ready` and `empty` barriers per stage), each consumer's
# epilogue buffer, the turn-taking barriers, the sizes, then constants. WHICH says which consumer.
@gluon.jit
def _loader(a_desc, b_desc, c_desc, a_bufs, b_bufs, ready, empty, c_bufs, order, M, N, K,
            WHICH: gl.constexpr, B_KN: gl.constexpr, GROUP_M: gl.constexpr, NUM_PROGRAMS: gl.constexpr,
            CONSUMERS: gl.constexpr):  # fmt: skip
    """Every tile of this program in order, every k step of each, into the next free stage."""
    BM: gl.constexpr = a_desc.block_type.shape[0]
    BK: gl.constexpr = a_desc.block_type.shape[1]
    BN: gl.constexpr = c_desc.block_type.shape[1]
    num_pid_m, num_pid_n, k_tiles = tile_counts(a_desc, c_desc, M, N, K)
    slot = 0
    for tile in range(gl.program_id(0), num_pid_m * num_pid_n, NUM_PROGRAMS):
        pid_m, pid_n = tile_position(tile, num_pid_m, num_pid_n, GROUP_M)
        for k in range(k_tiles):
            s = slot % a_bufs.shape[0]
            mbarrier.wait(empty.index(s), ((slot // a_bufs.shape[0]) & 1) ^ 1)  # a fresh barrier passes phase 1
            bar = ready.index(s)
            mbarrier.expect(bar, a_desc.block_type.nbytes + b_desc.block_type.nbytes)
            tma.async_copy_global_to_shared(a_desc, [pid_m * BM, k * BK], bar, a_bufs.index(s))
            if B_KN:
                tma.async_copy_global_to_shared(b_desc, [k * BK, pid_n * BN], bar, b_bufs.index(s))
            else:
                tma.async_copy_global_to_shared(b_desc, [pid_n * BN, k * BK], bar, b_bufs.index(s))
            slot += 1


@gluon.jit
def _consumer(a_desc, b_desc, c_desc, a_bufs, b_bufs, ready, empty, c_bufs, order, M, N, K,
              WHICH: gl.constexpr, B_KN: gl.constexpr, GROUP_M: gl.constexpr, NUM_PROGRAMS: gl.constexpr,
              CONSUMERS: gl.constexpr):  # fmt: skip
    """One warpgroup: every CONSUMERS-th tile of this program, multiply-adds then its store."""
    BM: gl.constexpr = a_desc.block_type.shape[0]
    BN: gl.constexpr = c_desc.block_type.shape[1]
    STAGES: gl.constexpr = a_bufs.shape[0]
    layout: gl.constexpr = gl.NVMMADistributedLayout(version=[3, 0], warps_per_cta=[4, 1], instr_shape=[16, BN, 16])
    num_pid_m, num_pid_n, k_tiles = tile_counts(a_desc, c_desc, M, N, K)
    c_smem = c_bufs.index(WHICH)
    local = WHICH  # the tile's place in the loader's order, so its first stage is local * k_tiles
    for tile in range(gl.program_id(0) + WHICH * NUM_PROGRAMS, num_pid_m * num_pid_n, CONSUMERS * NUM_PROGRAMS):
        pid_m, pid_n = tile_position(tile, num_pid_m, num_pid_n, GROUP_M)
        slot = local * k_tiles
        acc = gl.zeros((BM, BN), gl.float32, layout)
        if CONSUMERS == 2:
            # Wait for the other consumer to have issued its previous tile's multiply-adds: turns keep the
            # tensor cores on one tile at a time, and no consumer waits on a stage two phases ahead.
            mbarrier.wait(order.index(WHICH), ((local // 2) & 1) ^ (WHICH ^ 1))
        for k in range(k_tiles):
            s = slot % STAGES
            mbarrier.wait(ready.index(s), (slot // STAGES) & 1)
            if B_KN:
                b = b_bufs.index(s)
            else:
                b = b_bufs.index(s).permute((1, 0))  # wgmma reads the (N, K) tile as (K, N)
            acc = warpgroup_mma(a_bufs.index(s), b, acc, is_async=True)
            acc = warpgroup_mma_wait(num_outstanding=1, deps=(acc,))  # the previous step's stage is free
            mbarrier.arrive(empty.index((slot + STAGES - 1) % STAGES), count=1, pred=k > 0)
            slot += 1
        if CONSUMERS == 2:
            mbarrier.arrive(order.index(1 - WHICH), count=1)
        acc = warpgroup_mma_wait(num_outstanding=0, deps=(acc,))
        mbarrier.arrive(empty.index((slot + STAGES - 1) % STAGES), count=1)
        tma.store_wait(pendings=0)  # this consumer's previous store has left c_smem
        c_smem.store(acc.to(c_desc.dtype))
        fence_async_shared()
        tma.async_copy_shared_to_global(c_desc, [pid_m * BM, pid_n * BN], c_smem)
        local += CONSUMERS
    tma.store_wait(pendings=0)


@gluon.jit
def _pingpong_matmul(a_desc, b_desc, c_desc, M, N, K, B_KN: gl.constexpr, GROUP_M: gl.constexpr,
                     NUM_PROGRAMS: gl.constexpr, STAGES: gl.constexpr, CONSUMERS: gl.constexpr):  # fmt: skip
    dtype: gl.constexpr = a_desc.dtype
    a_bufs = gl.allocate_shared_memory(dtype, [STAGES] + a_desc.block_type.shape, a_desc.layout)
    b_bufs = gl.allocate_shared_memory(dtype, [STAGES] + b_desc.block_type.shape, b_desc.layout)
    c_bufs = gl.allocate_shared_memory(c_desc.dtype, [2] + c_desc.block_type.shape, c_desc.layout)
    ready = gl.allocate_shared_memory(gl.int64, [STAGES, 1], mbarrier.MBarrierLayout())
    empty = gl.allocate_shared_memory(gl.int64, [STAGES, 1], mbarrier.MBarrierLayout())
    order = gl.allocate_shared_memory(gl.int64, [2, 1], mbarrier.MBarrierLayout())
    for i in gl.static_range(STAGES):
        mbarrier.init(ready.index(i), count=1)
        mbarrier.init(empty.index(i), count=1)
    for i in gl.static_range(2):
        mbarrier.init(order.index(i), count=1)
    FIRST: gl.constexpr = 0
    SECOND: gl.constexpr = 1
    # The arguments written out in each call: a tuple held in a variable loses its constants' constexpr-ness.
    # Registers: a consumer's 128 x 128 float32 accumulator is 128 per thread; the loader needs few.
    if CONSUMERS == 2:
        gl.warp_specialize([
            (_consumer, (a_desc, b_desc, c_desc, a_bufs, b_bufs, ready, empty, c_bufs, order, M, N, K, FIRST, B_KN,
                         GROUP_M, NUM_PROGRAMS, CONSUMERS)),
            (_consumer, (a_desc, b_desc, c_desc, a_bufs, b_bufs, ready, empty, c_bufs, order, M, N, K, SECOND, B_KN,
                         GROUP_M, NUM_PROGRAMS, CONSUMERS)),
            (_loader, (a_desc, b_desc, c_desc, a_bufs, b_bufs, ready, empty, c_bufs, order, M, N, K, SECOND, B_KN,
                       GROUP_M, NUM_PROGRAMS, CONSUMERS)),
        ], [4, 1], [232, 24])  # fmt: skip
    else:
        gl.warp_specialize([
            (_consumer, (a_desc, b_desc, c_desc, a_bufs, b_bufs, ready, empty, c_bufs, order, M, N, K, FIRST, B_KN,
                         GROUP_M, NUM_PROGRAMS, CONSUMERS)),
            (_loader, (a_desc, b_desc, c_desc, a_bufs, b_bufs, ready, empty, c_bufs, order, M, N, K, SECOND, B_KN,
                       GROUP_M, NUM_PROGRAMS, CONSUMERS)),
        ], [1], [24])  # fmt: skip


def descriptors(a: torch.Tensor, b: torch.Tensor, c: torch.Tensor, BM: int, BN: int, BK: int, b_kn: bool):
    layout = gl.NVMMASharedLayout.get_default_for
    b_block = [BK, BN] if b_kn else [BN, BK]
    return (
        TensorDescriptor.from_tensor(a, [BM, BK], layout([BM, BK], gl.bfloat16)),
        TensorDescriptor.from_tensor(b, b_block, layout(b_block, gl.bfloat16)),
        TensorDescriptor.from_tensor(c, [BM, BN], layout([BM, BN], gl.bfloat16)),
    )


# Launch settings: 4 warps per consumer, the loader 1 warp and the fewest registers, and a register budget
# (maxnreg) that lets the three partitions (12 warps once rounded to warpgroups) share the register file.
SETTINGS = {"BM": 128, "BN": 128, "BK": 64, "STAGES": 4, "GROUP_M": 8, "CONSUMERS": 2, "maxnreg": 168}


def matmul(a: torch.Tensor, b: torch.Tensor, b_kn: bool = False, **changes) -> torch.Tensor:
    """a @ b.T (b given as (N, K)), or a @ b with b_kn (b given as (K, N)); bf16 in and out."""
    s = dict(SETTINGS, **changes)
    M, K = a.shape
    N = b.shape[1] if b_kn else b.shape[0]
    c = a.new_empty(M, N)
    programs = torch.cuda.get_device_properties(a.device).multi_processor_count
    _pingpong_matmul[(programs,)](
        *descriptors(a, b, c, s["BM"], s["BN"], s["BK"], b_kn), M, N, K, B_KN=b_kn, GROUP_M=s["GROUP_M"],
        NUM_PROGRAMS=programs, STAGES=s["STAGES"], CONSUMERS=s["CONSUMERS"], num_warps=4, maxnreg=s["maxnreg"],
    )  # fmt: skip
    return c


VARIANTS = {  # name: changes to SETTINGS
    "ping-pong": {},
    "ping-pong, GROUP_M 16": {"GROUP_M": 16},
    "ping-pong, 5 stages": {"STAGES": 5},
    "one consumer": {"CONSUMERS": 1},
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
    """Each variant compiled for sm_90 on this machine: shared memory, wgmma count, registers and spills."""
    import subprocess
    import tempfile

    from triton.backends.compiler import GPUTarget
    from triton.backends.nvidia.compiler import get_ptxas
    from triton.experimental.gluon._runtime import GluonASTSource
    from triton.runtime.jit import mangle_type

    for name, changes in VARIANTS.items():
        s = dict(SETTINGS, **changes)
        a, b, c = (torch.empty(1024, 768, dtype=torch.bfloat16) for _ in range(3))
        descs = descriptors(a, b, c, s["BM"], s["BN"], s["BK"], False)
        consts = {
            "B_KN": False,
            "GROUP_M": s["GROUP_M"],
            "NUM_PROGRAMS": 132,
            "STAGES": s["STAGES"],
            "CONSUMERS": s["CONSUMERS"],
        }
        signature = {"a_desc": mangle_type(descs[0]), "b_desc": mangle_type(descs[1]), "c_desc": mangle_type(descs[2]),
                     "M": "i32", "N": "i32", "K": "i32", **dict.fromkeys(consts, "constexpr")}  # fmt: skip
        kernel = triton.compile(
            GluonASTSource(_pingpong_matmul, signature, constexprs=consts), target=GPUTarget("cuda", 90, 32),
            options={"num_warps": 4, "maxnreg": s["maxnreg"]},
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
            return matmul(a, b, b_kn, **changes)

        error = float((run()[:2048].float() - want).norm() / want.norm())
        took = ms(run)
        cells.append(f"{variant} {took:.3f} ({flops / took / 1e9:.0f}){' WRONG' if error > 1e-2 else ''}")
    return cells


if __name__ == "__main__":
    main()

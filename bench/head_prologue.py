"""The head's backward without a gradient pass over the logits: softmax made inside the products.

    python bench/head_prologue.py [--rows 131072] [--sweep]   # Triton kernels for both gradients
    python bench/head_prologue.py --gluon                     # a warp-specialised Gluon input gradient

Today (fused_loss.py) one kernel reads each row of logits twice (log-sum-exp, then the gradient) and
overwrites it with its gradient, and cuBLAS takes the two products of the backward from that buffer:
13 GB read and 13 GB written at micro-batch 128. Here the loss kernel only reads (it keeps each row's
log-sum-exp), and each backward product turns the logits tile it loads into softmax - one_hot before the
multiply, so the 13 GB write and its second read go. It prints both ways' times and checks the
gradients against today's.

What it showed on the H100 (2026-11-23, 131,072 rows; not used by the trainer): today's way takes 11.1
ms (loss kernel) + 13.6 (input gradient) + 13.8 (weight gradient) = 38.4 ms; the read-only loss kernel
6.2 ms, so the two products had 32.1 ms between them to break even. Triton: 24.2 and 27.7 ms (419 and
365 TFLOP/s), because its products with a computed first operand store that operand to shared memory
and back, and ptxas serialises their wgmma. Gluon, with the softmax in a partition of its own (four
warps, which also issue the logits' loads) and two consumer warpgroups on a 128 x 256 tile: 24.0 ms at
best. With the multiply-adds skipped (the variant with SKIP 2) it still took 17.1 ms, and with both the
softmax and the multiply-adds skipped 17.6: the loads alone cost more than cuBLAS's whole product.
A 128 x 256 tile without cluster multicast reads (128 + 256) / (128 x 256) bytes of operands per
multiply-add from L2, 119 GB for this product, 6.8 TB/s at 17.6 ms; cuBLAS shares the weight's tiles
across two CTAs by TMA multicast, which Gluon 3.6 does not expose on Hopper.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path[0] = str(Path(__file__).resolve().parent.parent)  # bench/tokenize.py would shadow the standard library's

import torch  # noqa: E402
import triton  # noqa: E402
import triton.language as tl  # noqa: E402
from triton.experimental import gluon  # noqa: E402
from triton.experimental.gluon import language as gl  # noqa: E402
from triton.experimental.gluon.language.nvidia.hopper import (  # noqa: E402
    fence_async_shared,
    mbarrier,
    tma,
    warpgroup_mma,
    warpgroup_mma_wait,
)
from triton.experimental.gluon.nvidia.hopper import TensorDescriptor as GluonDescriptor  # noqa: E402
from triton.tools.tensor_descriptor import TensorDescriptor  # noqa: E402
from webcorpus.train.fused_linear import tile_position  # noqa: E402
from webcorpus.train.pingpong import tile_counts  # noqa: E402  (rows, columns and k steps of a tiled product)

from webcorpus.train import fused_loss  # noqa: E402

LOG2E = 1.4426950408889634


@triton.jit
def _softmax_minus_one_hot(logits, lse2, targets, cols):
    """(softmax - one_hot) of a tile of rows, from the logits and each row's log2-sum-exp2, in the
    logits' type (bf16 on the GPU; float32 in the interpreter, whose bf16 products are wrong)."""
    p = tl.exp2(logits.to(tl.float32) * 1.4426950408889634 - lse2[:, None])
    return (p - tl.where(cols[None, :] == targets[:, None], 1.0, 0.0)).to(logits.dtype)


@triton.jit
def _head_grad_x(logits, w, out, lse2, targets, M, V, N, scale,
                 BM: tl.constexpr, BN: tl.constexpr, BK: tl.constexpr, GROUP_M: tl.constexpr):  # fmt: skip
    """out (M, N) = scale * (softmax - one_hot)(logits (M, V)) @ w (V, N)."""
    pid_m, pid_n = tile_position(tl.program_id(0), tl.cdiv(M, BM), tl.cdiv(N, BN), GROUP_M)
    m0, n0 = pid_m * BM, pid_n * BN
    rows = m0 + tl.arange(0, BM)
    row_lse2 = tl.load(lse2 + rows, mask=rows < M, other=0.0)
    row_target = tl.load(targets + rows, mask=rows < M, other=-1)
    acc = tl.zeros((BM, BN), tl.float32)
    for k in range(0, tl.cdiv(V, BK)):
        cols = k * BK + tl.arange(0, BK)
        p = _softmax_minus_one_hot(logits.load([m0, k * BK]), row_lse2, row_target, cols)
        acc = tl.dot(p, w.load([k * BK, n0]), acc)
    out.store([m0, n0], (acc * scale).to(out.dtype))


@triton.jit
def _head_grad_w(logits, x, out, lse2, targets, M, V, N, scale,
                 BM: tl.constexpr, BN: tl.constexpr, BK: tl.constexpr, GROUP_M: tl.constexpr):  # fmt: skip
    """out (V, N) = scale * (softmax - one_hot)(logits (M, V)).T @ x (M, N); BM vocabulary rows a tile."""
    pid_v, pid_n = tile_position(tl.program_id(0), tl.cdiv(V, BM), tl.cdiv(N, BN), GROUP_M)
    v0, n0 = pid_v * BM, pid_n * BN
    cols = v0 + tl.arange(0, BM)
    acc = tl.zeros((BM, BN), tl.float32)
    for k in range(0, tl.cdiv(M, BK)):
        rows = k * BK + tl.arange(0, BK)
        row_lse2 = tl.load(lse2 + rows, mask=rows < M, other=0.0)
        row_target = tl.load(targets + rows, mask=rows < M, other=-1)
        p = _softmax_minus_one_hot(logits.load([k * BK, v0]), row_lse2, row_target, cols)
        acc = tl.dot(p.T, x.load([k * BK, n0]), acc)
    out.store([v0, n0], (acc * scale).to(out.dtype))


@triton.jit
def _row_lse2(logits, row_stride, targets, losses, lse2, n_cols, BLOCK: tl.constexpr):
    """Each row's loss and log2-sum-exp2 (base 2, as the products' exp2 wants it): one read, no write."""
    row = tl.program_id(0).to(tl.int64)
    base = logits + row * row_stride
    lane_max = tl.full([BLOCK], -1e30, tl.float32)
    lane_sum = tl.zeros([BLOCK], tl.float32)
    for start in tl.range(0, n_cols, BLOCK, loop_unroll_factor=2):
        cols = start + tl.arange(0, BLOCK)
        x = tl.load(base + cols, mask=cols < n_cols, other=float("-inf")).to(tl.float32) * 1.4426950408889634
        new_max = tl.maximum(lane_max, x)
        lane_sum = lane_sum * tl.exp2(lane_max - new_max) + tl.exp2(x - new_max)
        lane_max = new_max
    running_max = tl.max(lane_max, 0)
    row_lse2 = running_max + tl.log2(tl.sum(lane_sum * tl.exp2(lane_max - running_max), 0))
    tl.store(lse2 + row, row_lse2)
    target_logit = tl.load(base + tl.load(targets + row)).to(tl.float32)
    tl.store(losses + row, row_lse2 / 1.4426950408889634 - target_logit)


def row_lse2(logits: torch.Tensor, targets: torch.Tensor, block: int = 8192, warps: int = 32):
    rows, cols = logits.shape
    losses = torch.empty(rows, dtype=torch.float32, device=logits.device)
    lse2 = torch.empty(rows, dtype=torch.float32, device=logits.device)
    _row_lse2[(rows,)](logits, logits.stride(0), targets, losses, lse2, cols, BLOCK=block, num_warps=warps)
    return losses, lse2


def triton_grad(which: str, logits, other, lse2, targets, scale, cfg):
    """which "x": scale * P @ other (the weight, (V, N)); "w": scale * P.T @ other (the input, (M, N))."""
    M, V = logits.shape
    N = other.shape[1]
    BM, BN, BK = cfg["BM"], cfg["BN"], cfg["BK"]
    if which == "x":
        rows, kernel, logits_block, dtype = M, _head_grad_x, [BM, BK], logits.dtype
    else:
        rows, kernel, logits_block, dtype = V, _head_grad_w, [BK, BM], torch.float32
    out = torch.empty(rows, N, dtype=dtype, device=logits.device)
    kernel[(triton.cdiv(rows, BM) * triton.cdiv(N, BN),)](
        TensorDescriptor.from_tensor(logits, logits_block), TensorDescriptor.from_tensor(other, [BK, BN]),
        TensorDescriptor.from_tensor(out, [BM, BN]), lse2, targets, M, V, N, scale, BM=BM, BN=BN, BK=BK,
        GROUP_M=cfg["GROUP_M"], num_warps=cfg["warps"], num_stages=cfg["stages"],
    )  # fmt: skip
    return out


CONFIGS = [
    {"BM": 128, "BN": 256, "BK": 64, "GROUP_M": 8, "warps": 8, "stages": 3},
    {"BM": 128, "BN": 256, "BK": 64, "GROUP_M": 8, "warps": 8, "stages": 4},
    {"BM": 128, "BN": 128, "BK": 64, "GROUP_M": 8, "warps": 8, "stages": 4},
    {"BM": 128, "BN": 128, "BK": 64, "GROUP_M": 8, "warps": 4, "stages": 4},
    {"BM": 64, "BN": 256, "BK": 64, "GROUP_M": 8, "warps": 4, "stages": 4},
    {"BM": 128, "BN": 256, "BK": 32, "GROUP_M": 8, "warps": 8, "stages": 5},
]


# Changes to GLUON_SETTINGS. SKIP, for timing the parts: 1 leaves out the softmax (the logits go into the
# product as they are), 2 the multiply-adds, 3 both; their results are wrong by design.
GLUON_VARIANTS = [
    {},
    {"LSTAGES": 3, "STAGES": 3},
    {"BK": 32, "LSTAGES": 4, "STAGES": 8},
    {"BK": 32, "LSTAGES": 6, "STAGES": 7},
    {"SKIP": 1},
    {"SKIP": 2},
    {"SKIP": 3},
]


# Both partitions take the same arguments (Gluon asks that of workers). Two rings of shared memory:
# logits tiles (l_bufs, LSTAGES deep), loaded and freed by the transformer alone, and per step of the
# product the transformed tile and the weight's (p_bufs, w_bufs, STAGES deep), freed by the consumers.
@gluon.jit
def _tile_of_step(step, k_tiles, num_pid_m, num_pid_n, GROUP_M: gl.constexpr, NUM_PROGRAMS: gl.constexpr):
    """Row and column tile of this program's step `step` (its tiles' k steps laid end to end), and its k."""
    pid_m, pid_n = tile_position(gl.program_id(0) + (step // k_tiles) * NUM_PROGRAMS, num_pid_m, num_pid_n, GROUP_M)
    return pid_m, pid_n, step % k_tiles


@gluon.jit
def _gx_transformer(l_desc, w_desc, l_bufs, p_bufs, w_bufs, l_ready, w_ready, p_ready, empty, out, lse2, targets,
                    M, V, N, scale, WHICH: gl.constexpr, GROUP_M: gl.constexpr, NUM_PROGRAMS: gl.constexpr,
                    SKIP: gl.constexpr):  # fmt: skip
    """softmax - one_hot of each logits tile, into the step's p buffer."""
    BM: gl.constexpr = l_desc.block_type.shape[0]
    BK: gl.constexpr = l_desc.block_type.shape[1]
    LSTAGES: gl.constexpr = l_bufs.shape[0]
    STAGES: gl.constexpr = p_bufs.shape[0]
    layout: gl.constexpr = gl.BlockedLayout([1, 8], [256 // BK, BK // 8], [4, 1], [1, 0])
    num_pid_m, num_pid_n, k_tiles = tile_counts(l_desc, w_desc, M, N, V)
    steps = gl.cdiv(num_pid_m * num_pid_n - gl.program_id(0), NUM_PROGRAMS) * k_tiles
    for step in range(0, gl.minimum(LSTAGES, steps)):
        pid_m, pid_n, k = _tile_of_step(step, k_tiles, num_pid_m, num_pid_n, GROUP_M, NUM_PROGRAMS)
        mbarrier.expect(l_ready.index(step), l_desc.block_type.nbytes)
        tma.async_copy_global_to_shared(l_desc, [pid_m * BM, k * BK], l_ready.index(step), l_bufs.index(step))
    row_lse2 = gl.zeros([BM], gl.float32, gl.SliceLayout(1, layout))
    row_target = gl.zeros([BM], gl.int32, gl.SliceLayout(1, layout))
    for step in range(steps):
        pid_m, pid_n, k = _tile_of_step(step, k_tiles, num_pid_m, num_pid_n, GROUP_M, NUM_PROGRAMS)
        if k == 0:
            rows = pid_m * BM + gl.arange(0, BM, layout=gl.SliceLayout(1, layout))
            row_lse2 = gl.load(lse2 + rows, mask=rows < M, other=0.0)
            row_target = gl.load(targets + rows, mask=rows < M, other=-1).to(gl.int32)
        ls = step % LSTAGES
        mbarrier.wait(l_ready.index(ls), (step // LSTAGES) & 1)
        x = l_bufs.index(ls).load(layout).to(gl.float32)
        gl.thread_barrier()  # every warp has read the tile before the next load overwrites it
        if step + LSTAGES < steps:
            pid_m2, pid_n2, k2 = _tile_of_step(step + LSTAGES, k_tiles, num_pid_m, num_pid_n, GROUP_M, NUM_PROGRAMS)
            mbarrier.expect(l_ready.index(ls), l_desc.block_type.nbytes)
            tma.async_copy_global_to_shared(l_desc, [pid_m2 * BM, k2 * BK], l_ready.index(ls), l_bufs.index(ls))
        cols = k * BK + gl.arange(0, BK, layout=gl.SliceLayout(0, layout))
        if SKIP % 2 == 1:  # timing: no softmax
            p = x
        else:
            p = gl.exp2(x * 1.4426950408889634 - gl.expand_dims(row_lse2, 1))
            hit = gl.expand_dims(cols, 0) == gl.expand_dims(row_target, 1)
            p = gl.where(hit, p - 1.0, p)
        s = step % STAGES
        mbarrier.wait(empty.index(s), ((step // STAGES) & 1) ^ 1)  # a fresh barrier passes phase 1
        p_bufs.index(s).store(p.to(gl.bfloat16))
        fence_async_shared()
        mbarrier.arrive(p_ready.index(s), count=1)


@gluon.jit
def _gx_load_w(l_desc, w_desc, w_bufs, w_ready, empty, step, k_tiles, num_pid_m, num_pid_n,
               GROUP_M: gl.constexpr, NUM_PROGRAMS: gl.constexpr):  # fmt: skip
    BK: gl.constexpr = l_desc.block_type.shape[1]
    BN: gl.constexpr = w_desc.block_type.shape[1]
    STAGES: gl.constexpr = w_bufs.shape[0]
    pid_m, pid_n, k = _tile_of_step(step, k_tiles, num_pid_m, num_pid_n, GROUP_M, NUM_PROGRAMS)
    s = step % STAGES
    mbarrier.wait(empty.index(s), ((step // STAGES) & 1) ^ 1)
    mbarrier.expect(w_ready.index(s), w_desc.block_type.nbytes)
    tma.async_copy_global_to_shared(w_desc, [k * BK, pid_n * BN], w_ready.index(s), w_bufs.index(s))


@gluon.jit
def _gx_consumer(l_desc, w_desc, l_bufs, p_bufs, w_bufs, l_ready, w_ready, p_ready, empty, out, lse2, targets,
                 M, V, N, scale, WHICH: gl.constexpr, GROUP_M: gl.constexpr, NUM_PROGRAMS: gl.constexpr,
                    SKIP: gl.constexpr):  # fmt: skip
    """One warpgroup: rows 64 * WHICH ... + 64 of every tile, then their store. The first also loads the
    weight's tiles, STAGES - 1 steps ahead, once both are done with the step that used the stage."""
    BM: gl.constexpr = l_desc.block_type.shape[0]
    BN: gl.constexpr = w_desc.block_type.shape[1]
    HALF: gl.constexpr = BM // 2
    STAGES: gl.constexpr = p_bufs.shape[0]
    layout: gl.constexpr = gl.NVMMADistributedLayout(version=[3, 0], warps_per_cta=[4, 1], instr_shape=[16, BN, 16])
    num_pid_m, num_pid_n, k_tiles = tile_counts(l_desc, w_desc, M, N, V)
    steps = gl.cdiv(num_pid_m * num_pid_n - gl.program_id(0), NUM_PROGRAMS) * k_tiles
    if WHICH == 0:
        for step in range(0, gl.minimum(STAGES - 1, steps)):
            _gx_load_w(l_desc, w_desc, w_bufs, w_ready, empty, step, k_tiles, num_pid_m, num_pid_n, GROUP_M,
                       NUM_PROGRAMS)  # fmt: skip
    rows = gl.arange(0, HALF, layout=gl.SliceLayout(1, layout))
    cols = gl.arange(0, BN, layout=gl.SliceLayout(0, layout))
    step = 0
    for tile in range(gl.program_id(0), num_pid_m * num_pid_n, NUM_PROGRAMS):
        pid_m, pid_n = tile_position(tile, num_pid_m, num_pid_n, GROUP_M)
        acc = gl.zeros((HALF, BN), gl.float32, layout)
        for k in range(k_tiles):
            s = step % STAGES
            mbarrier.wait(w_ready.index(s), (step // STAGES) & 1)
            mbarrier.wait(p_ready.index(s), (step // STAGES) & 1)
            a = p_bufs.index(s).slice(WHICH * HALF, HALF, dim=0)
            if SKIP < 2:  # timing: no multiply-adds
                acc = warpgroup_mma(a, w_bufs.index(s), acc, is_async=True)
                acc = warpgroup_mma_wait(num_outstanding=1, deps=(acc,))
            mbarrier.arrive(empty.index((step + STAGES - 1) % STAGES), count=1, pred=k > 0)
            if WHICH == 0:
                if step + STAGES - 1 < steps:
                    _gx_load_w(l_desc, w_desc, w_bufs, w_ready, empty, step + STAGES - 1, k_tiles, num_pid_m,
                               num_pid_n, GROUP_M, NUM_PROGRAMS)  # fmt: skip
            step += 1
        acc = warpgroup_mma_wait(num_outstanding=0, deps=(acc,))
        mbarrier.arrive(empty.index((step + STAGES - 1) % STAGES), count=1)
        m = pid_m * BM + WHICH * HALF + rows
        n = pid_n * BN + cols
        offsets = gl.expand_dims(m.to(gl.int64) * N, 1) + gl.expand_dims(n, 0)
        gl.store(out + offsets, (acc * scale).to(gl.bfloat16), mask=gl.expand_dims(m < M, 1))


@gluon.jit
def _gluon_grad_x(l_desc, w_desc, out, lse2, targets, M, V, N, scale, GROUP_M: gl.constexpr,
                 NUM_PROGRAMS: gl.constexpr, LSTAGES: gl.constexpr, STAGES: gl.constexpr, REGS: gl.constexpr,
                 SKIP: gl.constexpr = 0):  # fmt: skip
    l_bufs = gl.allocate_shared_memory(gl.bfloat16, [LSTAGES] + l_desc.block_type.shape, l_desc.layout)
    p_bufs = gl.allocate_shared_memory(gl.bfloat16, [STAGES] + l_desc.block_type.shape, l_desc.layout)
    w_bufs = gl.allocate_shared_memory(gl.bfloat16, [STAGES] + w_desc.block_type.shape, w_desc.layout)
    l_ready = gl.allocate_shared_memory(gl.int64, [LSTAGES, 1], mbarrier.MBarrierLayout())
    w_ready = gl.allocate_shared_memory(gl.int64, [STAGES, 1], mbarrier.MBarrierLayout())
    p_ready = gl.allocate_shared_memory(gl.int64, [STAGES, 1], mbarrier.MBarrierLayout())
    empty = gl.allocate_shared_memory(gl.int64, [STAGES, 1], mbarrier.MBarrierLayout())
    for i in gl.static_range(LSTAGES):
        mbarrier.init(l_ready.index(i), count=1)
    for i in gl.static_range(STAGES):
        mbarrier.init(w_ready.index(i), count=1)
        mbarrier.init(p_ready.index(i), count=1)
        mbarrier.init(empty.index(i), count=2)  # both consumers
    FIRST: gl.constexpr = 0
    SECOND: gl.constexpr = 1
    # The transformer is the default partition: ptxas holds every partition to the launch's register cap
    # (maxnreg), which 12 warps allow at 168.
    gl.warp_specialize([
        (_gx_transformer, (l_desc, w_desc, l_bufs, p_bufs, w_bufs, l_ready, w_ready, p_ready, empty, out, lse2,
                           targets, M, V, N, scale, FIRST, GROUP_M, NUM_PROGRAMS, SKIP)),
        (_gx_consumer, (l_desc, w_desc, l_bufs, p_bufs, w_bufs, l_ready, w_ready, p_ready, empty, out, lse2, targets,
                        M, V, N, scale, FIRST, GROUP_M, NUM_PROGRAMS, SKIP)),
        (_gx_consumer, (l_desc, w_desc, l_bufs, p_bufs, w_bufs, l_ready, w_ready, p_ready, empty, out, lse2, targets,
                        M, V, N, scale, SECOND, GROUP_M, NUM_PROGRAMS, SKIP)),
    ], [4, 4], [REGS, REGS])  # fmt: skip


# Two warpgroups of consumers (REGS registers each) and the transformer's four warps: 12 warps, which
# leaves 168 registers a thread at launch (maxnreg).
GLUON_SETTINGS = {"BM": 128, "BN": 256, "BK": 64, "LSTAGES": 2, "STAGES": 4, "GROUP_M": 8, "maxnreg": 168, "REGS": 208}


def gluon_descriptors(logits, w, s):
    layout = gl.NVMMASharedLayout.get_default_for
    BM, BN, BK = s["BM"], s["BN"], s["BK"]
    return (
        GluonDescriptor.from_tensor(logits, [BM, BK], layout([BM, BK], gl.bfloat16)),
        GluonDescriptor.from_tensor(w, [BK, BN], layout([BK, BN], gl.bfloat16)),
    )


def gluon_grad_x(logits, w, lse2, targets, scale, **changes):
    s = dict(GLUON_SETTINGS, **changes)
    M, V = logits.shape
    N = w.shape[1]
    out = torch.empty(M, N, dtype=torch.bfloat16, device=logits.device)
    programs = torch.cuda.get_device_properties(logits.device).multi_processor_count
    _gluon_grad_x[(programs,)](
        *gluon_descriptors(logits, w, s), out, lse2, targets, M, V, N, scale, GROUP_M=s["GROUP_M"],
        NUM_PROGRAMS=programs, LSTAGES=s["LSTAGES"], STAGES=s["STAGES"], SKIP=s.get("SKIP", 0), REGS=s["REGS"],
        num_warps=4, maxnreg=s["maxnreg"],
    )  # fmt: skip
    return out


def ms(fn) -> float:
    return triton.testing.do_bench(fn, warmup=20, rep=200, return_mode="median")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=131072)
    parser.add_argument("--sweep", action="store_true", help="time every configuration, not only the first")
    parser.add_argument("--gluon", action="store_true", help="the Gluon input gradient instead of Triton's")
    args = parser.parse_args()
    torch.manual_seed(0)
    M, V, N = args.rows, 50304, 768
    bf = dict(device="cuda", dtype=torch.bfloat16)
    x = torch.randn(M, N, **bf)
    w = torch.randn(V, N, **bf) * 0.05  # logits of a few units, as a model's are
    targets = torch.randint(0, V, (M,), device="cuda")
    scale = 1.0 / M
    logits = x @ w.t()

    # Today's way: the loss kernel writes the gradient over the logits, then cuBLAS.
    work = logits.clone()
    losses = torch.empty(M, dtype=torch.float32, device="cuda")
    fused_loss.cross_entropy_rows(work, targets, losses, True)
    want_x, want_w = work @ w, (work.t() @ x).float()
    loss_ms = ms(lambda: fused_loss.cross_entropy_rows(logits.clone(), targets, losses, True))
    clone_ms = ms(lambda: logits.clone())
    gx_ms, gw_ms = ms(lambda: work @ w), ms(lambda: work.t() @ x)
    print(f"today: loss kernel {loss_ms - clone_ms:.2f} ms, grad x {gx_ms:.2f}, grad W {gw_ms:.2f}; "
          f"total {loss_ms - clone_ms + gx_ms + gw_ms:.2f} ms", flush=True)  # fmt: skip
    work = None  # 13 GB

    got_losses, lse2 = row_lse2(logits, targets)
    print(f"loss: max difference {float((got_losses - losses).abs().max()):.2e}", flush=True)
    stats_ms = ms(lambda: row_lse2(logits, targets))
    print(f"read-only loss kernel {stats_ms:.2f} ms", flush=True)
    if args.gluon:
        flops = 2 * M * V * N
        for changes in GLUON_VARIANTS:
            got = gluon_grad_x(logits, w, lse2, targets, scale, **changes)
            error = float((got.float() - want_x.float()).norm() / want_x.float().norm())
            took = ms(lambda changes=changes: gluon_grad_x(logits, w, lse2, targets, scale, **changes))
            print(f"gluon grad x {changes}: {took:6.2f} ms ({flops / took / 1e9:4.0f} TFLOP/s, error {error:.1e})",
                  flush=True)  # fmt: skip
        return
    for cfg in CONFIGS if args.sweep else CONFIGS[:1]:
        cells = []
        for which, other, want in (("x", w, want_x), ("w", x, want_w)):
            name = f"grad {which}"
            try:
                got = triton_grad(which, logits, other, lse2, targets, scale, cfg)
                error = float((got.float() - want.float()).norm() / want.float().norm())
                took = ms(lambda which=which, other=other, cfg=cfg: triton_grad(which, logits, other, lse2, targets,
                                                                                scale, cfg))  # fmt: skip
                flops = 2 * M * V * N
                cells.append(f"{name} {took:6.2f} ms ({flops / took / 1e9:4.0f} TFLOP/s, error {error:.1e})")
            except Exception as failure:
                cells.append(f"{name} failed {type(failure).__name__}: {str(failure)[:200]}")
        print(cfg, " | ".join(cells), flush=True)


if __name__ == "__main__":
    main()

"""A ping-pong matrix product for Hopper GPUs written in Gluon, for the MLP's two fused products.

fused_linear.py's Triton kernel finishes each output tile (GELU, or GELU's slope times the incoming
gradient) after the tile's last multiply-add, so the tensor cores wait while it runs. Here, as in
CUTLASS's "KernelTmaWarpSpecializedPingpong", two consumer warpgroups each own every other output tile
and take turns on the tensor cores: while one multiplies, the other finishes and stores its tile. One
loader warp feeds both from one ring of shared-memory stages by TMA. Gluon (triton.experimental.gluon,
Triton 3.6) exposes those pieces: warp_specialize, mbarriers, TMA and wgmma.

Experimental and opt-in (`kernels: fused_pingpong`, Hopper only): its gain on a training step is small
(measured in docs/training.md), not enough to be the default. A warpgroup cannot hold a 128 x 256 float32
accumulator, so each consumer works on 128 x 128 tiles, which read a third more operand bytes from L2
per multiply-add than cuBLAS's tiles: the plain product alone is no faster than cuBLAS, and the
projection with rotary positions, whose epilogue is lighter, was no faster than the Triton kernel, so it
stays there.

Every epilogue can first multiply each row by a float32 scale (an RMSNorm's, folded in: fused_linear.py's
`gelu_mlp`). Epilogues: "plain" stores the product; "gelu" stores the product rounded to bf16 and GELU of it (both
are needed later); "gelu_grad" multiplies the product by GELU's slope at `aux` (the pre-activation, loaded by
TMA while the multiply-adds run) before storing.
"""

from __future__ import annotations

import torch

try:
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

    from webcorpus.train.kernels.triton_helpers import gelu_gate, gelu_slope, tile_position

    MISSING = ""
except ImportError as error:  # no Triton, or one without Gluon: asking for this kernel is then an error
    gluon = None
    MISSING = str(error)

# Output tiles of BM x BN per consumer, BK deep per stage; 5 stages and both consumers' output buffers
# fill 224 KB of the 227 KB of shared memory. GROUP_M row tiles share each weight tile while it is in L2.
# maxnreg: the three partitions (12 warps, the loader rounded up to a warpgroup) share the register file.
SETTINGS = {"BM": 128, "BN": 128, "BK": 64, "STAGES": 5, "GROUP_M": 8, "maxnreg": 168}


def available() -> bool:
    return gluon is not None


def fits(M: int, N: int, K: int) -> bool:
    """Whole tiles only (the shapes checked on the GPU); other shapes go to the Triton kernel."""
    return gluon is not None and M % SETTINGS["BM"] == 0 and N % SETTINGS["BN"] == 0 and K % SETTINGS["BK"] == 0


if gluon is not None:

    @gluon.jit
    def tile_counts(a_desc, c_desc, M, N, K):
        """Row tiles, column tiles, and steps along K of the product."""
        BM: gl.constexpr = a_desc.block_type.shape[0]
        BK: gl.constexpr = a_desc.block_type.shape[1]
        BN: gl.constexpr = c_desc.block_type.shape[1]
        return gl.cdiv(M, BM), gl.cdiv(N, BN), gl.cdiv(K, BK)

    # Both partitions take the same arguments (Gluon asks that of worker partitions): the descriptors (a,
    # b, the outputs c and d, aux), the shared-memory ring (a_bufs, b_bufs with `ready` and `empty`
    # barriers per stage), each consumer's output buffer and aux barrier, the turn-taking barriers, the
    # sizes, then constants. WHICH says which consumer.
    @gluon.jit
    def _loader(a_desc, b_desc, c_desc, d_desc, aux_desc, a_bufs, b_bufs, ready, empty, c_bufs, aux_ready, order,
                scale, M, N, K, WHICH: gl.constexpr, EPILOGUE: gl.constexpr, B_KN: gl.constexpr,
                GROUP_M: gl.constexpr, NUM_PROGRAMS: gl.constexpr, SCALE: gl.constexpr):  # fmt: skip
        """Every k step of every tile of this program, in order, into the next free stage."""
        BM: gl.constexpr = a_desc.block_type.shape[0]
        BK: gl.constexpr = a_desc.block_type.shape[1]
        BN: gl.constexpr = c_desc.block_type.shape[1]
        STAGES: gl.constexpr = a_bufs.shape[0]
        num_pid_m, num_pid_n, k_tiles = tile_counts(a_desc, c_desc, M, N, K)
        slot = 0
        for tile in range(gl.program_id(0), num_pid_m * num_pid_n, NUM_PROGRAMS):
            pid_m, pid_n = tile_position(tile, num_pid_m, num_pid_n, GROUP_M)
            for k in range(k_tiles):
                s = slot % STAGES
                mbarrier.wait(empty.index(s), ((slot // STAGES) & 1) ^ 1)  # a fresh barrier passes phase 1
                bar = ready.index(s)
                mbarrier.expect(bar, a_desc.block_type.nbytes + b_desc.block_type.nbytes)
                tma.async_copy_global_to_shared(a_desc, [pid_m * BM, k * BK], bar, a_bufs.index(s))
                if B_KN:
                    tma.async_copy_global_to_shared(b_desc, [k * BK, pid_n * BN], bar, b_bufs.index(s))
                else:
                    tma.async_copy_global_to_shared(b_desc, [pid_n * BN, k * BK], bar, b_bufs.index(s))
                slot += 1

    @gluon.jit
    def _consumer(a_desc, b_desc, c_desc, d_desc, aux_desc, a_bufs, b_bufs, ready, empty, c_bufs, aux_ready, order,
                  scale, M, N, K, WHICH: gl.constexpr, EPILOGUE: gl.constexpr, B_KN: gl.constexpr,
                  GROUP_M: gl.constexpr, NUM_PROGRAMS: gl.constexpr, SCALE: gl.constexpr):  # fmt: skip
        """One warpgroup: every other tile of this program, its multiply-adds, then its epilogue."""
        BM: gl.constexpr = a_desc.block_type.shape[0]
        BN: gl.constexpr = c_desc.block_type.shape[1]
        STAGES: gl.constexpr = a_bufs.shape[0]
        layout: gl.constexpr = gl.NVMMADistributedLayout(version=[3, 0], warps_per_cta=[4, 1],
                                                         instr_shape=[16, BN, 16])  # fmt: skip
        num_pid_m, num_pid_n, k_tiles = tile_counts(a_desc, c_desc, M, N, K)
        c_smem = c_bufs.index(WHICH)
        aux_bar = aux_ready.index(WHICH)
        local = WHICH  # the tile's place in the loader's order, so its first stage is local * k_tiles
        for tile in range(gl.program_id(0) + WHICH * NUM_PROGRAMS, num_pid_m * num_pid_n, 2 * NUM_PROGRAMS):
            pid_m, pid_n = tile_position(tile, num_pid_m, num_pid_n, GROUP_M)
            m0, n0 = pid_m * BM, pid_n * BN
            if EPILOGUE == "gelu_grad":
                # The pre-activation lands in c_smem while the multiply-adds run, once its last store left.
                tma.store_wait(pendings=0)
                mbarrier.expect(aux_bar, aux_desc.block_type.nbytes)
                tma.async_copy_global_to_shared(aux_desc, [m0, n0], aux_bar, c_smem)
            slot = local * k_tiles
            acc = gl.zeros((BM, BN), gl.float32, layout)
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
            mbarrier.arrive(order.index(1 - WHICH), count=1)
            acc = warpgroup_mma_wait(num_outstanding=0, deps=(acc,))
            mbarrier.arrive(empty.index((slot + STAGES - 1) % STAGES), count=1)
            if SCALE:
                rows = m0 + gl.arange(0, BM, layout=gl.SliceLayout(1, layout))
                acc = acc * gl.expand_dims(gl.load(scale + rows), 1)
            out = acc.to(c_desc.dtype)  # rounded as a plain product's output would be
            if EPILOGUE == "gelu_grad":
                mbarrier.wait(aux_bar, (local // 2) & 1)
                # Each thread reads and overwrites the same elements of c_smem: no other thread's are touched.
                slope = gelu_slope(c_smem.load(layout).to(gl.float32), True)
                c_smem.store((out.to(gl.float32) * slope).to(c_desc.dtype))
                fence_async_shared()
                tma.async_copy_shared_to_global(c_desc, [m0, n0], c_smem)
            else:
                tma.store_wait(pendings=0)  # this consumer's previous store has left c_smem
                c_smem.store(out)
                fence_async_shared()
                tma.async_copy_shared_to_global(c_desc, [m0, n0], c_smem)
                if EPILOGUE == "gelu":
                    x = out.to(gl.float32)
                    activation = (x * gelu_gate(x, True)).to(c_desc.dtype)
                    tma.store_wait(pendings=0)
                    c_smem.store(activation)
                    fence_async_shared()
                    tma.async_copy_shared_to_global(d_desc, [m0, n0], c_smem)
            local += 2
        tma.store_wait(pendings=0)

    @gluon.jit
    def _pingpong_matmul(a_desc, b_desc, c_desc, d_desc, aux_desc, scale, M, N, K, EPILOGUE: gl.constexpr,
                         B_KN: gl.constexpr, GROUP_M: gl.constexpr, NUM_PROGRAMS: gl.constexpr,
                         STAGES: gl.constexpr, SCALE: gl.constexpr):  # fmt: skip
        dtype: gl.constexpr = a_desc.dtype
        a_bufs = gl.allocate_shared_memory(dtype, [STAGES] + a_desc.block_type.shape, a_desc.layout)
        b_bufs = gl.allocate_shared_memory(dtype, [STAGES] + b_desc.block_type.shape, b_desc.layout)
        c_bufs = gl.allocate_shared_memory(c_desc.dtype, [2] + c_desc.block_type.shape, c_desc.layout)
        ready = gl.allocate_shared_memory(gl.int64, [STAGES, 1], mbarrier.MBarrierLayout())
        empty = gl.allocate_shared_memory(gl.int64, [STAGES, 1], mbarrier.MBarrierLayout())
        order = gl.allocate_shared_memory(gl.int64, [2, 1], mbarrier.MBarrierLayout())
        aux_ready = gl.allocate_shared_memory(gl.int64, [2, 1], mbarrier.MBarrierLayout())
        for i in gl.static_range(STAGES):
            mbarrier.init(ready.index(i), count=1)
            mbarrier.init(empty.index(i), count=1)
        for i in gl.static_range(2):
            mbarrier.init(order.index(i), count=1)
            mbarrier.init(aux_ready.index(i), count=1)
        FIRST: gl.constexpr = 0
        SECOND: gl.constexpr = 1
        # The arguments written out in each call: a tuple held in a variable loses its constants'
        # constexpr-ness. Registers: a consumer's 128 x 128 float32 accumulator is 128 per thread.
        gl.warp_specialize([
            (_consumer, (a_desc, b_desc, c_desc, d_desc, aux_desc, a_bufs, b_bufs, ready, empty, c_bufs, aux_ready,
                         order, scale, M, N, K, FIRST, EPILOGUE, B_KN, GROUP_M, NUM_PROGRAMS, SCALE)),
            (_consumer, (a_desc, b_desc, c_desc, d_desc, aux_desc, a_bufs, b_bufs, ready, empty, c_bufs, aux_ready,
                         order, scale, M, N, K, SECOND, EPILOGUE, B_KN, GROUP_M, NUM_PROGRAMS, SCALE)),
            (_loader, (a_desc, b_desc, c_desc, d_desc, aux_desc, a_bufs, b_bufs, ready, empty, c_bufs, aux_ready,
                       order, scale, M, N, K, SECOND, EPILOGUE, B_KN, GROUP_M, NUM_PROGRAMS, SCALE)),
        ], [4, 1], [232, 24])  # fmt: skip


def descriptor(tensor: torch.Tensor, block: list[int]):
    """A TMA descriptor of a bf16 tensor with the default swizzled shared-memory layout for `block`."""
    return TensorDescriptor.from_tensor(tensor, block, gl.NVMMASharedLayout.get_default_for(block, gl.bfloat16))


def signature(epilogue: str, b_kn: bool, settings: dict | None = None, scale: bool = False) -> tuple[list, dict, dict]:
    """Descriptors' blocks, the constants and the launch options of a kernel: shared by `matmul` and the
    bench's compile-only check."""
    s = dict(SETTINGS, **(settings or {}))
    BM, BN, BK = s["BM"], s["BN"], s["BK"]
    blocks = [[BM, BK], [BK, BN] if b_kn else [BN, BK], [BM, BN], [BM, BN], [BM, BN]]
    constants = {"EPILOGUE": epilogue, "B_KN": b_kn, "GROUP_M": s["GROUP_M"], "STAGES": s["STAGES"], "SCALE": scale}
    return blocks, constants, {"num_warps": 4, "maxnreg": s["maxnreg"]}


def matmul(a: torch.Tensor, b: torch.Tensor, outs: list[torch.Tensor], epilogue: str = "plain", b_kn: bool = False,
           aux: torch.Tensor | None = None, scale: torch.Tensor | None = None,
           settings: dict | None = None) -> None:  # fmt: skip
    """outs[0] (and outs[1] for "gelu") from a @ b.T (b given as (N, K)), or a @ b with b_kn (b given as
    (K, N)), each row times scale[row] if given (float32), and the epilogue; bf16 otherwise. The caller
    checks `fits`."""
    blocks, constants, options = signature(epilogue, b_kn, settings, scale is not None)
    M, K = a.shape
    N = b.shape[1] if b_kn else b.shape[0]
    c, d = descriptor(outs[0], blocks[2]), descriptor(outs[-1], blocks[3])
    programs = torch.cuda.get_device_properties(a.device).multi_processor_count
    _pingpong_matmul[(programs,)](
        descriptor(a, blocks[0]), descriptor(b, blocks[1]), c, d, descriptor(aux, blocks[4]) if aux is not None else c,
        scale if scale is not None else a, M, N, K, NUM_PROGRAMS=programs, **constants, **options,
    )  # fmt: skip


def plain(a: torch.Tensor, b: torch.Tensor, b_kn: bool = False, settings: dict | None = None) -> torch.Tensor:
    """a @ b.T (or a @ b with b_kn) with nothing fused: the benches' comparison with cuBLAS."""
    out = a.new_empty(a.shape[0], b.shape[1] if b_kn else b.shape[0])
    matmul(a, b, [out], "plain", b_kn, settings=settings)
    return out

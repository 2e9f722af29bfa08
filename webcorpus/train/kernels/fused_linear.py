"""Matrix products with their elementwise neighbours folded in: one Triton kernel per product.

The elementwise work beside GPT-2's matrix products (GELU and its gradient, rotary positions and their
gradient, the RMSNorms) already runs near full memory bandwidth: the way to make it cheaper is to not
write and re-read the tensors at all. Here the product that makes a tensor finishes it before writing it:

- `linear_gelu(x, w)`: `pre = x @ w.T` and `gelu(pre)` from one kernel (both are needed later);
- `linear_gelu_grad(g, w, pre)`: `(g @ w) * gelu'(pre)`, the MLP's gradient through its activation;
- `linear_rotary(x, w, ...)`: the attention projection `x @ w.T` split into q, k and v, with q and k
  turned by their rotary angles.

Each can also scale its rows by a float32 vector before the rest, which is how the model's RMSNorms are
folded in (`gelu_mlp`, `rotary_qkv`): rms_norm(x) @ w.T = s * (x @ (w * norm.weight).T) with s = 1/rms(x)
per row, so the norm's output is never written.

The kernel is a persistent matrix product over TMA tensor descriptors (Hopper and later); the work
after the last multiply-add happens in registers before the tile is stored. The MLP's two products run
on pingpong.py's Gluon kernel instead when the model asks for it (`kernels: fused_pingpong`), which hides
that work behind the next tile's multiply-adds. The rotary gradient, which follows cuDNN's attention
backward, is a separate gather kernel (`rotary_grad`): it reads dq, dk and dv wherever attention left
them and writes the un-rotated gradient of the projection in one pass.

tests/test_kernels.py checks every function against torch in float64 (GPU) and the folded norms through
Triton's interpreter (CPU); `bench/gpu/fused_linear.py` times each against cuBLAS plus the elementwise
kernel torch.compile makes. Figures: docs/training.md.
"""

from __future__ import annotations

import os

import torch

from webcorpus.train.kernels import pingpong
from webcorpus.train.kernels.triton_helpers import triton

if triton is not None:
    import triton.language as tl
    from triton.tools.tensor_descriptor import TensorDescriptor

    from webcorpus.train.kernels.triton_helpers import gelu_gate, gelu_slope, tile_position

# A product's tile (BM x BN, BK deep per step), stored in SPLIT pieces, its pipelining depth, warps, and
# whether Triton specialises warps (WS): the base each kernel's configuration below starts from.
_DEFAULT = {
    "BM": 128, "BN": 256, "BK": 64, "SPLIT": 2, "GROUP_M": 8, "num_stages": 3, "num_warps": 8, "WS": False,
    "PER_SM": 1,  # programs per multiprocessor of the persistent grid
    "FAST_TANH": True,  # GELU's tanh by the hardware's approximation (see gelu_gate)
}  # fmt: skip
# Each kernel's fastest tiling in `python bench/gpu/fused_linear.py --sweep` on the H100 (docs/training.md):
# linear_gelu with two programs per multiprocessor, one's epilogue overlapping the other's products; the
# others with 128 x 256 tiles; Triton's warp specialisation on.
CONFIGS = {
    "plain": dict(_DEFAULT, WS=True),
    "gelu": dict(_DEFAULT, BN=128, SPLIT=4, PER_SM=2, WS=True),
    "gelu_grad": dict(_DEFAULT, WS=True),
    "rotary": dict(_DEFAULT, WS=True),
}

_INTERPRETED = os.environ.get("TRITON_INTERPRET") == "1"  # Triton's CPU interpreter, for checks without a GPU
EPILOGUES = {"plain": 0, "gelu": 1, "gelu_grad": 2, "rotary": 3}  # the kernel's EPILOGUE for each


def available(tensor: torch.Tensor) -> bool:
    """Triton present and a Hopper GPU (H100, H200: compute capability 9.x), the one kind these kernels
    were tuned and checked on; elsewhere the model keeps cuBLAS and torch.compile's kernels."""
    return triton is not None and tensor.is_cuda and torch.cuda.get_device_capability(tensor.device)[0] == 9


if triton is not None:

    @triton.jit
    def _epilogue(acc, m0, n0, out0, out1, aux, cos, sin, T, C,
                  EPILOGUE: tl.constexpr, BM: tl.constexpr, W: tl.constexpr, D: tl.constexpr,
                  FAST_TANH: tl.constexpr):  # fmt: skip
        dtype = out0.dtype
        if EPILOGUE == 0:
            out0.store([m0, n0], acc.to(dtype))
        elif EPILOGUE == 1:
            pre = acc.to(dtype)  # rounded as a plain product's output would be, then the activation
            out0.store([m0, n0], pre)
            x = pre.to(tl.float32)
            out1.store([m0, n0], (x * gelu_gate(x, FAST_TANH)).to(dtype))
        elif EPILOGUE == 2:
            grad = acc.to(dtype).to(tl.float32)
            out0.store([m0, n0], (grad * gelu_slope(aux.load([m0, n0]).to(tl.float32), FAST_TANH)).to(dtype))
        else:
            # out0 is a (3, rows, C) buffer: q, k, v. A tile never straddles two of them (the host checks
            # C % W == 0), and v passes through the same arithmetic turned by angle 0, so that there is
            # one store and no branch (two stores under an `if` broke Triton 3.6's loop flattening).
            # The weight's q and k rows come in pair order (see `pair_order`): each rotated pair is two
            # neighbouring columns, which the accumulator keeps in one thread, so no data moves.
            part = n0 // C
            x1, x2 = tl.split(tl.reshape(acc, (BM, W // 2, 2)))
            t = (m0 + tl.arange(0, BM)) % T
            frequency = ((n0 - part * C) // 2 + tl.arange(0, W // 2)) % (D // 2)
            at = t[:, None] * (D // 2) + frequency[None, :]
            turn = part < 2
            c = tl.where(turn, tl.load(cos + at), 1.0)
            s = tl.where(turn, tl.load(sin + at), 0.0)
            turned = tl.reshape(tl.join(x1 * c - x2 * s, x1 * s + x2 * c), (1, BM, W))
            out0.store([part, m0, n0 - part * C], turned.to(dtype))

    @triton.jit
    def _halves(x, BM: tl.constexpr, W: tl.constexpr):
        return tl.split(tl.permute(tl.reshape(x, (BM, 2, W // 2)), (0, 2, 1)))

    @triton.jit
    def _matmul(a, b, out0, out1, aux, cos, sin, scale, M, N, K, T, C,
                EPILOGUE: tl.constexpr, B_KN: tl.constexpr, D: tl.constexpr, BM: tl.constexpr,
                BN: tl.constexpr, BK: tl.constexpr, SPLIT: tl.constexpr, GROUP_M: tl.constexpr,
                NUM_PROGRAMS: tl.constexpr, WS: tl.constexpr, FAST_TANH: tl.constexpr,
                SCALE: tl.constexpr):  # fmt: skip
        """out = a @ b.T (b given as (N, K)) or a @ b (B_KN: b given as (K, N)), each row times scale[row]
        with SCALE, then the epilogue."""
        num_pid_m, num_pid_n = tl.cdiv(M, BM), tl.cdiv(N, BN)
        k_tiles = tl.cdiv(K, BK)
        # The epilogue recomputes its tile's position from its own counter (as Triton's persistent
        # matmul tutorial does) so the software pipeliner can overlap it with the next tile's loads.
        tile_out = tl.program_id(0) - NUM_PROGRAMS
        for tile in tl.range(tl.program_id(0), num_pid_m * num_pid_n, NUM_PROGRAMS, flatten=True, warp_specialize=WS):
            pid_m, pid_n = tile_position(tile, num_pid_m, num_pid_n, GROUP_M)
            acc = tl.zeros((BM, BN), tl.float32)
            for k in range(k_tiles):
                tile_a = a.load([pid_m * BM, k * BK])
                if B_KN:
                    acc = tl.dot(tile_a, b.load([k * BK, pid_n * BN]), acc)
                else:
                    acc = tl.dot(tile_a, b.load([pid_n * BN, k * BK]).T, acc)
            tile_out += NUM_PROGRAMS
            pid_m, pid_n = tile_position(tile_out, num_pid_m, num_pid_n, GROUP_M)
            m0, n0 = pid_m * BM, pid_n * BN
            if SCALE:
                rows = m0 + tl.arange(0, BM)
                acc = acc * tl.load(scale + rows, mask=rows < M, other=1.0)[:, None]
            # Stores of a half or a quarter of the tile at a time: less shared memory for the epilogue.
            if SPLIT == 4:
                left, right = _halves(acc, BM, BN)
                a0, a1 = _halves(left, BM, BN // 2)
                a2, a3 = _halves(right, BM, BN // 2)
                W: tl.constexpr = BN // 4
                _epilogue(a0, m0, n0, out0, out1, aux, cos, sin, T, C, EPILOGUE, BM, W, D, FAST_TANH)
                _epilogue(a1, m0, n0 + W, out0, out1, aux, cos, sin, T, C, EPILOGUE, BM, W, D, FAST_TANH)
                _epilogue(a2, m0, n0 + 2 * W, out0, out1, aux, cos, sin, T, C, EPILOGUE, BM, W, D, FAST_TANH)
                _epilogue(a3, m0, n0 + 3 * W, out0, out1, aux, cos, sin, T, C, EPILOGUE, BM, W, D, FAST_TANH)
            elif SPLIT == 2:
                left, right = _halves(acc, BM, BN)
                _epilogue(left, m0, n0, out0, out1, aux, cos, sin, T, C, EPILOGUE, BM, BN // 2, D, FAST_TANH)
                _epilogue(right, m0, n0 + BN // 2, out0, out1, aux, cos, sin, T, C, EPILOGUE, BM, BN // 2, D, FAST_TANH)
            else:
                _epilogue(acc, m0, n0, out0, out1, aux, cos, sin, T, C, EPILOGUE, BM, BN, D, FAST_TANH)

    @triton.jit
    def _rotary_grad(dq, dk, dv, out, cos, sin, scale, n_rows, T, H,
                     sq_b, sq_t, sq_h, sk_b, sk_t, sk_h, sv_b, sv_t, sv_h,
                     BR: tl.constexpr, D: tl.constexpr, SCALE: tl.constexpr):  # fmt: skip
        """out[(b, t), part * H * D + h * D + d] = gradient before rotation (times scale[row] with SCALE),
        for one block of rows and one head; dq, dk, dv are (B, T, H, D) with any strides but a unit one
        for D, q and k in pair order."""
        rows = tl.program_id(0) * BR + tl.arange(0, BR)
        valid = (rows < n_rows)[:, None]
        rows = tl.minimum(rows, n_rows - 1)  # out-of-range rows read row n_rows - 1 and store nothing
        h = tl.program_id(1)
        b, t = rows // T, rows % T
        channel = tl.arange(0, D)[None, :]
        at = t[:, None] * (D // 2) + tl.arange(0, D // 2)[None, :]
        c, s = tl.load(cos + at), tl.load(sin + at)
        r = tl.load(scale + rows)[:, None] if SCALE else 1.0
        c, s = c * r, s * r  # the row's scale rides on the rotation
        out_row = out + rows[:, None].to(tl.int64) * (3 * H * D) + h * D + channel
        dtype = out.dtype.element_ty
        # Rotation by -angle undoes rotation by +angle: the gradient of x1*c - x2*s, x1*s + x2*c.
        g = tl.load(dq + (b * sq_b + t * sq_t + h * sq_h).to(tl.int64)[:, None] + channel).to(tl.float32)
        g1, g2 = tl.split(tl.reshape(g, (BR, D // 2, 2)))
        tl.store(out_row, tl.reshape(tl.join(g1 * c + g2 * s, g2 * c - g1 * s), (BR, D)).to(dtype), mask=valid)
        g = tl.load(dk + (b * sk_b + t * sk_t + h * sk_h).to(tl.int64)[:, None] + channel).to(tl.float32)
        g1, g2 = tl.split(tl.reshape(g, (BR, D // 2, 2)))
        tl.store(out_row + H * D, tl.reshape(tl.join(g1 * c + g2 * s, g2 * c - g1 * s), (BR, D)).to(dtype),
                 mask=valid)  # fmt: skip
        g = tl.load(dv + (b * sv_b + t * sv_t + h * sv_h).to(tl.int64)[:, None] + channel)
        tl.store(out_row + 2 * H * D, (g.to(tl.float32) * r).to(dtype) if SCALE else g, mask=valid)


def _programs(device: torch.device) -> int:
    return torch.cuda.get_device_properties(device).multi_processor_count


def _config(kind: str, config: dict | None) -> dict:
    return dict(_DEFAULT, **(config or CONFIGS[kind]))


def _launch(a, b, outs, kind, *, b_kn=False, aux=None, cos=None, sin=None, scale=None, T=1, C=1, D=64, config=None):
    cfg = _config(kind, config)
    BM, BN, BK, SPLIT = cfg["BM"], cfg["BN"], cfg["BK"], cfg["SPLIT"]
    M, K = a.shape
    N = b.shape[1] if b_kn else b.shape[0]
    W = BN // SPLIT
    descriptor = TensorDescriptor.from_tensor
    out_descs = [descriptor(o, [1, BM, W] if o.dim() == 3 else [BM, W]) for o in outs]
    tiles = triton.cdiv(M, BM) * triton.cdiv(N, BN)
    programs = min(cfg["PER_SM"] * _programs(a.device), tiles)
    _matmul[(programs,)](
        descriptor(a, [BM, BK]), descriptor(b, [BK, BN] if b_kn else [BN, BK]), out_descs[0], out_descs[-1],
        descriptor(aux, [BM, W]) if aux is not None else out_descs[0],
        cos if cos is not None else a, sin if sin is not None else a, scale if scale is not None else a, M, N, K,
        T, C, EPILOGUE=EPILOGUES[kind], B_KN=b_kn, D=D, BM=BM, BN=BN, BK=BK, SPLIT=SPLIT, GROUP_M=cfg["GROUP_M"],
        NUM_PROGRAMS=programs, WS=cfg["WS"], FAST_TANH=cfg["FAST_TANH"] and not _INTERPRETED, SCALE=scale is not None,
        num_stages=cfg["num_stages"], num_warps=cfg["num_warps"],
    )  # fmt: skip


def tiles_fit(config: dict, width: int, head_dim: int | None) -> bool:
    """Each stored piece of a tile lies in one of q, k, v and covers whole heads or part of one (for the
    MLP, head_dim None, the pieces divide the width: the only shapes checked on the GPU)."""
    tile = config["BN"] // config["SPLIT"]
    return width % tile == 0 and (head_dim is None or tile % head_dim == 0 or head_dim % tile == 0)


def matmul(a: torch.Tensor, weight: torch.Tensor, config: dict | None = None, b_kn: bool = False) -> torch.Tensor:
    """a @ weight.T (or a @ weight with b_kn) through the same kernel with nothing fused: the benches'
    like-for-like comparison with cuBLAS."""
    out = a.new_empty(a.shape[0], weight.shape[1] if b_kn else weight.shape[0])
    _launch(a, weight, [out], "plain", b_kn=b_kn, config=config)
    return out


def _pingpong(M: int, N: int, K: int, config: dict | None, wanted: bool) -> bool:
    """Whether pingpong.py's kernel takes this product: asked for (the model's `kernels`), no Triton
    tiling asked for instead, and whole tiles. Asked for without Gluon is an error, not a quiet fallback."""
    if not wanted or config is not None or _INTERPRETED:
        return False
    if not pingpong.available():
        raise RuntimeError(f"kernels 'fused_pingpong' needs Gluon (Triton 3.6 or newer): {pingpong.MISSING}")
    return pingpong.fits(M, N, K)


def linear_gelu(x: torch.Tensor, weight: torch.Tensor, config: dict | None = None, scale: torch.Tensor | None = None,
                pingpong_kernel: bool = False):  # fmt: skip
    """(pre, gelu(pre)) with pre = x @ weight.T, each row times scale[row] if given (float32); x: (rows,
    in), weight: (out, in), both bf16."""
    pre, act = x.new_empty(x.shape[0], weight.shape[0]), x.new_empty(x.shape[0], weight.shape[0])
    if _pingpong(x.shape[0], weight.shape[0], x.shape[1], config, pingpong_kernel):
        pingpong.matmul(x, weight, [pre, act], "gelu", scale=scale)
    else:
        _launch(x, weight, [pre, act], "gelu", scale=scale, config=config)
    return pre, act


def linear_gelu_grad(grad: torch.Tensor, weight: torch.Tensor, pre: torch.Tensor, config: dict | None = None,
                     scale: torch.Tensor | None = None, pingpong_kernel: bool = False) -> torch.Tensor:  # fmt: skip
    """(grad @ weight) * gelu'(pre): the gradient at the activation's input, given the gradient at the
    output of `act @ weight.T`, each row times scale[row] if given; grad: (rows, out), weight: (out,
    hidden), pre: (rows, hidden)."""
    result = torch.empty_like(pre)
    if _pingpong(grad.shape[0], weight.shape[1], grad.shape[1], config, pingpong_kernel):
        pingpong.matmul(grad, weight, [result], "gelu_grad", b_kn=True, aux=pre, scale=scale)
    else:
        _launch(grad, weight, [result], "gelu_grad", b_kn=True, aux=pre, scale=scale, config=config)
    return result


def linear_rotary(x: torch.Tensor, weight: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, context: int,
                  head_dim: int, config: dict | None = None,
                  scale: torch.Tensor | None = None) -> torch.Tensor:  # fmt: skip
    """(3, rows, width): q, k, v from x @ weight.T with weight (3 * width, in), each row times scale[row]
    if given, q and k turned by the rotary angles of position row % context; cos, sin: float32 (context,
    head_dim / 2). The q and k rows of the weight must be in pair order (`pair_order`), and q and k come
    out in it."""
    width = weight.shape[0] // 3
    cfg = _config("rotary", config)
    if not tiles_fit(cfg, width, head_dim):
        raise ValueError(f"width {width} and head_dim {head_dim} do not fit tiles of {cfg['BN'] // cfg['SPLIT']}")
    qkv = x.new_empty(3, x.shape[0], width)
    _launch(x, weight, [qkv], "rotary", cos=cos, sin=sin, scale=scale, T=context, C=width, D=head_dim, config=config)
    return qkv


def pair_order(weight: torch.Tensor, heads: int) -> torch.Tensor:
    """The attention projection's weight (3 * width, in) with the rows of q and k reordered so that each
    head's channel i and i + head_dim/2, the pair rotary turns together (GPT-NeoX's layout, model.py),
    become neighbours 2i and 2i+1. q and k computed from it hold the same channels in another order, the
    same for both, so every q . k, and so attention, is unchanged."""
    three_width, fan_in = weight.shape
    qk = weight[: 2 * three_width // 3].view(2, heads, 2, -1, fan_in).transpose(2, 3).reshape(-1, fan_in)
    return torch.cat((qk, weight[2 * three_width // 3 :]))


def rotary_grad(dq: torch.Tensor, dk: torch.Tensor, dv: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor,
                rows_per_program: int = 64, scale: torch.Tensor | None = None) -> torch.Tensor:  # fmt: skip
    """The gradient at the projection's output, (B * T, 3 * H * D), from the gradients of rotated q and
    k (in pair order) and of v, each (B, T, H, D) with a unit stride along D; each row times scale[row]
    if given."""
    B, T, H, D = dq.shape
    out = dq.new_empty(B * T, 3 * H * D)
    grid = (triton.cdiv(B * T, rows_per_program), H)
    _rotary_grad[grid](
        dq, dk, dv, out, cos, sin, scale if scale is not None else cos, B * T, T, H, *dq.stride()[:3],
        *dk.stride()[:3], *dv.stride()[:3], BR=rows_per_program, D=D, SCALE=scale is not None,
    )  # fmt: skip
    return out


# The kernels as torch operators, so that torch.compile keeps them in its graph as opaque calls (a raw
# Triton launch with tensor descriptors inside a compiled graph is not traceable), and the two autograd
# steps the model uses.
if triton is not None:

    @torch.library.custom_op("webcorpus::linear_gelu", mutates_args=())
    def _linear_gelu_op(x: torch.Tensor, weight: torch.Tensor, scale: torch.Tensor | None = None,
                        pingpong_kernel: bool = False) -> tuple[torch.Tensor, torch.Tensor]:  # fmt: skip
        return linear_gelu(x, weight, scale=scale, pingpong_kernel=pingpong_kernel)

    @_linear_gelu_op.register_fake
    def _(x, weight, scale=None, pingpong_kernel=False):
        return x.new_empty(x.shape[0], weight.shape[0]), x.new_empty(x.shape[0], weight.shape[0])

    @torch.library.custom_op("webcorpus::linear_gelu_grad", mutates_args=())
    def _linear_gelu_grad_op(grad: torch.Tensor, weight: torch.Tensor, pre: torch.Tensor,
                             scale: torch.Tensor | None = None,
                             pingpong_kernel: bool = False) -> torch.Tensor:  # fmt: skip
        return linear_gelu_grad(grad, weight, pre, scale=scale, pingpong_kernel=pingpong_kernel)

    @_linear_gelu_grad_op.register_fake
    def _(grad, weight, pre, scale=None, pingpong_kernel=False):
        return torch.empty_like(pre)

    @torch.library.custom_op("webcorpus::linear_rotary", mutates_args=())
    def _linear_rotary_op(x: torch.Tensor, weight: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor,
                          context: int, head_dim: int, scale: torch.Tensor | None = None) -> torch.Tensor:  # fmt: skip
        return linear_rotary(x, weight, cos, sin, context, head_dim, scale=scale)

    @_linear_rotary_op.register_fake
    def _(x, weight, cos, sin, context, head_dim, scale=None):
        return x.new_empty(3, x.shape[0], weight.shape[0] // 3)

    @torch.library.custom_op("webcorpus::rotary_grad", mutates_args=())
    def _rotary_grad_op(dq: torch.Tensor, dk: torch.Tensor, dv: torch.Tensor, cos: torch.Tensor,
                        sin: torch.Tensor, scale: torch.Tensor | None = None) -> torch.Tensor:  # fmt: skip
        return rotary_grad(dq, dk, dv, cos, sin, scale=scale)

    @_rotary_grad_op.register_fake
    def _(dq, dk, dv, cos, sin, scale=None):
        B, T, H, D = dq.shape
        return dq.new_empty(B * T, 3 * H * D)


def _scale_grad(x: torch.Tensor, grad_x: torch.Tensor, scale: torch.Tensor | None) -> torch.Tensor | None:
    """The gradient of a row scale s in out = s * (x @ w.T), given grad_x = (s * grad_out) @ w, the
    gradient the product passes to x: sum over the output of grad_out * (x @ w.T) = (x . grad_x) / s."""
    if scale is None:
        return None
    return (x.float() * grad_x.float()).sum(-1) / scale


class GeluMLP(torch.autograd.Function):
    """act(s * (x @ w_up.T)) @ w_down.T with GELU folded into the first product and its gradient into the
    product that brings the gradient back through w_down; s is an optional float32 scale per row (an
    RMSNorm's, see `gelu_mlp`), applied inside the products too."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, w_up: torch.Tensor, w_down: torch.Tensor, scale: torch.Tensor | None,
                pingpong_kernel: bool):  # fmt: skip
        pre, act = torch.ops.webcorpus.linear_gelu(x, w_up, scale, pingpong_kernel)
        ctx.save_for_backward(x, w_up, w_down, pre, act, scale)
        ctx.pingpong_kernel = pingpong_kernel
        return act @ w_down.t()

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        x, w_up, w_down, pre, act, scale = ctx.saved_tensors
        grad = grad.contiguous()
        # the row scale included
        grad_pre = torch.ops.webcorpus.linear_gelu_grad(grad, w_down, pre, scale, ctx.pingpong_kernel)
        grad_x = grad_pre @ w_up
        return grad_x, grad_pre.t() @ x, grad.t() @ act, _scale_grad(x, grad_x, scale), None


class RotaryQKV(torch.autograd.Function):
    """q, k, v as (B, T, heads, head_dim) from s * (x @ w.T), q and k turned by their rotary angles; s
    as in GeluMLP."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, w: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, T: int, heads: int,
                scale: torch.Tensor | None):  # fmt: skip
        qkv = torch.ops.webcorpus.linear_rotary(x, w, cos, sin, T, w.shape[0] // 3 // heads, scale)
        ctx.save_for_backward(x, w, cos, sin, scale)
        return qkv.view(3, x.shape[0] // T, T, heads, -1).unbind(0)

    @staticmethod
    def backward(ctx, dq: torch.Tensor, dk: torch.Tensor, dv: torch.Tensor):
        x, w, cos, sin, scale = ctx.saved_tensors
        unit = [g if g.stride(-1) == 1 else g.contiguous() for g in (dq, dk, dv)]
        grad = torch.ops.webcorpus.rotary_grad(*unit, cos, sin, scale)  # the row scale included
        grad_x = grad @ w
        return grad_x, grad.t() @ x, None, None, None, None, _scale_grad(x, grad_x, scale)


def usable(x: torch.Tensor, width: int, head_dim: int | None = None) -> bool:
    """The fused path applies: CUDA under autocast, Triton, a Hopper GPU, and shapes the tiles fit."""
    fits = tiles_fit(CONFIGS["rotary" if head_dim else "gelu"], width, head_dim)
    return fits and available(x) and torch.is_autocast_enabled("cuda")


def _rows(x: torch.Tensor, dtype: torch.dtype, norm: torch.nn.Module | None, weight: torch.Tensor):
    """x flattened to rows in `dtype`, and, given an RMSNorm, its scale per row (float32) and the weight
    with the norm's weight folded in: rms_norm(x) @ w.T = scale * (x @ (w * norm.weight).T), so the norm's
    output is never written; the products apply the scale."""
    flat = x.reshape(-1, x.shape[-1]).to(dtype).contiguous()
    if norm is None:
        return flat, None, weight.to(dtype)
    scale = torch.rsqrt(x.float().pow(2).mean(-1) + norm.eps).reshape(-1)
    return flat, scale, (weight * norm.weight).to(dtype)


def gelu_mlp(x: torch.Tensor, w_up: torch.Tensor, w_down: torch.Tensor, norm: torch.nn.Module | None = None,
             pingpong_kernel: bool = False):  # fmt: skip
    """gelu(norm(x) @ w_up.T) @ w_down.T, norm an RMSNorm (model.py's) or None; x: (..., width) under CUDA
    autocast; the weights as nn.Linear holds them (float32 parameters). `pingpong_kernel`: both products
    on pingpong.py's Gluon kernel where the shapes fit."""
    dtype = torch.get_autocast_dtype("cuda")
    with torch.autocast("cuda", enabled=False):
        flat, scale, w_up = _rows(x, dtype, norm, w_up)
        return GeluMLP.apply(flat, w_up, w_down.to(dtype), scale, pingpong_kernel).view(*x.shape[:-1], -1)


def rotary_qkv(x: torch.Tensor, w: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, heads: int,
               norm: torch.nn.Module | None = None):  # fmt: skip
    """x: (B, T, width) under CUDA autocast -> q, k, v of norm(x) (norm an RMSNorm or None) each (B, T,
    heads, head_dim), q and k in pair order (attention gives the same result)."""
    dtype = torch.get_autocast_dtype("cuda")
    T = x.shape[1]
    with torch.autocast("cuda", enabled=False):
        flat, scale, w = _rows(x, dtype, norm, w)
        return RotaryQKV.apply(flat, pair_order(w, heads), cos.contiguous(), sin.contiguous(), T, heads, scale)

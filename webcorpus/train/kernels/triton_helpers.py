"""Triton device functions shared by fused_linear.py's kernel and pingpong.py's Gluon kernel."""

from __future__ import annotations

try:
    import triton
    import triton.language as tl
except ImportError:  # CPU-only torch: the model uses plain torch, and nothing here is compiled
    triton = None

if triton is not None:

    @triton.jit
    def tile_position(tile, num_pid_m, num_pid_n, GROUP_M: tl.constexpr):
        # GROUP_M row tiles in a row share each column tile of the weight while it is in L2.
        per_group = GROUP_M * num_pid_n
        first_m = (tile // per_group) * GROUP_M
        size_m = tl.minimum(num_pid_m - first_m, GROUP_M)
        return first_m + (tile % per_group) % size_m, (tile % per_group) // size_m

    @triton.jit
    def gelu_gate(x, FAST_TANH: tl.constexpr):
        # tanh-approximated GELU is x * (1 + tanh(u)) / 2. The hardware's tanh.approx is one special-
        # function instruction where sigmoid(2u) = (1 + tanh(u)) / 2 takes two (exp and reciprocal); its
        # error (about 2^-11 relative) is under the bf16 rounding of the output. llm.c's GELU compiles to
        # the same instruction (--use_fast_math). Triton's interpreter has no inline assembly: sigmoid there.
        u = 0.7978845608028654 * (x + 0.044715 * x * x * x)  # sqrt(2 / pi)
        if FAST_TANH:
            tanh = tl.inline_asm_elementwise("tanh.approx.f32 $0, $1;", "=f,f", [u], dtype=tl.float32, is_pure=True,
                                             pack=1)  # fmt: skip
            return 0.5 + 0.5 * tanh
        else:
            return tl.sigmoid(2.0 * u)

    @triton.jit
    def gelu_slope(x, FAST_TANH: tl.constexpr):
        # d/dx of x * s(x), s = gelu_gate: s + x * s * (1 - s) * 2u'(x).
        s = gelu_gate(x, FAST_TANH)
        return s + x * s * (1.0 - s) * (2.0 * 0.7978845608028654) * (1.0 + 3.0 * 0.044715 * x * x)

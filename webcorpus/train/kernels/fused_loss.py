"""The output head and its cross-entropy loss in one autograd step, with one Triton kernel for the loss.

At GPT-2's vocabulary the logits dwarf every other activation: a micro-batch of 64 x 1024 tokens has
6.6 GB of them in bf16. `F.cross_entropy` reads them to find each row's log-sum-exp, saves them, and in
the backward pass reads them again to write a gradient of the same size; torch.compile fuses the
float32 upcast but not the passes. Here one kernel, run per row in the forward pass, computes the loss
and overwrites the row's logits with their gradient, (softmax - one_hot) / rows: two passes over each row
(the second partly served from L2) and one write, and no second buffer of that size exists. The backward
pass then only scales that gradient into the two matrix products. It runs near a plain copy's bandwidth
(docs/training.md).

Used on CUDA when Triton is installed (it comes with torch's CUDA wheels) and the model's `kernels` is not
`torch`; elsewhere the model uses `F.cross_entropy`. tests/test_kernels.py checks both give the same loss
and gradients.
"""

from __future__ import annotations

import torch

try:
    import triton
    import triton.language as tl
except ImportError:  # CPU-only torch: the model falls back to F.cross_entropy
    triton = None

# Columns per step of the loop over a row, neighbouring columns that share running statistics, warps,
# and steps unrolled: the fastest of the variants bench/gpu/fused_loss_kernel.py tried on the H100
# (docs/training.md).
BLOCK = 8192
GROUP = 8
WARPS = 16
UNROLL = 2


def available(tensor: torch.Tensor) -> bool:
    return triton is not None and tensor.is_cuda


if triton is not None:

    @triton.jit
    def _cross_entropy_rows(logits, row_stride, targets, losses, n_cols, scale, WRITE_GRAD: tl.constexpr,
                            BLOCK: tl.constexpr, GROUP: tl.constexpr, UNROLL: tl.constexpr):  # fmt: skip
        row = tl.program_id(0).to(tl.int64)
        base = logits + row * row_stride
        target = tl.load(targets + row)
        # Online log-sum-exp: a running maximum and the sum of exponentials relative to it, kept per lane
        # and combined once at the end, so the loop has no block-wide reduction (and barrier) per step
        # (faster on the H100: bench/gpu/fused_loss_kernel.py). A lane is GROUP
        # neighbouring columns, which one thread loads together, so its maximum needs no other thread and
        # the rescaling exponential is paid once per GROUP columns instead of once per column. The start
        # is finite so that a lane which only ever sees padding (-inf) keeps a sum of 0 instead of NaN.
        lane_max = tl.full([BLOCK // GROUP], -1e30, tl.float32)
        lane_sum = tl.zeros([BLOCK // GROUP], tl.float32)
        for start in tl.range(0, n_cols, BLOCK, loop_unroll_factor=UNROLL):
            cols = start + tl.arange(0, BLOCK)
            x = tl.load(base + cols, mask=cols < n_cols, other=float("-inf")).to(tl.float32)
            x = tl.reshape(x, (BLOCK // GROUP, GROUP))
            new_max = tl.maximum(lane_max, tl.max(x, 1))
            lane_sum = lane_sum * tl.exp(lane_max - new_max) + tl.sum(tl.exp(x - new_max[:, None]), 1)
            lane_max = new_max
        running_max = tl.max(lane_max, 0)
        running_sum = tl.sum(lane_sum * tl.exp(lane_max - running_max), 0)
        log_sum_exp = running_max + tl.log(running_sum)
        tl.store(losses + row, log_sum_exp - tl.load(base + target).to(tl.float32))
        if WRITE_GRAD:
            for start in tl.range(0, n_cols, BLOCK, loop_unroll_factor=UNROLL):
                cols = start + tl.arange(0, BLOCK)
                mask = cols < n_cols
                x = tl.load(base + cols, mask=mask, other=0.0).to(tl.float32)
                grad = tl.exp(x - log_sum_exp) - tl.where(cols == target, 1.0, 0.0)
                tl.store(base + cols, (grad * scale).to(logits.dtype.element_ty), mask=mask)


def cross_entropy_rows(logits: torch.Tensor, targets: torch.Tensor, losses: torch.Tensor, write_grad: bool) -> None:
    """Each row's loss into `losses`; with write_grad, the row's logits are overwritten by their gradient."""
    rows, cols = logits.shape
    _cross_entropy_rows[(rows,)](
        logits, logits.stride(0), targets, losses, cols, 1.0 / rows, WRITE_GRAD=write_grad, BLOCK=BLOCK,
        GROUP=GROUP, UNROLL=UNROLL, num_warps=WARPS,
    )  # fmt: skip


class HeadCrossEntropy(torch.autograd.Function):
    """Mean cross-entropy of `x @ weight.T` against `targets`; the logits never leave this function."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, weight: torch.Tensor, targets: torch.Tensor, write_grad: bool) -> torch.Tensor:
        dtype = torch.get_autocast_dtype("cuda") if torch.is_autocast_enabled("cuda") else x.dtype
        x, low_weight = x.to(dtype), weight.to(dtype)
        logits = x @ low_weight.t()
        losses = torch.empty(logits.shape[0], dtype=torch.float32, device=x.device)
        cross_entropy_rows(logits, targets, losses, write_grad)
        ctx.save_for_backward(x, low_weight, logits)  # logits now hold d(loss)/d(logits)
        ctx.weight_dtype = weight.dtype
        return losses.mean()

    @staticmethod
    def backward(ctx, grad_loss: torch.Tensor):
        x, low_weight, grad_logits = ctx.saved_tensors
        grad_x = (grad_logits @ low_weight) * grad_loss.to(x.dtype)
        grad_weight = (grad_logits.t() @ x).to(ctx.weight_dtype) * grad_loss
        return grad_x, grad_weight, None, None


# Outside the compiled graph: traced by Inductor (torch 2.11) the kernel's launch failed, and around it
# there is nothing left to fuse.
@torch.compiler.disable
def head_cross_entropy(x: torch.Tensor, weight: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """x: (rows, width) final hidden states, weight: (vocab, width), targets: (rows,) token ids."""
    write_grad = torch.is_grad_enabled() and (x.requires_grad or weight.requires_grad)
    return HeadCrossEntropy.apply(x, weight, targets.contiguous(), write_grad)

"""cuDNN attention (through scaled_dot_product_attention) forward and backward at gpt2-124m's shape, for the
layouts q, k, v and the output gradient can arrive in, on a GPU.

    python bench/attention_layout.py [--batch 128]

"BTHD views" is what the model gives today: q, k, v slices of one (3, B*T, C) projection output seen as
(B, H, T, D) through a transpose, and the output's gradient from the (B*T, C) product behind it. "BHTD"
gives every tensor contiguous in (B, H, T, D), as it would be if the projection wrote heads apart; the
model would then pay for a transpose of the output (timed on its own line).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path[0] = str(Path(__file__).resolve().parent.parent)  # bench/tokenize.py would shadow the standard library's

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

HEADS, CONTEXT, HEAD_DIM = 12, 1024, 64


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=128)
    args = parser.parse_args()
    if not torch.cuda.is_available():
        sys.exit("bench/attention_layout.py needs a CUDA GPU")
    import triton
    from torch.nn.attention import SDPBackend, sdpa_kernel

    B, C = args.batch, HEADS * HEAD_DIM
    bf = dict(device="cuda", dtype=torch.bfloat16)
    print(f"{torch.cuda.get_device_name()}, torch {torch.__version__}, batch {B}")

    def ms(fn) -> float:
        return triton.testing.do_bench(fn, warmup=25, rep=200, return_mode="median")

    def bthd_views():
        qkv = torch.randn(3, B * CONTEXT, C, **bf)
        q, k, v = (t.view(B, CONTEXT, HEADS, HEAD_DIM).transpose(1, 2) for t in qkv)
        grad = torch.randn(B * CONTEXT, C, **bf).view(B, CONTEXT, HEADS, HEAD_DIM).transpose(1, 2)
        return q, k, v, grad

    def bhtd():
        q, k, v, grad = (torch.randn(B, HEADS, CONTEXT, HEAD_DIM, **bf) for _ in range(4))
        return q, k, v, grad

    flops_forward = 4 * B * HEADS * CONTEXT * CONTEXT * HEAD_DIM / 2  # causal: half the scores
    with sdpa_kernel(SDPBackend.CUDNN_ATTENTION):
        for name, make in (("BTHD views", bthd_views), ("BHTD", bhtd)):
            q, k, v, grad = make()
            q, k, v = (t.requires_grad_() for t in (q, k, v))
            forward = ms(lambda q=q, k=k, v=v: F.scaled_dot_product_attention(q, k, v, is_causal=True))
            out = F.scaled_dot_product_attention(q, k, v, is_causal=True)

            def backward(out=out, grad=grad, q=q, k=k, v=v):
                torch.autograd.grad(out, (q, k, v), grad, retain_graph=True)

            took = ms(backward)
            print(f"{name:<12} forward {forward:6.3f} ms ({flops_forward / forward / 1e9:3.0f} TFLOP/s), backward "
                  f"{took:6.3f} ms ({2.5 * flops_forward / took / 1e9:3.0f}), output strides {out.stride()}, "
                  f"dq strides {torch.autograd.grad(out, q, grad, retain_graph=True)[0].stride()}")  # fmt: skip
            del q, k, v, grad, out
    y = torch.randn(B, HEADS, CONTEXT, HEAD_DIM, **bf)
    print(f"transpose of a BHTD output to (B*T, C): {ms(lambda: y.transpose(1, 2).contiguous()):.3f} ms")


if __name__ == "__main__":
    main()

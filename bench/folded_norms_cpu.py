"""The folded RMSNorms of fused_linear.py (`rotary_qkv`, `gelu_mlp` with a norm) against model.py's
unfused arithmetic, on the CPU through Triton's interpreter: loss and every gradient, in float32.

    TRITON_INTERPRET=1 python bench/folded_norms_cpu.py     # needs Triton installed, no GPU

The fused path folds each norm into its product: rms_norm(x) @ W.T = s * (x @ (W * g).T) with s = 1/rms(x)
per row, the gradient kernels scale their rows by s too, and s's own gradient is (x . grad_x) / s. This
runs the Triton kernels (small tiles, float32: the interpreter's bf16 products are wrong) on a one-layer
shape and prints the relative difference of each gradient from the reference's; they should be ~1e-7.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path[0] = str(Path(__file__).resolve().parent.parent)  # bench/tokenize.py would shadow the standard library's

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from webcorpus.train import fused_linear as fl  # noqa: E402
from webcorpus.train.model import RMSNorm, Rotary  # noqa: E402

B, T, H, D = 2, 32, 2, 16
C = H * D


def attend(q, k, v):
    return F.scaled_dot_product_attention(*(t.transpose(1, 2) for t in (q, k, v)), is_causal=True).transpose(1, 2)


def main() -> None:
    if fl.triton is None or os.environ.get("TRITON_INTERPRET") != "1":
        sys.exit("run as TRITON_INTERPRET=1 python bench/folded_norms_cpu.py, with Triton installed")
    # Small tiles for the interpreter, the Triton kernels only (Gluon has no interpreter), and a grid of 4
    # programs in place of the GPU's multiprocessor count.
    small = {"BM": 32, "BN": 32, "BK": 16, "SPLIT": 1, "WS": False, "num_stages": 1, "PER_SM": 1}
    for kind in ("rotary", "gelu", "gelu_grad"):
        fl.CONFIGS[kind] = dict(fl.CONFIGS[kind], **small)
    fl.PINGPONG = False
    fl._programs = lambda device: 4

    torch.manual_seed(0)
    h = torch.randn(B, T, C, requires_grad=True)
    norm = RMSNorm(C)
    with torch.no_grad():
        norm.weight.copy_(1 + 0.3 * torch.randn(C))
    w_qkv = (torch.randn(3 * C, C) / C**0.5).requires_grad_()
    w_up = (torch.randn(4 * C, C) / C**0.5).requires_grad_()
    w_down = (torch.randn(C, 4 * C) / (4 * C) ** 0.5).requires_grad_()
    rotary = Rotary(D, T, 10_000.0)
    weights = torch.arange(C) / C  # so that every output channel of attention matters differently

    def reference():
        q, k, v = (norm(h) @ w_qkv.T).view(B, T, 3, H, D).unbind(2)
        a = attend(rotary(q), rotary(k), v)
        m = F.gelu(norm(h) @ w_up.T, approximate="tanh") @ w_down.T
        return (a.reshape(B, T, C) * weights).sum() + (m * m).sum()

    def folded():
        flat, scale, w = fl._rows(h, torch.float32, norm, w_qkv)
        q, k, v = fl.RotaryQKV.apply(flat, fl.pair_order(w, H), rotary.cos, rotary.sin, T, H, scale)
        a = attend(q, k, v)  # q and k in pair order, v (and so the output) in model.py's
        flat, scale, w = fl._rows(h, torch.float32, norm, w_up)
        m = fl.GeluMLP.apply(flat, w, w_down, scale).view(B, T, C)
        return (a.reshape(B, T, C) * weights).sum() + (m * m).sum()

    parameters = {"x": h, "qkv.weight": w_qkv, "up.weight": w_up, "down.weight": w_down, "norm.weight": norm.weight}
    results = []
    for run in (reference, folded):
        for p in parameters.values():
            p.grad = None
        loss = run()
        loss.backward()
        results.append((loss.item(), {name: p.grad.clone() for name, p in parameters.items()}))
    (want_loss, want), (got_loss, got) = results
    print(f"loss {got_loss:.6f} folded vs {want_loss:.6f} unfused")
    for name in parameters:
        difference = float((got[name] - want[name]).norm() / want[name].norm())
        print(f"  gradient of {name:<12} relative difference {difference:.1e}")


if __name__ == "__main__":
    main()

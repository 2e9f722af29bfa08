"""The fused matrix products of webcorpus/train/fused_linear.py against cuBLAS plus torch.compile's
elementwise kernels, at GPT-2 small's shapes (width 768, 12 heads, context 1024), on a GPU.

    python bench/gpu/fused_linear.py [--rows 65536] [--sweep]

Each function is timed (median of triton.testing.do_bench) beside the unfused pair it replaces: the
matrix product through torch (cuBLAS) and the elementwise work compiled by torch.compile; the MLP's two
products also on pingpong.py's Gluon kernel (`kernels: fused_pingpong`). --sweep also times every tile
configuration in CONFIGS for each function. Correctness is tested: `python -m pytest -m gpu tests/test_kernels.py`.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

from webcorpus.train.kernels import fused_linear as fl

WIDTH, HEADS, CONTEXT = 768, 12, 1024
HEAD_DIM = WIDTH // HEADS
CONFIGS = [
    {"BM": 128, "BN": 256, "BK": 64, "SPLIT": 2, "num_stages": 3, "num_warps": 8},
    {"BM": 128, "BN": 256, "BK": 64, "SPLIT": 2, "num_stages": 3, "num_warps": 8, "WS": True},
    {"BM": 128, "BN": 256, "BK": 64, "SPLIT": 4, "num_stages": 3, "num_warps": 8, "WS": True},
    {"BM": 128, "BN": 128, "BK": 64, "SPLIT": 4, "num_stages": 3, "num_warps": 8, "PER_SM": 2},
    {"BM": 128, "BN": 128, "BK": 64, "SPLIT": 4, "num_stages": 3, "num_warps": 8, "PER_SM": 2, "WS": True},
    {"BM": 128, "BN": 128, "BK": 64, "SPLIT": 2, "num_stages": 3, "num_warps": 8, "PER_SM": 2},
    {"BM": 128, "BN": 128, "BK": 64, "SPLIT": 1, "num_stages": 3, "num_warps": 8, "PER_SM": 2},
]


def gelu(x: torch.Tensor) -> torch.Tensor:
    return F.gelu(x, approximate="tanh")


def rotate(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """model.py's rotary on (B, T, H, D)."""
    x1, x2 = x.chunk(2, dim=-1)
    c, s = cos[None, : x.size(1), None, :].to(x.dtype), sin[None, : x.size(1), None, :].to(x.dtype)
    return torch.cat((x1 * c - x2 * s, x1 * s + x2 * c), dim=-1)


def rotary_tables(device) -> tuple[torch.Tensor, torch.Tensor]:
    inv_freq = 1.0 / (10_000.0 ** (torch.arange(0, HEAD_DIM, 2, dtype=torch.float32) / HEAD_DIM))
    angles = torch.outer(torch.arange(CONTEXT, dtype=torch.float32), inv_freq).to(device)
    return angles.cos().contiguous(), angles.sin().contiguous()


def timings(rows: int, device: str, sweep: bool, best_out: str | None) -> list[str]:
    import triton

    bf = dict(device=device, dtype=torch.bfloat16)

    def ms(fn) -> float:
        return triton.testing.do_bench(fn, warmup=50, rep=300, return_mode="median")

    x, w_up = torch.randn(rows, WIDTH, **bf), torch.randn(4 * WIDTH, WIDTH, **bf) / WIDTH**0.5
    grad, w_down = torch.randn(rows, WIDTH, **bf), torch.randn(WIDTH, 4 * WIDTH, **bf) / (4 * WIDTH) ** 0.5
    w_qkv = torch.randn(3 * WIDTH, WIDTH, **bf) / WIDTH**0.5
    cos, sin = rotary_tables(device)
    pre = x @ w_up.T
    B = rows // CONTEXT
    dq = torch.randn(B, HEADS, CONTEXT, HEAD_DIM, **bf).transpose(1, 2)
    dk = torch.randn(B, HEADS, CONTEXT, HEAD_DIM, **bf).transpose(1, 2)
    dv = torch.randn(B, HEADS, CONTEXT, HEAD_DIM, **bf).transpose(1, 2)

    compiled_gelu = torch.compile(gelu)
    gelu_grad = torch.compile(lambda g, p: torch.ops.aten.gelu_backward(g, p, approximate="tanh"))

    @torch.compile
    def qkv_rotary(x, w):
        q, k, v = (x @ w.T).view(B, CONTEXT, 3, HEADS, HEAD_DIM).unbind(2)
        return rotate(q, cos, sin), rotate(k, cos, sin), v

    @torch.compile
    def rotary_backward(dq, dk, dv):
        # The gradient torch.compile derives for model.py's rotary + unbind, on given dq, dk, dv.
        dq1, dq2 = dq.chunk(2, -1)
        dk1, dk2 = dk.chunk(2, -1)
        c, s = cos[None, :, None, :].to(dq.dtype), sin[None, :, None, :].to(dq.dtype)
        return torch.stack((torch.cat((dq1 * c + dq2 * s, dq2 * c - dq1 * s), -1),
                            torch.cat((dk1 * c + dk2 * s, dk2 * c - dk1 * s), -1), dv), 2).view(rows, -1)  # fmt: skip

    flops_up = 2 * rows * WIDTH * 4 * WIDTH
    lines = []

    def row(name: str, base: float, fused: float, flops: int) -> None:
        lines.append(f"{name:<28} {base:7.3f} ms -> {fused:7.3f} ms  ({base / fused:4.2f}x; fused at "
                     f"{flops / fused / 1e9:5.0f} TFLOP/s)")  # fmt: skip

    cublas_up = ms(lambda: x @ w_up.T)
    lines.append(f"cuBLAS x @ w_up.T            {cublas_up:7.3f} ms ({flops_up / cublas_up / 1e9:.0f} TFLOP/s)")
    cublas_dn = ms(lambda: grad @ w_down)
    lines.append(f"cuBLAS grad @ w_down         {cublas_dn:7.3f} ms ({flops_up / cublas_dn / 1e9:.0f} TFLOP/s)")
    base_gelu, base_grad = ms(lambda: compiled_gelu(x @ w_up.T)), ms(lambda: gelu_grad(grad @ w_down, pre))
    base_rotary = ms(lambda: qkv_rotary(x, w_qkv))
    best: dict[str, tuple[float, dict]] = {}

    def timed(name: str, fn, cfg: dict) -> float:
        took = ms(fn)
        if name not in best or took < best[name][0]:
            best[name] = (took, cfg)
        return took

    for cfg in CONFIGS if sweep else [None]:
        lines.append("[" + " ".join(f"{k}={v}" for k, v in cfg.items()) + "]" if cfg else "[the default kernels]")
        try:
            row("  plain product (vs cuBLAS)", cublas_up, timed("plain", lambda c=cfg: fl.matmul(x, w_up, c), cfg),
                flops_up)  # fmt: skip
            row("  linear_gelu", base_gelu, timed("gelu", lambda c=cfg: fl.linear_gelu(x, w_up, c), cfg), flops_up)
            fused = timed("gelu_grad", lambda c=cfg: fl.linear_gelu_grad(grad, w_down, pre, c), cfg)
            row("  linear_gelu_grad", base_grad, fused, flops_up)
            if cfg is None:  # the Gluon ping-pong kernel (kernels: fused_pingpong) beside the Triton one
                fused = ms(lambda: fl.linear_gelu(x, w_up, pingpong_kernel=True))
                row("  linear_gelu (ping-pong)", base_gelu, fused, flops_up)
                fused = ms(lambda: fl.linear_gelu_grad(grad, w_down, pre, pingpong_kernel=True))
                row("  linear_gelu_grad (ping-pong)", base_grad, fused, flops_up)
            if fl.tiles_fit(cfg or fl.CONFIGS["rotary"], WIDTH, HEAD_DIM):
                fused = timed("rotary", lambda c=cfg: fl.linear_rotary(x, w_qkv, cos, sin, CONTEXT, HEAD_DIM, c), cfg)
                row("  linear_rotary", base_rotary, fused, flops_up * 3 // 4)
        except Exception as error:  # a configuration that does not compile (shared memory) is skipped
            lines.append(f"  failed: {type(error).__name__}: {str(error)[-1500:]}")
    bytes_moved = 2 * 2 * rows * 3 * WIDTH
    base = ms(lambda: rotary_backward(dq, dk, dv))
    for per_program in (32, 64, 128):
        fused = ms(lambda n=per_program: fl.rotary_grad(dq, dk, dv, cos, sin, n))
        lines.append(f"rotary_grad ({per_program:3d} rows)       {base:7.3f} ms -> {fused:7.3f} ms "
                     f"({base / fused:4.2f}x; {bytes_moved / fused / 1e9:.2f} TB/s)")  # fmt: skip
    if sweep:
        for name, (took, cfg) in best.items():
            lines.append(f"best {name:<10} {took:.3f} ms  {json.dumps(cfg)}")
        if best_out:
            Path(best_out).write_text(json.dumps({name: cfg for name, (_, cfg) in best.items()}, indent=1))
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=65_536, help="tokens per product (micro-batch x 1024)")
    parser.add_argument("--sweep", action="store_true", help="time every configuration in CONFIGS")
    parser.add_argument("--best-out", help="with --sweep: write the fastest configuration of each kernel (JSON)")
    args = parser.parse_args()
    if not torch.cuda.is_available() or not fl.available(torch.empty(0, device="cuda")):
        sys.exit("bench/gpu/fused_linear.py needs a Hopper GPU (compute capability 9.x, H100 or H200) and Triton")
    torch.manual_seed(0)
    print(f"{torch.cuda.get_device_name()}, torch {torch.__version__}, rows {args.rows}")
    print("\n".join(timings(args.rows, "cuda", args.sweep, args.best_out)))


if __name__ == "__main__":
    main()

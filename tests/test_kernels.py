"""The trainer's GPU kernels (webcorpus/train/kernels/) against plain torch.

The folded RMSNorms run on the CPU through Triton's interpreter (when Triton is installed). Everything
else needs a Hopper GPU and carries the `gpu` marker: `python -m pytest -m gpu tests/test_kernels.py`
on an H100/H200; CI has no GPU and skips them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
import torch.nn.functional as F  # noqa: E402

from webcorpus.train.config import GPTConfig  # noqa: E402
from webcorpus.train.kernels import fused_linear as fl  # noqa: E402
from webcorpus.train.kernels import fused_loss, pingpong  # noqa: E402
from webcorpus.train.model import GPT, RMSNorm, Rotary  # noqa: E402

HOPPER = torch.cuda.is_available() and torch.cuda.get_device_capability()[0] == 9 and fl.triton is not None
gpu = pytest.mark.skipif(not HOPPER, reason="needs a Hopper GPU (H100, H200) and Triton")
WIDTH, HEADS, CONTEXT = 768, 12, 1024
HEAD_DIM = WIDTH // HEADS


def gelu(x: torch.Tensor) -> torch.Tensor:
    return F.gelu(x, approximate="tanh")


def rotate(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """model.py's rotary on (B, T, H, D)."""
    x1, x2 = x.chunk(2, dim=-1)
    c, s = cos[None, : x.size(1), None, :].to(x.dtype), sin[None, : x.size(1), None, :].to(x.dtype)
    return torch.cat((x1 * c - x2 * s, x1 * s + x2 * c), dim=-1)


def to_pairs(x: torch.Tensor) -> torch.Tensor:
    """Channels of each head from model.py's layout (i with i + D/2) to pair order (2i with 2i+1)."""
    return x.unflatten(-1, (2, x.size(-1) // 2)).transpose(-1, -2).flatten(-2)


def from_pairs(x: torch.Tensor) -> torch.Tensor:
    return x.unflatten(-1, (x.size(-1) // 2, 2)).transpose(-1, -2).flatten(-2)


def relative_error(got: torch.Tensor, want: torch.Tensor) -> float:
    return ((got.double() - want.double()).norm() / want.double().norm()).item()


def attend(q, k, v):
    return F.scaled_dot_product_attention(*(t.transpose(1, 2) for t in (q, k, v)), is_causal=True).transpose(1, 2)


# ---- CPU, through Triton's interpreter ------------------------------------------------------------


def folded_norms_check() -> dict[str, float]:
    """One layer's attention projection and MLP with the norms folded into the Triton products (small
    tiles, float32: the interpreter's bf16 products are wrong), against model.py's unfused arithmetic.
    Returns the relative difference of the loss and of each gradient. Run under TRITON_INTERPRET=1."""
    B, T, H, D = 2, 32, 2, 16
    C = H * D
    small = {"BM": 32, "BN": 32, "BK": 16, "SPLIT": 1, "WS": False, "num_stages": 1, "PER_SM": 1}
    for kind in ("rotary", "gelu", "gelu_grad"):
        fl.CONFIGS[kind] = dict(fl.CONFIGS[kind], **small)
    fl._programs = lambda device: 4  # the grid of a GPU's multiprocessors, here four programs

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
        m = fl.GeluMLP.apply(flat, w, w_down, scale, False).view(B, T, C)
        return (a.reshape(B, T, C) * weights).sum() + (m * m).sum()

    parameters = {"x": h, "qkv.weight": w_qkv, "up.weight": w_up, "down.weight": w_down, "norm.weight": norm.weight}
    results = []
    for run in (reference, folded):
        for p in parameters.values():
            p.grad = None
        loss = run()
        loss.backward()
        results.append((loss.detach(), {name: p.grad.clone() for name, p in parameters.items()}))
    (want_loss, want), (got_loss, got) = results
    return {"loss": relative_error(got_loss, want_loss)} | {n: relative_error(got[n], want[n]) for n in parameters}


@pytest.mark.skipif(fl.triton is None, reason="needs Triton (pip install triton) for its CPU interpreter")
def test_folded_norms_match_the_unfused_model_on_the_cpu():
    # A fresh process: TRITON_INTERPRET is read when the kernels are defined, at import.
    code = f"import json, sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); import test_kernels as t; " \
        "print(json.dumps(t.folded_norms_check()))"  # fmt: skip
    env = {**os.environ, "TRITON_INTERPRET": "1"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    differences = json.loads(done.stdout.strip().splitlines()[-1])
    assert set(differences) == {"loss", "x", "qkv.weight", "up.weight", "down.weight", "norm.weight"}
    assert all(d < 1e-5 for d in differences.values()), differences


# ---- GPU ------------------------------------------------------------------------------------------


@pytest.mark.gpu
@gpu
@pytest.mark.parametrize("pingpong_kernel", [False, True], ids=["triton", "pingpong"])
def test_fused_products_against_float64(pingpong_kernel):
    if pingpong_kernel and not pingpong.available():
        pytest.fail(f"Gluon missing: {pingpong.MISSING}")
    rows, device = 8 * CONTEXT, "cuda"
    bf = dict(device=device, dtype=torch.bfloat16)
    torch.manual_seed(0)
    x, w_up = torch.randn(rows, WIDTH, **bf), torch.randn(4 * WIDTH, WIDTH, **bf) / WIDTH**0.5
    pre64 = x.double() @ w_up.double().T
    grad, w_down = torch.randn(rows, WIDTH, **bf), torch.randn(WIDTH, 4 * WIDTH, **bf) / (4 * WIDTH) ** 0.5
    pre, act = fl.linear_gelu(x, w_up, pingpong_kernel=pingpong_kernel)
    assert relative_error(pre, pre64) < 5e-3 and relative_error(act, gelu(pre64)) < 5e-3
    p = pre.double().requires_grad_()
    gelu(p).backward(grad.double() @ w_down.double())
    assert relative_error(fl.linear_gelu_grad(grad, w_down, pre, pingpong_kernel=pingpong_kernel), p.grad) < 5e-3

    inv_freq = 1.0 / (10_000.0 ** (torch.arange(0, HEAD_DIM, 2, dtype=torch.float32) / HEAD_DIM))
    angles = torch.outer(torch.arange(CONTEXT, dtype=torch.float32), inv_freq).to(device)
    cos, sin = angles.cos().contiguous(), angles.sin().contiguous()
    w_qkv = fl.pair_order(torch.randn(3 * WIDTH, WIDTH, **bf) / WIDTH**0.5, HEADS)
    ref = (x.double() @ w_qkv.double().T).view(-1, CONTEXT, 3, HEADS, HEAD_DIM).requires_grad_()
    c64, s64 = cos.double(), sin.double()
    want = (to_pairs(rotate(from_pairs(ref[:, :, 0]), c64, s64)), to_pairs(rotate(from_pairs(ref[:, :, 1]), c64, s64)),
            ref[:, :, 2])  # fmt: skip
    got = fl.linear_rotary(x, w_qkv, cos, sin, CONTEXT, HEAD_DIM)
    assert all(relative_error(g, w.reshape(rows, WIDTH)) < 5e-3 for g, w in zip(got, want))
    # Upstream gradients in the layouts cuDNN's attention backward may give.
    B = rows // CONTEXT
    dq = torch.randn(B, HEADS, CONTEXT, HEAD_DIM, **bf).transpose(1, 2)
    dk = torch.randn(B, CONTEXT, HEADS, HEAD_DIM, **bf)
    dv = torch.randn(B, HEADS, CONTEXT, HEAD_DIM, **bf).transpose(1, 2)
    torch.autograd.backward(want, (dq.double(), dk.double(), dv.double()))
    assert relative_error(fl.rotary_grad(dq, dk, dv, cos, sin), ref.grad.view(rows, -1)) < 5e-3


@pytest.mark.gpu
@gpu
def test_fused_loss_against_cross_entropy():
    rows, vocab, width, device = 8192, 50_304, 768, "cuda"
    torch.manual_seed(0)
    x = torch.randn(rows, width, device=device, requires_grad=True)
    weight = (torch.randn(vocab, width, device=device) * 0.02).requires_grad_()
    targets = torch.randint(0, vocab, (rows,), device=device)
    results = []
    for fused in (True, False):
        x.grad = weight.grad = None
        with torch.autocast("cuda", dtype=torch.bfloat16):
            if fused:
                loss = fused_loss.head_cross_entropy(x, weight, targets)
            else:
                loss = F.cross_entropy(F.linear(x, weight), targets)
        (loss * 3.0).backward()
        results.append((loss.detach().float(), x.grad.clone(), weight.grad.clone()))
    (fused_l, fused_gx, fused_gw), (plain_l, plain_gx, plain_gw) = results
    assert abs(float(fused_l) - float(plain_l)) < 1e-3
    assert relative_error(fused_gx, plain_gx) < 1e-2 and relative_error(fused_gw, plain_gw) < 1e-2


@pytest.mark.gpu
@gpu
@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "compiled"])
@pytest.mark.parametrize("kernels", ["fused", "fused_pingpong"])
def test_fused_model_matches_the_torch_model(kernels, compiled):
    """Two layers of the gpt2-124m shape under bf16 autocast: same loss, every gradient within 1%."""
    idx = torch.randint(0, 50_304, (4, CONTEXT + 1), device="cuda", generator=torch.Generator("cuda").manual_seed(1))
    results = []
    for choice in (kernels, "torch"):
        torch.manual_seed(0)
        model = GPT(GPTConfig(n_layer=2, kernels=choice)).cuda()
        run = torch.compile(model) if compiled else model
        with torch.autocast("cuda", dtype=torch.bfloat16):
            _, loss = run(idx[:, :-1], idx[:, 1:])
        loss.backward()
        results.append((float(loss), {n: p.grad.clone() for n, p in model.named_parameters()}))
    (fused, fused_grads), (plain, plain_grads) = results
    assert abs(fused - plain) < 1e-3 * plain
    worst = max(relative_error(fused_grads[n], plain_grads[n]) for n in plain_grads)
    assert worst < 1e-2


@pytest.mark.gpu
@gpu
def test_pingpong_needs_gluon_or_says_so(monkeypatch):
    monkeypatch.setattr(pingpong, "gluon", None)
    monkeypatch.setattr(pingpong, "MISSING", "no module named gluon (test)")
    x = torch.randn(1024, 768, device="cuda", dtype=torch.bfloat16)
    w = torch.randn(3072, 768, device="cuda", dtype=torch.bfloat16)
    with pytest.raises(RuntimeError, match="kernels 'fused_pingpong' needs Gluon"):
        fl.linear_gelu(x, w, pingpong_kernel=True)
    assert fl.linear_gelu(x, w)[0].shape == (1024, 3072)  # the Triton kernel does not need Gluon

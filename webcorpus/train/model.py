"""A decoder-only transformer in one file: token embedding, rotary positions, RMSNorm, causal attention
through `scaled_dot_product_attention`, a GELU MLP, and a tied or untied output head.

Modelled on nanoGPT's model.py; the differences are rotary positions instead of learned ones and RMSNorm
instead of LayerNorm, as in most models trained since, and, under bf16 autocast on a GPU, a residual
stream kept in bf16 as llm.c does (`residual_dtype`; nanoGPT keeps it in float32).
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
from torch.nn import functional as F

from webcorpus.train.config import GPTConfig
from webcorpus.train.kernels import fused_linear, fused_loss


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # The weight in the input's dtype: given a bf16 residual stream and a float32 weight, torch warns
        # that it cannot dispatch to its fused kernel.
        return F.rms_norm(x, (x.size(-1),), self.weight.to(x.dtype), self.eps)


class Rotary(nn.Module):
    """Rotary position embedding: each pair of channels of q and k is turned by an angle that grows with
    the position, so attention scores depend on relative distance."""

    def __init__(self, head_dim: int, context: int, base: float) -> None:
        super().__init__()
        inv_freq = 1.0 / (base ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim))
        angles = torch.outer(torch.arange(context, dtype=torch.float32), inv_freq)
        self.register_buffer("cos", angles.cos(), persistent=False)
        self.register_buffer("sin", angles.sin(), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: (B, T, heads, head_dim)
        T = x.size(1)
        cos, sin = self.cos[None, :T, None, :].to(x.dtype), self.sin[None, :T, None, :].to(x.dtype)
        # Channel i is paired with channel i + head_dim/2 (GPT-NeoX's layout): contiguous halves, which
        # compile to cheaper memory access than interleaved pairs.
        x1, x2 = x.chunk(2, dim=-1)
        return torch.cat((x1 * cos - x2 * sin, x1 * sin + x2 * cos), dim=-1)


class CausalSelfAttention(nn.Module):
    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        # Projection + rotary (+ the norm) in one Triton kernel on Hopper GPUs under autocast (fused_linear.py).
        self.fused = config.kernels != "torch"
        assert config.n_embd % config.n_head == 0
        self.n_head = config.n_head
        self.qkv = nn.Linear(config.n_embd, 3 * config.n_embd, bias=False)
        self.proj = nn.Linear(config.n_embd, config.n_embd, bias=False)
        self.rotary = Rotary(config.n_embd // config.n_head, config.context, config.rope_base)

    def forward(self, x: torch.Tensor, norm: RMSNorm) -> torch.Tensor:
        """Attention over norm(x); the fused path folds the norm into its product instead of writing it."""
        B, T, C = x.size()
        if self.fused and fused_linear.usable(x, C, C // self.n_head):
            q, k, v = fused_linear.rotary_qkv(x, self.qkv.weight, self.rotary.cos, self.rotary.sin, self.n_head, norm)
        else:
            q, k, v = self.qkv(norm(x)).view(B, T, 3, self.n_head, C // self.n_head).unbind(2)
            # Rotary in the (B, T, heads, head_dim) layout the projection wrote: rotating after the
            # transpose read memory with a stride, a large share of a GPT-2-small step (docs/training.md).
            q, k = self.rotary(q), self.rotary(k)
        q, k, v = (t.transpose(1, 2) for t in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)  # flash attention where available
        return self.proj(y.transpose(1, 2).contiguous().view(B, T, C))


class MLP(nn.Module):
    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        # GELU and its gradient (+ the norm) inside the matrix products on Hopper GPUs (fused_linear.py).
        self.fused = config.kernels != "torch"
        self.pingpong = config.kernels == "fused_pingpong"
        self.up = nn.Linear(config.n_embd, 4 * config.n_embd, bias=False)
        self.down = nn.Linear(4 * config.n_embd, config.n_embd, bias=False)

    def forward(self, x: torch.Tensor, norm: RMSNorm) -> torch.Tensor:
        """The MLP of norm(x); the fused path folds the norm into its first product, as attention does."""
        if self.fused and fused_linear.usable(x, x.size(-1)):
            return fused_linear.gelu_mlp(x, self.up.weight, self.down.weight, norm, self.pingpong)
        return self.down(F.gelu(self.up(norm(x)), approximate="tanh"))


def compile_model(model: nn.Module, mode: str | None = None) -> nn.Module:
    """torch.compile, with Inductor's pipelining of the RMSNorm backward kernel turned on where torch has
    the setting and leaves it off (torch 2.11): that kernel reads two rows per step of its loop, and
    without it waits on each read (docs/training.md). torch.compile takes a mode or settings, not both:
    given a mode (the bench's experiments), the setting is left out."""
    import torch._inductor.config as inductor_config  # not loaded by `import torch`

    triton_settings = inductor_config.triton
    if mode is None and hasattr(triton_settings, "mix_order_reduction_allow_multi_stages"):
        return torch.compile(model, options={"triton.mix_order_reduction_allow_multi_stages": True})
    return torch.compile(model, mode=mode)


class Block(nn.Module):
    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        self.norm1, self.attn = RMSNorm(config.n_embd), CausalSelfAttention(config)
        self.norm2, self.mlp = RMSNorm(config.n_embd), MLP(config)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(x, self.norm1)
        return x + self.mlp(x, self.norm2)


class GPT(nn.Module):
    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        self.config = config
        self.embed = nn.Embedding(config.vocab_size, config.n_embd)
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.n_layer))
        self.norm = RMSNorm(config.n_embd)
        self.head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        if config.tie_embeddings:
            self.head.weight = self.embed.weight
        self.apply(self._init_weights)
        for name, parameter in self.named_parameters():
            if name.endswith("proj.weight") or name.endswith("down.weight"):
                # GPT-2's scaled init of the layers that write into the residual stream.
                nn.init.normal_(parameter, mean=0.0, std=0.02 / math.sqrt(2 * config.n_layer))

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())  # a tied head is counted once

    def flops_per_token(self, context: int | None = None) -> int:
        """Training FLOPs per token: 6 per parameter plus attention's 12 * layers * width * context."""
        T = context or self.config.context
        return 6 * self.num_params() + 12 * self.config.n_layer * self.config.n_embd * T

    def forward(self, idx: torch.Tensor, targets: torch.Tensor | None = None):
        """(logits, None) without targets; (logits or None, mean loss) with them."""
        x = self.embed(idx)
        if torch.is_autocast_enabled(x.device.type):
            x = x.to(getattr(torch, self.config.residual_dtype))
        for block in self.blocks:
            x = block(x)
        x = self.norm(x)
        if targets is None:
            return self.head(x), None
        if self.config.kernels != "torch" and fused_loss.available(x):
            # The logits are overwritten by their gradient inside the loss (see fused_loss.py): none to return.
            return None, fused_loss.head_cross_entropy(x.view(-1, x.size(-1)), self.head.weight, targets.reshape(-1))
        logits = self.head(x)
        # No explicit .float(): autocast runs cross_entropy in float32 anyway, and left to torch.compile the
        # upcast fuses into the loss kernel instead of writing a float32 copy of all the logits.
        loss = F.cross_entropy(logits.view(-1, logits.size(-1)), targets.reshape(-1))
        return logits, loss

    @torch.no_grad()
    def generate(self, idx: torch.Tensor, max_new_tokens: int, temperature: float = 1.0, top_k: int | None = None):
        for _ in range(max_new_tokens):
            logits, _ = self(idx[:, -self.config.context :])
            logits = logits[:, -1, :] / max(temperature, 1e-6)
            if top_k is not None:
                kth = torch.topk(logits, min(top_k, logits.size(-1))).values[:, [-1]]
                logits[logits < kth] = -float("inf")
            idx = torch.cat((idx, torch.multinomial(F.softmax(logits, dim=-1), num_samples=1)), dim=1)
        return idx

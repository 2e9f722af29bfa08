"""model.py's GPT in plain JAX, in one file: token embedding, rotary positions, RMSNorm, causal
attention, a GELU MLP, a tied or untied head.

The parameters are a flat dictionary with model.py's names and shapes (torch's (out, in) for linear
weights; the head is absent when tied), so a checkpoint of either backend loads into the other as it
is and the cross-check test starts both from the same weights. The initialisation is model.py's:
normal(0.02) for every matrix, 0.02 / sqrt(2 * layers) for the two that write into the residual stream,
ones for the norms; the numbers differ only because JAX's generator is not torch's.

`dtype` is the matrix products' dtype: float32 on a CPU, bfloat16 on a GPU, as the PyTorch trainer's
autocast. Parameters stay float32; norms, softmax and the loss run in float32.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from webcorpus.train.config import GPTConfig


def param_shapes(config: GPTConfig) -> dict[str, tuple[int, ...]]:
    """Each parameter's name and shape, as model.py's state_dict names them."""
    C, V = config.n_embd, config.vocab_size
    shapes: dict[str, tuple[int, ...]] = {"embed.weight": (V, C)}
    for i in range(config.n_layer):
        shapes |= {
            f"blocks.{i}.norm1.weight": (C,),
            f"blocks.{i}.attn.qkv.weight": (3 * C, C),
            f"blocks.{i}.attn.proj.weight": (C, C),
            f"blocks.{i}.norm2.weight": (C,),
            f"blocks.{i}.mlp.up.weight": (4 * C, C),
            f"blocks.{i}.mlp.down.weight": (C, 4 * C),
        }
    shapes["norm.weight"] = (C,)
    if not config.tie_embeddings:
        shapes["head.weight"] = (V, C)
    return shapes


def init_params(config: GPTConfig, key: jax.Array) -> dict[str, jax.Array]:
    """model.py's initialisation scheme, drawn from a JAX key."""
    params = {}
    shapes = param_shapes(config)
    for (name, shape), subkey in zip(shapes.items(), jax.random.split(key, len(shapes))):
        if len(shape) == 1:
            params[name] = jnp.ones(shape, jnp.float32)
            continue
        std = 0.02 / math.sqrt(2 * config.n_layer) if name.endswith(("proj.weight", "down.weight")) else 0.02
        params[name] = std * jax.random.normal(subkey, shape, jnp.float32)
    return params


def decays(params: dict[str, jax.Array]) -> dict[str, bool]:
    """Weight decay on the matrices, not on the norms (the PyTorch trainer's two groups)."""
    return {name: p.ndim >= 2 for name, p in params.items()}


def num_params(config: GPTConfig) -> int:
    return sum(math.prod(shape) for shape in param_shapes(config).values())  # a tied head counted once


def flops_per_token(config: GPTConfig) -> int:
    """Training FLOPs per token, counted as model.py counts them."""
    return 6 * num_params(config) + 12 * config.n_layer * config.n_embd * config.context


def rotary_tables(config: GPTConfig) -> tuple[np.ndarray, np.ndarray]:
    """cos and sin of each position's angles, (context, head_dim / 2), float32 as model.py's Rotary."""
    head_dim = config.n_embd // config.n_head
    inv_freq = 1.0 / (config.rope_base ** (np.arange(0, head_dim, 2, dtype=np.float32) / head_dim))
    angles = np.outer(np.arange(config.context, dtype=np.float32), inv_freq.astype(np.float32))
    return np.cos(angles), np.sin(angles)


def rms_norm(x: jax.Array, weight: jax.Array, eps: float = 1e-6) -> jax.Array:
    xf = x.astype(jnp.float32)
    y = xf * jax.lax.rsqrt(jnp.mean(xf * xf, axis=-1, keepdims=True) + eps)
    return (y * weight).astype(x.dtype)


def linear(x: jax.Array, weight: jax.Array, dtype: jnp.dtype) -> jax.Array:
    """x @ weight.T with weight in torch's (out, in) layout, in `dtype` (the autocast of model.py)."""
    return jnp.einsum("...i,oi->...o", x.astype(dtype), weight.astype(dtype))


def rotate(x: jax.Array, cos: np.ndarray, sin: np.ndarray) -> jax.Array:
    """Rotary on (B, T, heads, head_dim); channel i turns with channel i + head_dim/2, as model.py."""
    T = x.shape[1]
    c, s = jnp.asarray(cos[None, :T, None, :], x.dtype), jnp.asarray(sin[None, :T, None, :], x.dtype)
    x1, x2 = jnp.split(x, 2, axis=-1)
    return jnp.concatenate((x1 * c - x2 * s, x1 * s + x2 * c), axis=-1)


def attention(
    params: dict[str, jax.Array], prefix: str, x: jax.Array, config: GPTConfig, dtype: jnp.dtype, impl: str | None
) -> jax.Array:
    B, T, C = x.shape
    H = config.n_head
    qkv = linear(x, params[prefix + "qkv.weight"], dtype).reshape(B, T, 3, H, C // H)
    q, k, v = qkv[:, :, 0], qkv[:, :, 1], qkv[:, :, 2]
    cos, sin = rotary_tables(config)
    q, k = rotate(q, cos, sin), rotate(k, cos, sin)
    # (B, T, heads, head_dim) is the layout dot_product_attention takes: no transposes. impl "cudnn" is
    # flash attention on NVIDIA GPUs; None is XLA's own (any device).
    y = jax.nn.dot_product_attention(q, k, v, is_causal=True, implementation=impl)
    return linear(y.reshape(B, T, C), params[prefix + "proj.weight"], dtype)


def mlp(params: dict[str, jax.Array], prefix: str, x: jax.Array, dtype: jnp.dtype) -> jax.Array:
    hidden = jax.nn.gelu(linear(x, params[prefix + "up.weight"], dtype), approximate=True)
    return linear(hidden, params[prefix + "down.weight"], dtype)


def forward(
    params: dict[str, jax.Array],
    idx: jax.Array,
    config: GPTConfig,
    dtype: jnp.dtype = jnp.float32,
    impl: str | None = None,
) -> jax.Array:
    """Logits (B, T, vocab) of token ids (B, T), in `dtype`."""
    x = params["embed.weight"][idx]
    # The residual stream in residual_dtype under reduced precision, as model.py under autocast.
    x = x.astype(jnp.dtype(config.residual_dtype) if dtype != jnp.float32 else jnp.float32)
    for i in range(config.n_layer):
        p = f"blocks.{i}."
        x = x + attention(params, p + "attn.", rms_norm(x, params[p + "norm1.weight"]), config, dtype, impl).astype(
            x.dtype
        )
        x = x + mlp(params, p + "mlp.", rms_norm(x, params[p + "norm2.weight"]), dtype).astype(x.dtype)
    x = rms_norm(x, params["norm.weight"])
    head = params["embed.weight"] if config.tie_embeddings else params["head.weight"]
    return linear(x, head, dtype)


def loss_fn(
    params: dict[str, jax.Array],
    x: jax.Array,
    y: jax.Array,
    config: GPTConfig,
    dtype: jnp.dtype = jnp.float32,
    impl: str | None = None,
) -> jax.Array:
    """Mean cross-entropy of the targets y, computed in float32 as torch's under autocast."""
    logits = forward(params, x, config, dtype, impl).astype(jnp.float32)
    picked = jnp.take_along_axis(logits, y[..., None], axis=-1)[..., 0]
    return jnp.mean(jax.nn.logsumexp(logits, axis=-1) - picked)

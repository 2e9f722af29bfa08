"""The same token shards feeding a JAX training loop, through the NumPy reader (no torch import).

    python -m webcorpus.train.jax_example out/fineweb-sample/tokens

A bigram model (one table of logits per previous token) trained with plain gradient descent: small
enough to read at a glance, real enough to show the loss falling on the pipeline's shards.
"""

from __future__ import annotations

import sys

import numpy as np

from webcorpus.tokens.shards import TokenShards


def batches(shards: TokenShards, batch_size: int, context: int, seed: int = 0):
    """Deterministic (inputs, targets) batches as NumPy int32 arrays; jnp.asarray takes them as they are."""
    step = 0
    while True:
        starts = np.random.default_rng([seed, step]).integers(0, len(shards) - context - 1, batch_size)
        rows = np.stack([shards.window(int(s), context + 1) for s in starts]).astype(np.int32)
        yield rows[:, :-1], rows[:, 1:]
        step += 1


def main(tokens_dir: str, steps: int = 50, lr: float = 1.0) -> list[float]:
    import jax
    import jax.numpy as jnp

    shards = TokenShards(tokens_dir, "train")
    vocab = int(max(s.tokens.max() for s in shards.shards)) + 1
    table = jnp.zeros((vocab, vocab))

    def loss_fn(table, x, y):
        logits = table[x]
        return -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(logits), y[..., None], axis=-1))

    @jax.jit
    def update(table, x, y):
        loss, grad = jax.value_and_grad(loss_fn)(table, x, y)
        return table - lr * vocab * grad, loss

    losses = []
    for step, (x, y) in zip(range(steps), batches(shards, batch_size=8, context=64)):
        table, loss = update(table, jnp.asarray(x), jnp.asarray(y))
        losses.append(float(loss))
        if step % 10 == 0 or step == steps - 1:
            print(f"step {step} loss {losses[-1]:.4f}")
    return losses


if __name__ == "__main__":
    main(sys.argv[1])

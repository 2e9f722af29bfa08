"""`webcorpus train --backend jax`: the PyTorch trainer's run (train.py) in plain JAX and optax.

The same TrainConfig, presets and model (jax_model.py), the same batches (common.Batches: the same
windows in the same order for a seed), AdamW with the same schedule, weight-decay groups and gradient
clipping, bf16 matrix products on a GPU, the validation loss on the same split, and the same log.

Data parallel without launchers: one process uses every local device of the backend (`--device`
narrows it), the parameters replicated and each micro-batch split along the batch axis by a
`jax.sharding` mesh; XLA adds the gradients' all-reduce. With N devices the batch is the N ranks'
windows of a torchrun run on N GPUs, in rank order, so both backends read the same data.

Checkpoints are OUT/ckpt.npz: the parameters under model.py's names, the optimiser's state and a JSON
dictionary, plain arrays read with allow_pickle=False (common.save_arrays). Resuming restores all of it;
the batches are a function of the step, so a resumed run computes the losses of an uninterrupted one.
`webcorpus sample OUT/ckpt.npz` loads the weights into model.py's GPT.
"""

from __future__ import annotations

import functools
import time
from dataclasses import asdict
from functools import partial
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from webcorpus.tokens.shards import TokenShards
from webcorpus.train import jax_model
from webcorpus.train.common import (
    Batches,
    StepLog,
    learning_rate,
    read_arrays,
    repeat_warning,
    save_arrays,
    step_record,
    vocab_size_of,
)
from webcorpus.train.config import GPTConfig, TrainConfig

CHECKPOINT = "ckpt.npz"


def pick_devices(name: str) -> list[jax.Device]:
    """--device for JAX: auto (every device of the default backend), cpu, cuda (every GPU), cuda:N."""
    if name == "auto":
        return jax.devices()
    if name == "cpu":
        return jax.devices("cpu")
    kind, _, index = name.partition(":")
    if kind not in ("cuda", "gpu"):
        raise ValueError(f"device '{name}': the JAX backend knows auto, cpu, cuda and cuda:N")
    try:
        gpus = jax.devices("gpu")
    except RuntimeError:
        raise ValueError(f"device '{name}': JAX sees no GPU (its CUDA build: pip install 'jax[cuda12]')") from None
    if index and not (index.isdigit() and int(index) < len(gpus)):
        raise ValueError(f"device '{name}': JAX sees {len(gpus)} GPU(s)")
    return [gpus[int(index)]] if index else gpus


def attention_implementation(device: jax.Device, dtype: jnp.dtype, config: GPTConfig) -> str | None:
    """cuDNN's flash attention on an NVIDIA GPU in bf16 where it compiles for the model's shape (forward
    and backward); XLA's attention otherwise, which JAX picks unless told and which writes the whole
    score matrix."""
    if device.platform != "gpu" or dtype != jnp.bfloat16:
        return None
    q = jnp.zeros((1, config.context, config.n_head, config.n_embd // config.n_head), dtype)

    def attend(q: jax.Array) -> jax.Array:
        out = jax.nn.dot_product_attention(q, q, q, is_causal=True, implementation="cudnn")
        return out.astype(jnp.float32).sum()

    try:
        jax.jit(jax.grad(attend)).lower(q).compile()
    except Exception:  # no cuDNN, or one too old for this shape: XLA's attention is correct, only slower
        return None
    return "cudnn"


def optimizer_of(config: TrainConfig, params: dict[str, jax.Array]) -> optax.GradientTransformation:
    """AdamW as torch's (eps 1e-8, decoupled decay scaled by the rate), the rate set at each step."""
    return optax.inject_hyperparams(optax.adamw)(
        learning_rate=config.lr,
        b1=config.beta1,
        b2=config.beta2,
        eps=1e-8,
        weight_decay=config.weight_decay,
        mask=jax_model.decays(params),
    )


def flat_state(tree: Any, prefix: str) -> dict[str, np.ndarray]:
    """A pytree (the optimiser's state) as named NumPy arrays."""
    leaves, _ = jax.tree_util.tree_flatten_with_path(tree)
    return {prefix + jax.tree_util.keystr(path): np.asarray(leaf) for path, leaf in leaves}


def restore_state(tree: Any, prefix: str, arrays: dict[str, np.ndarray], source: Path) -> Any:
    """`tree` with each leaf replaced by the array of the same name; a missing or reshaped one is an error."""
    leaves, treedef = jax.tree_util.tree_flatten_with_path(tree)
    restored = []
    for path, leaf in leaves:
        name = prefix + jax.tree_util.keystr(path)
        if name not in arrays or arrays[name].shape != np.shape(leaf):
            raise ValueError(f"{source}: '{name}' is missing or has another shape (a checkpoint of another model?)")
        restored.append(arrays[name].astype(np.asarray(leaf).dtype))
    return jax.tree_util.tree_unflatten(treedef, restored)


def save_checkpoint(
    path: Path, params: dict[str, jax.Array], opt_state: Any, step: int, config: TrainConfig, model: GPTConfig
) -> None:
    arrays = {f"model/{name}": np.asarray(p) for name, p in params.items()}
    arrays |= flat_state(opt_state, "optimizer/")
    state = {"step": step, "config": asdict(config), "model_config": asdict(model), "backend": "jax"}
    save_arrays(path, arrays, state)


def model_weights(arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The parameters of a checkpoint's arrays, under model.py's names."""
    return {name.removeprefix("model/"): a for name, a in arrays.items() if name.startswith("model/")}


def train(
    tokens_dir: str | Path,
    config: TrainConfig,
    resume: bool = False,
    log=print,
    devices: list[jax.Device] | None = None,
    ranks: int | None = None,
    init: dict[str, np.ndarray] | None = None,
) -> list[dict[str, Any]]:
    """Train; returns the logged records (also appended to OUT_DIR/log.jsonl).

    `devices`: the mesh (default: --device's); `ranks`: how many ranks' windows make a batch (default:
    one per device; the tests compute two ranks' batch on one device to compare). `init`: starting
    weights under model.py's names instead of fresh ones (the cross-check with the PyTorch trainer)."""
    tokens_dir, out = Path(tokens_dir), Path(config.out)
    devices = devices or pick_devices(config.device)
    ranks = ranks or len(devices)
    mesh = Mesh(np.array(devices), ("data",))
    replicated = NamedSharding(mesh, P())
    on_gpu = devices[0].platform == "gpu"
    dtype = jnp.bfloat16 if on_gpu else jnp.float32
    model_config = GPTConfig(**{"vocab_size": vocab_size_of(tokens_dir), **config.model})
    impl = attention_implementation(devices[0], dtype, model_config)
    train_split = TokenShards(tokens_dir, "train")
    train_batches = [
        Batches(train_split, config.batch_size, model_config.context, config.seed, rank, ranks) for rank in range(ranks)
    ]
    val_batches = Batches(
        TokenShards(tokens_dir, "val"), config.batch_size, model_config.context, config.seed + 1, 0, 1
    )
    if ranks * config.batch_size % len(devices):
        raise ValueError(f"a batch of {ranks}x{config.batch_size} rows does not split over {len(devices)} devices")
    # Micro-steps (accum, rows, T): rows split over the devices. A validation batch is split where it divides.
    batch_sharding = NamedSharding(mesh, P(None, "data"))
    val_sharding = NamedSharding(mesh, P("data")) if config.batch_size % len(devices) == 0 else replicated

    if init is None:
        params = jax_model.init_params(model_config, jax.random.key(config.seed))
    else:
        shapes = jax_model.param_shapes(model_config)
        if {name: tuple(a.shape) for name, a in init.items() if name in shapes} != shapes:
            raise ValueError("init: the weights do not fit the model")
        params = {name: jnp.asarray(init[name], jnp.float32) for name in shapes}
    optimizer = optimizer_of(config, params)
    opt_state = optimizer.init(params)
    checkpoint = out / CHECKPOINT
    step = 0
    if resume:
        if not checkpoint.exists():
            raise FileNotFoundError(f"{checkpoint}: no checkpoint to resume from")
        arrays, state = read_arrays(checkpoint)
        weights = model_weights(arrays)
        if {name: w.shape for name, w in weights.items()} != {name: p.shape for name, p in params.items()}:
            raise ValueError(f"{checkpoint}: the weights do not fit the model (a checkpoint of another model?)")
        params = {name: jnp.asarray(w, jnp.float32) for name, w in weights.items()}
        opt_state = restore_state(opt_state, "optimizer/", arrays, checkpoint)
        step = state["step"]
    params, opt_state = jax.device_put((params, opt_state), replicated)

    loss_of = partial(jax_model.loss_fn, config=model_config, dtype=dtype, impl=impl)

    # Donating the old parameters and state lets XLA update them in place (CPUs cannot: it would warn).
    @partial(jax.jit, donate_argnums=(0, 1) if on_gpu else (), out_shardings=replicated)
    def train_step(params, opt_state, x, y, lr):
        def micro_step(grad_sum, xy):
            loss, grads = jax.value_and_grad(loss_of)(params, *xy)
            return jax.tree.map(jnp.add, grad_sum, grads), loss

        if config.grad_accum == 1:  # no loop: XLA optimises a plain step better than a scan of one
            loss, grads = jax.value_and_grad(loss_of)(params, x[0], y[0])
            losses = loss[None]
        else:
            grads, losses = jax.lax.scan(micro_step, jax.tree.map(jnp.zeros_like, params), (x, y))
            grads = jax.tree.map(lambda g: g / config.grad_accum, grads)
        norm = jnp.sqrt(sum(jnp.sum(g * g) for g in jax.tree.leaves(grads)))
        # torch's clip_grad_norm_: scale by max_norm / (norm + 1e-6) when that is below 1.
        grads = jax.tree.map(lambda g: g * jnp.minimum(1.0, config.grad_clip / (norm + 1e-6)), grads)
        opt_state.hyperparams["learning_rate"] = lr
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, jnp.mean(losses), norm

    eval_loss = jax.jit(loss_of, out_shardings=replicated)

    def micro_batches(step: int) -> tuple[jax.Array, jax.Array]:
        rows = np.stack(
            [np.concatenate([b.rows(step, micro) for b in train_batches]) for micro in range(config.grad_accum)]
        ).astype(np.int32)
        return jax.device_put((rows[..., :-1], rows[..., 1:]), batch_sharding)

    def evaluate(params) -> float:
        losses = []
        for i in range(config.eval_batches):
            rows = val_batches.rows(0, i).astype(np.int32)
            x, y = jax.device_put((rows[:, :-1], rows[:, 1:]), val_sharding)
            losses.append(float(eval_loss(params, x, y)))
        return float(np.mean(losses))

    records: list[dict[str, Any]] = []
    tokens_per_step = config.batch_size * model_config.context * config.grad_accum * ranks
    flops_per_token = jax_model.flops_per_token(model_config)
    out.mkdir(parents=True, exist_ok=True)
    where = f"{len(devices)} {devices[0].platform} device{'s' if len(devices) > 1 else ''}"
    log(
        f"train: {jax_model.num_params(model_config):,} parameters, {len(train_split):,} train tokens, "
        f"{config.batch_size}x{model_config.context}x{config.grad_accum}x{ranks} tokens per step, "
        f"on {where} (jax{', cudnn attention' if impl else ''})"
    )
    if warning := repeat_warning(config.max_steps, tokens_per_step, len(train_split)):
        log(warning)
    last = config.max_steps if config.stop_step is None else min(config.stop_step, config.max_steps)
    step_log = StepLog(out, config, checkpoint, log, step, last)
    batch = micro_batches(step) if step < last else None
    while step < last:
        started = time.perf_counter()
        lr = learning_rate(config, step)
        params, opt_state, loss, norm = train_step(params, opt_state, *batch, jnp.float32(lr))
        if step + 1 < last:
            batch = micro_batches(step + 1)  # read on the host while the device computes this step
        loss_value, norm_value = float(loss), float(norm)  # waits for the step
        seconds = time.perf_counter() - started
        step += 1
        mfu_flops = flops_per_token / (config.peak_tflops * 1e12 * ranks) if on_gpu else None
        record = step_record(step, loss_value, lr, norm_value, tokens_per_step / seconds, mfu_flops)
        if step % config.eval_interval == 0 or step == last:
            record["val_loss"] = round(evaluate(params), 6)
        records.append(record)
        step_log.after(
            record, functools.partial(save_checkpoint, checkpoint, params, opt_state, step, config, model_config)
        )
    step_log.close(records)
    return records

"""The trainer's settings: the model's shape (`GPTConfig`) and the run's (`TrainConfig`), with presets.

Plain data, no torch import: `webcorpus train --help` builds its flags from these classes, and a
checkpoint stores both as plain dictionaries. Options are checked by the same checker as pipeline steps
(`webcorpus/pipeline/options.py`); a YAML file of options gets errors naming its file, line and key.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from webcorpus.pipeline.options import OptionError, check_options


class ConfigError(ValueError):
    """A training option with the wrong name, type or value; one line, naming the file when there is one."""


def _check(owner: type, values: dict[str, Any], what: str) -> dict[str, Any]:
    """check_options, its error as this module's ConfigError."""
    try:
        return check_options(owner, values, what)
    except OptionError as error:
        raise ConfigError(str(error)) from None


@dataclass
class GPTConfig:
    """The model's shape; the defaults are GPT-2 small's."""

    option_help = {
        "kernels": "'fused': the head and loss in one Triton kernel on CUDA, and GELU, rotary and the norms "
        "inside the matrix products on Hopper GPUs (torch elsewhere); 'fused_pingpong': the same, with the MLP's "
        "products on the experimental Gluon ping-pong kernel (Hopper only; docs/training.md); 'torch': plain torch.",
        "residual_dtype": "The residual stream's dtype under autocast on GPU: bfloat16 as llm.c, float32 as nanoGPT.",
    }

    vocab_size: int = 50_304
    context: int = 1024
    n_layer: int = 12
    n_head: int = 12
    n_embd: int = 768
    tie_embeddings: bool = True
    rope_base: float = 10_000.0
    residual_dtype: Literal["bfloat16", "float32"] = "bfloat16"
    kernels: Literal["fused", "fused_pingpong", "torch"] = "fused"

    def __post_init__(self) -> None:
        _check(GPTConfig, vars(self), "the model")
        if self.n_embd % self.n_head:
            raise ConfigError(f"n_embd ({self.n_embd}) must be a multiple of n_head ({self.n_head})")


# Each preset says only how it differs from TrainConfig's defaults (the tiny run) and GPTConfig's (GPT-2 small).
PRESETS: dict[str, dict[str, Any]] = {
    # Trains on a CPU in seconds; what the tests use.
    "tiny": {"model": {"n_layer": 2, "n_head": 2, "n_embd": 64, "context": 64}},
    # A 6-layer model for quick comparisons on one GPU (data ablations): ~8M parameters besides the embeddings.
    "small": {"model": {"n_layer": 6, "n_head": 6, "n_embd": 384, "context": 256}, "batch_size": 32, "lr": 1e-3},
    # GPT-2 small; ~0.5M tokens per optimiser step as in nanoGPT's reproduction. A micro-batch of 16 fits a
    # 24 GB card; on an 80 GB one `--batch-size 64 --grad-accum 8` is faster (docs/training.md).
    "gpt2-124m": {
        "model": {},
        "batch_size": 16, "grad_accum": 32, "max_steps": 19_073, "lr": 6e-4, "warmup_steps": 715,
        "eval_interval": 250, "eval_batches": 20, "checkpoint_interval": 1000, "compile": True,
    },
}  # fmt: skip


@dataclass
class TrainConfig:
    """One training run. The defaults are the `tiny` preset's."""

    option_help = {
        "preset": f"Starting values: {', '.join(PRESETS)}; the options given override them.",
        "model": "The model's shape and kernels (a mapping of GPTConfig's fields; YAML only).",
        "out": "Folder for the checkpoint (ckpt.pt; jax: ckpt.npz) and log.jsonl.",
        "seed": "Seed of the initial weights and of the batches.",
        "batch_size": "Sequences per micro-step per GPU.",
        "grad_accum": "Micro-steps per optimiser step.",
        "max_steps": "Optimiser steps (the learning-rate schedule ends there).",
        "stop_step": "Stop (with a checkpoint) before max_steps; the schedule still ends at max_steps.",
        "lr": "Peak learning rate.",
        "min_lr_ratio": "The learning rate at the end, as a fraction of the peak.",
        "schedule": "After warmup: cosine decay, or warmup-stable-decay (linear over the last decay_fraction).",
        "decay_fraction": "wsd: the share of steps spent decaying.",
        "warmup_steps": "Steps of linear warmup.",
        "weight_decay": "AdamW weight decay (not applied to norms).",
        "beta1": "AdamW beta1.",
        "beta2": "AdamW beta2.",
        "grad_clip": "Clip the gradient's norm to this.",
        "eval_interval": "Steps between validation losses.",
        "eval_batches": "Micro-batches per validation loss.",
        "checkpoint_interval": "Steps between checkpoints.",
        "log_interval": "Steps between log lines.",
        "backend": "torch: the PyTorch trainer; jax: the same run in JAX (jax_train.py), on every local device.",
        "compile": "torch.compile the model (torch backend; JAX always compiles).",
        "device": "cpu, cuda, cuda:1 ... (auto: cuda when there is one).",
        "peak_tflops": "The device's dense bf16 TFLOP/s, for MFU (989: H100 SXM).",
    }

    preset: str = "tiny"
    model: dict[str, Any] = field(default_factory=dict)
    out: str = "out/train"
    seed: int = 1337
    batch_size: int = 8
    grad_accum: int = 1
    max_steps: int = 60
    stop_step: int | None = None
    lr: float = 3e-3
    min_lr_ratio: float = 0.1
    schedule: Literal["cosine", "wsd"] = "cosine"
    decay_fraction: float = 0.2
    warmup_steps: int = 5
    weight_decay: float = 0.1
    beta1: float = 0.9
    beta2: float = 0.95
    grad_clip: float = 1.0
    eval_interval: int = 20
    eval_batches: int = 4
    checkpoint_interval: int = 20
    log_interval: int = 10
    backend: Literal["torch", "jax"] = "torch"
    compile: bool = False
    device: str = "auto"
    peak_tflops: float = 989.0

    def __post_init__(self) -> None:
        _check(TrainConfig, vars(self), "training")
        GPTConfig(**self.model)  # the model's own checks, before any data is read

    @classmethod
    def build(cls, preset: str | None = None, overrides: dict[str, Any] | None = None) -> TrainConfig:
        """A preset's values, then `overrides` (checked by name and type; `model` merged key by key)."""
        preset = preset or cls.preset
        if preset not in PRESETS:
            raise ConfigError(f"unknown preset '{preset}' (known: {', '.join(PRESETS)})")
        overrides = _check(cls, overrides or {}, "training")
        model = _check(GPTConfig, overrides.pop("model", {}), "the model")
        values: dict[str, Any] = {**PRESETS[preset], "preset": preset}
        values.update({key: value for key, value in overrides.items() if value is not None})
        values["model"] = {**PRESETS[preset]["model"], **model}
        return cls(**values)


def load_train_options(path: str | Path) -> dict[str, Any]:
    """A YAML file of training options, each name and type checked; errors name the file and line."""
    from webcorpus.pipeline.config import ConfigError as YamlError
    from webcorpus.pipeline.config import LocatedYaml

    try:
        located, root = LocatedYaml.load(Path(path))
        options: dict[str, Any] = {}
        for key, key_node, node in located.mapping(root, "training options"):
            if key == "model":
                options["model"] = {}
                for name, name_node, value_node in located.mapping(node, "model"):
                    try:
                        options["model"].update(
                            check_options(GPTConfig, {name: located.value(value_node)}, "the model")
                        )
                    except OptionError as error:
                        raise located.error(name_node, f"model.{name}", str(error)) from None
                continue
            try:
                options.update(check_options(TrainConfig, {key: located.value(node)}, "training"))
            except OptionError as error:
                raise located.error(key_node, key, str(error)) from None
        return options
    except YamlError as error:
        raise ConfigError(str(error)) from None

"""The JAX backend against the PyTorch trainer, on the CPU in float32: the same losses from the same
weights, exact resume, checkpoints of plain arrays, and data parallel over two devices."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import REPO

jax = pytest.importorskip("jax")
pytest.importorskip("optax")
torch = pytest.importorskip("torch")

from webcorpus.cli import main  # noqa: E402
from webcorpus.pipeline.run_folder import Folder  # noqa: E402
from webcorpus.tokens.shards import write_shard  # noqa: E402
from webcorpus.train import jax_model, jax_train  # noqa: E402
from webcorpus.train import train as torch_train  # noqa: E402
from webcorpus.train.common import read_arrays  # noqa: E402
from webcorpus.train.config import GPTConfig, TrainConfig  # noqa: E402
from webcorpus.train.model import GPT  # noqa: E402

VOCAB = 320  # a multiple of 64, as the trainers round it; the test tokenizer has as many ids


@pytest.fixture(scope="module", autouse=True)
def compilation_cache(tmp_path_factory):
    """Compiled steps kept on disk for the module: runs of the same shapes (a resumed run, the CLI's
    second call) load them instead of compiling again, the larger part of these tests' time."""
    settings = {
        "jax_compilation_cache_dir": str(tmp_path_factory.mktemp("jax-cache")),
        "jax_persistent_cache_min_compile_time_secs": 0.0,
        "jax_persistent_cache_min_entry_size_bytes": 0,
    }
    before = {name: getattr(jax.config, name) for name in settings}
    for name, value in settings.items():
        jax.config.update(name, value)
    yield
    for name, value in before.items():
        jax.config.update(name, value)


def quiet(*args, **kwargs) -> None:
    pass


@pytest.fixture(scope="module")
def tokens(tmp_path_factory) -> Path:
    """Shards of a Markov chain (each token has four likely successors): structure the tiny model learns
    within a few steps, written in seconds instead of running the pipeline."""
    folder = tmp_path_factory.mktemp("tokens")
    rng = np.random.default_rng(0)
    successors = rng.integers(0, VOCAB, size=(VOCAB, 4))
    picks, jumps, noise = rng.integers(0, 4, 60_000), rng.random(60_000) < 0.05, rng.integers(0, VOCAB, 60_000)
    stream = np.empty(60_000, np.uint16)
    token = 0
    for i in range(len(stream)):
        stream[i] = token
        token = noise[i] if jumps[i] else successors[token, picks[i]]
    write_shard(Folder(folder), "x_val_000000.bin", stream[:8_000], np.array([0]))
    write_shard(Folder(folder), "x_train_000000.bin", stream[8_000:], np.array([0]))
    (folder / "tokens.json").write_text(json.dumps({"vocab_size": VOCAB}))
    return folder


def torch_weights(config: TrainConfig) -> dict[str, np.ndarray]:
    """The PyTorch trainer's initial weights for this config (its seed), under model.py's names."""
    torch.manual_seed(config.seed)
    model = GPT(GPTConfig(vocab_size=VOCAB, **config.model))
    tied = model.config.tie_embeddings
    return {name: t.numpy().copy() for name, t in model.state_dict().items() if not (tied and name == "head.weight")}


@pytest.mark.parametrize(
    "options",
    [{"max_steps": 20}, {"max_steps": 6, "grad_accum": 2, "schedule": "wsd", "model": {"tie_embeddings": False}}],
    ids=["tiny", "untied-accum-wsd"],
)
def test_losses_match_the_pytorch_trainer_from_the_same_weights(tokens, tmp_path, options):
    """float32 on the CPU: both backends compute the same function, so the differences are rounding
    (below 1e-6 of the loss); a wrong mask or scale moves it by more (the next test)."""
    base = {"device": "cpu", "eval_interval": 5, **options}
    reference = torch_train.train(tokens, TrainConfig.build("tiny", {**base, "out": str(tmp_path / "t")}), log=quiet)
    config = TrainConfig.build("tiny", {**base, "out": str(tmp_path / "j"), "backend": "jax"})
    records = jax_train.train(tokens, config, log=quiet, init=torch_weights(config))
    assert [r["step"] for r in records] == [r["step"] for r in reference]
    assert reference[-1]["loss"] < reference[0]["loss"] - 0.3  # the weights moved: a real comparison
    for ours, theirs in zip(records, reference):
        assert ours["lr"] == theirs["lr"]
        assert ours["loss"] == pytest.approx(theirs["loss"], rel=2e-5), (ours, theirs)
        assert ours["grad_norm"] == pytest.approx(theirs["grad_norm"], rel=1e-3, abs=1e-4)
        assert ("val_loss" in ours) == ("val_loss" in theirs)
        assert ours.get("val_loss", 0) == pytest.approx(theirs.get("val_loss", 0), rel=2e-5)


def test_the_tolerance_catches_a_wrong_attention_scale_or_mask(tokens, tmp_path, monkeypatch):
    """The weights of 20 steps of the PyTorch trainer, with q and k made 8 times larger: the tiny model's
    attention is still nearly uniform after 20 steps (a wrong scale moves its loss by about 1e-4), sharp
    ones show a wrong scale or a missing mask in the loss by far more than the cross-check's tolerance."""
    config = TrainConfig.build("tiny", {"device": "cpu", "max_steps": 20, "out": str(tmp_path)})
    torch_train.train(tokens, config, log=quiet)
    model = torch_train.load_model(tmp_path / "ckpt.pt")
    with torch.no_grad():
        for block in model.blocks:
            block.attn.qkv.weight[: 2 * model.config.n_embd] *= 8
    rows = torch_train.Batches(torch_train.TokenShards(tokens, "val"), 8, 64, 0, 0, 1).rows(0)
    expected = model(torch.from_numpy(rows[:, :-1]), torch.from_numpy(rows[:, 1:]))[1].item()
    params = {name: jax.numpy.asarray(t.numpy()) for name, t in model.state_dict().items() if name != "head.weight"}

    def loss() -> float:
        return float(jax_model.loss_fn(params, rows[:, :-1], rows[:, 1:], model.config))

    assert loss() == pytest.approx(expected, rel=1e-5)
    attend = jax.nn.dot_product_attention
    for wrong in ({"scale": 1.0, "is_causal": True}, {"is_causal": False}):
        monkeypatch.setattr(jax.nn, "dot_product_attention", lambda q, k, v, w=wrong, **_: attend(q, k, v, **w))
        assert abs(loss() - expected) > 1e-3 * expected, wrong  # 50 times the cross-check's 2e-5


def test_resumed_run_matches_an_uninterrupted_one_and_the_checkpoint_is_plain_arrays(tokens, tmp_path):
    options = {"device": "cpu", "backend": "jax", "max_steps": 16}
    whole = jax_train.train(tokens, TrainConfig.build("tiny", {**options, "out": str(tmp_path / "a")}), log=quiet)
    stopped = TrainConfig.build("tiny", {**options, "out": str(tmp_path / "b"), "stop_step": 7})
    first = jax_train.train(tokens, stopped, log=quiet)
    second = jax_train.train(
        tokens, TrainConfig.build("tiny", {**options, "out": str(tmp_path / "b")}), resume=True, log=quiet
    )
    assert [r["step"] for r in first + second] == list(range(1, 17))
    for before, after in zip(whole, first + second):
        assert (before["step"], before["loss"], before["lr"], before["grad_norm"]) == (
            after["step"], after["loss"], after["lr"], after["grad_norm"]
        )  # fmt: skip
    assert whole[-1]["val_loss"] == second[-1]["val_loss"]

    checkpoint = tmp_path / "b" / "ckpt.npz"
    with zipfile.ZipFile(checkpoint) as archive:
        assert all(name.endswith(".npy") for name in archive.namelist())
    arrays, state = read_arrays(checkpoint)  # np.load(allow_pickle=False) inside: an object array would fail
    assert state["step"] == 16 and state["backend"] == "jax" and state["config"]["max_steps"] == 16
    assert all(a.dtype != object for a in arrays.values())
    assert any(name.startswith("optimizer/") for name in arrays)

    # `webcorpus sample`'s loader reads it into model.py's GPT: the same logits as the JAX model.
    model = torch_train.load_model(checkpoint)
    weights = jax_train.model_weights(arrays)
    idx = np.arange(32).reshape(2, 16) % VOCAB
    theirs = model(torch.from_numpy(idx))[0].detach().numpy()
    ours = np.asarray(jax_model.forward({k: jax.numpy.asarray(v) for k, v in weights.items()}, idx, model.config))
    np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-5)


def test_a_checkpoint_with_a_pickle_inside_is_refused(tmp_path):
    evil = tmp_path / "ckpt.npz"
    np.savez(evil, __state__=np.frombuffer(b'{"step": 1, "model_config": {}}', np.uint8), x=np.array([object()]))
    with pytest.raises(ValueError, match="not a webcorpus checkpoint"):
        read_arrays(evil)
    (tmp_path / "notes.npz").write_text("hello")
    with pytest.raises(ValueError, match="not a webcorpus checkpoint"):
        torch_train.load_model(tmp_path / "notes.npz")


def test_cli_backend_jax_trains_and_resumes(tokens, tmp_path):
    runner = CliRunner()
    args = [
        "train",
        str(tokens),
        "--backend",
        "jax",
        "--device",
        "cpu",
        "--out",
        str(tmp_path / "t"),
        "--max-steps",
        "4",
    ]
    result = runner.invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "on 1 cpu device (jax)" in result.output and "step 4/4" in result.output and "ckpt.npz" in result.output
    result = runner.invoke(main, [*args[:-1], "6", "--resume"])
    assert result.exit_code == 0 and "step 6/6" in result.output and "step 4/" not in result.output, result.output
    missing = runner.invoke(main, [*args[:6], "--out", str(tmp_path / "none"), "--resume"])
    assert missing.exit_code == 1 and "no checkpoint to resume from" in missing.output


def byte_tokenizer(path: Path) -> Path:
    """A byte-level BPE of VOCAB ids (256 bytes, <|endoftext|>, merges), for `webcorpus sample`."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB, special_tokens=["<|endoftext|>"], initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    words = " ".join(f"{a}{b}{c}" for a in "garden" for b in "stones" for c in "quickly")
    tokenizer.train_from_iterator([words] * 4, trainer)
    assert tokenizer.get_vocab_size() == VOCAB
    tokenizer.save(str(path))
    return path


def test_cli_sample_reads_a_jax_checkpoint(tokens, tmp_path):
    runner = CliRunner()
    args = ["train", str(tokens), "--backend", "jax", "--device", "cpu", "--out", str(tmp_path), "--max-steps", "2"]
    assert runner.invoke(main, args).exit_code == 0
    result = runner.invoke(
        main,
        ["sample", str(tmp_path / "ckpt.npz"), "--tokenizer", str(byte_tokenizer(tmp_path / "tokenizer.json")),
         "--prompt", "The garden", "--max-new-tokens", "8", "--device", "cpu"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert result.output.startswith("The garden") and len(result.output) > len("The garden\n")


def test_data_parallel_over_two_devices_gives_the_losses_of_one(tokens, tmp_path):
    """Two fake CPU devices (XLA's host platform split in two), in a subprocess since the device count is
    fixed when JAX starts: the batch split over two devices against the same batch on one. No torch
    there, so this also shows that the JAX trainer does not import it."""
    code = f"""
import json, sys, jax
from webcorpus.train import jax_train
from webcorpus.train.config import TrainConfig
devices = jax.devices("cpu")
assert len(devices) == 2, devices
runs = {{}}
for name, mesh in (("two", devices), ("one", devices[:1])):
    config = TrainConfig.build("tiny", {{"max_steps": 8, "out": {str(tmp_path)!r} + "/" + name, "backend": "jax"}})
    lines = []
    runs[name] = jax_train.train({str(tokens)!r}, config, log=lines.append, devices=mesh, ranks=2)
    runs[name + "_header"] = lines[0]
assert "torch" not in sys.modules  # the JAX trainer reads the shards and trains without torch
print(json.dumps(runs))
"""
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=2", "JAX_PLATFORMS": "cpu"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    runs = json.loads(done.stdout.strip().splitlines()[-1])
    assert "8x64x1x2 tokens per step, on 2 cpu devices" in runs["two_header"]
    assert "8x64x1x2 tokens per step, on 1 cpu device" in runs["one_header"]
    for two, one in zip(runs["two"], runs["one"]):
        assert two["loss"] == pytest.approx(one["loss"], rel=1e-5)
        assert two.get("val_loss", 0) == pytest.approx(one.get("val_loss", 0), rel=1e-5)

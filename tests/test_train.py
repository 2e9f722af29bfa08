"""The bundled trainer, on the CPU: a tiny model on shards the pipeline made from the sample WARCs."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest
from click.testing import CliRunner
from conftest import REPO

torch = pytest.importorskip("torch")

from webcorpus.cli import main  # noqa: E402
from webcorpus.train.common import duration, progress_line  # noqa: E402
from webcorpus.train.train import TrainConfig, learning_rate, train  # noqa: E402


@pytest.fixture(scope="module")
def sample_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    result = CliRunner().invoke(
        main, ["run", str(REPO / "pipelines" / "fineweb.yaml"), "-o", str(out), "--no-progress"]
    )
    assert result.exit_code == 0, result.output
    return out


def quiet(*args, **kwargs) -> None:
    pass


def test_tiny_model_loss_falls_on_pipeline_shards(sample_run, tmp_path):
    config = TrainConfig.build("tiny", {"out": str(tmp_path / "t"), "max_steps": 60})
    records = train(sample_run / "tokens", config, log=quiet)
    assert records[-1]["step"] == 60
    first = sum(r["loss"] for r in records[:5]) / 5
    last = sum(r["loss"] for r in records[-5:]) / 5
    assert last < first - 1.0, (first, last)
    vals = [r["val_loss"] for r in records if "val_loss" in r]
    assert vals[-1] < vals[0]
    assert (tmp_path / "t" / "ckpt.pt").exists()
    assert len((tmp_path / "t" / "log.jsonl").read_text().splitlines()) == 60


def test_resumed_run_matches_an_uninterrupted_one_step_for_step(sample_run, tmp_path):
    whole = train(
        sample_run / "tokens", TrainConfig.build("tiny", {"out": str(tmp_path / "a"), "max_steps": 24}), log=quiet
    )
    stopped = TrainConfig.build("tiny", {"out": str(tmp_path / "b"), "max_steps": 24, "stop_step": 11})
    first_part = train(sample_run / "tokens", stopped, log=quiet)
    assert [r["step"] for r in first_part] == list(range(1, 12))
    resumed = TrainConfig.build("tiny", {"out": str(tmp_path / "b"), "max_steps": 24})
    second_part = train(sample_run / "tokens", resumed, resume=True, log=quiet)
    assert [r["step"] for r in second_part] == list(range(12, 25))
    for before, after in zip(whole, first_part + second_part):
        assert (before["step"], before["loss"], before["lr"]) == (after["step"], after["loss"], after["lr"])


def test_corrupt_or_missing_shards_are_named(sample_run, tmp_path):
    tokens = tmp_path / "tokens"
    tokens.mkdir()
    for path in (sample_run / "tokens").iterdir():
        if path.is_file():
            (tokens / path.name).write_bytes(path.read_bytes())
    shard = tokens / "webcorpus_train_000000.bin"
    shard.write_bytes(shard.read_bytes()[:-6])
    runner = CliRunner()
    result = runner.invoke(main, ["train", str(tokens), "--out", str(tmp_path / "t"), "--max-steps", "2"])
    assert result.exit_code != 0 and "webcorpus_train_000000.bin" in result.output and "truncated" in result.output
    shard.unlink()
    result = runner.invoke(main, ["train", str(tokens), "--out", str(tmp_path / "t"), "--max-steps", "2"])
    assert result.exit_code != 0 and "no *_train_NNNNNN.bin token shards" in result.output
    assert "Traceback" not in result.output


def test_cli_train_resume_and_sample(sample_run, tmp_path):
    runner = CliRunner()
    (tmp_path / "c.yaml").write_text("preset: tiny\nmax_steps: 6\nschedule: wsd\nmodel: {n_layer: 1}\n")
    args = ["train", str(sample_run / "tokens"), "--config", str(tmp_path / "c.yaml"), "--out", str(tmp_path / "t")]
    result = runner.invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "step 6" in result.output and "val_loss" in result.output
    result = runner.invoke(main, args + ["--resume", "--max-steps", "8"])
    assert result.exit_code == 0 and "step 8" in result.output
    result = runner.invoke(
        main,
        ["sample", str(tmp_path / "t" / "ckpt.pt"), "--tokenizer", str(sample_run / "tokenizer.json"),
         "--prompt", "The garden", "--max-new-tokens", "12", "--device", "cpu"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert result.output.startswith("The garden") and len(result.output) > len("The garden")
    bad = runner.invoke(main, args[:2] + ["--preset", "huge"])
    assert bad.exit_code != 0 and "unknown preset 'huge'" in bad.output
    (tmp_path / "bad.yaml").write_text("lr: fast\n")
    bad = runner.invoke(main, args[:2] + ["--config", str(tmp_path / "bad.yaml")])
    assert bad.exit_code != 0 and "bad.yaml:1: lr: 'lr' must be a number, got 'fast'" in bad.output
    not_a_checkpoint = runner.invoke(
        main, ["sample", str(tmp_path / "bad.yaml"), "--tokenizer", str(sample_run / "tokenizer.json")]
    )
    assert not_a_checkpoint.exit_code != 0 and "bad.yaml: not a webcorpus checkpoint" in not_a_checkpoint.output
    assert "Traceback" not in not_a_checkpoint.output


def test_progress_lines_say_step_of_total_time_left_where_the_checkpoint_went_and_how_often_data_repeats(
    sample_run, tmp_path
):
    lines: list[str] = []
    out = tmp_path / "t"
    config = TrainConfig.build("tiny", {"out": str(out), "max_steps": 100_000, "stop_step": 2, "log_interval": 1})
    records = train(sample_run / "tokens", config, log=lines.append)
    header = lines[0]
    assert header.startswith("train: ") and "on cpu" in header and "kernels" not in header  # no fused kernels here
    train_tokens = int(re.search(r"([\d,]+) train tokens", header).group(1).replace(",", ""))
    [warning] = [line for line in lines if line.startswith("warning:")]
    times = 100_000 * 8 * 64 / train_tokens
    assert f"each token is seen about {times:.1f} times" in warning and "51,200,000 tokens" in warning
    steps = [line for line in lines if line.startswith("step ")]
    assert re.fullmatch(r"step 1/100000 loss [\d.]+ lr \d\.\d\de-\d\d .* elapsed \d+s left ~\d+s", steps[0]), steps[0]
    assert steps[1].startswith("step 2/100000 ") and "left" not in steps[1]  # the run stops at step 2
    assert f"checkpoint of step 2 -> {out / 'ckpt.pt'}" in lines
    assert lines[-1].startswith("train: at step 2 of 100000 after ") and lines[-1].endswith(str(out / "ckpt.pt"))
    assert records[0]["lr"] == learning_rate(config, 0)  # the log keeps the exact rate; only the line rounds it

    quiet_lines: list[str] = []
    small = TrainConfig.build("tiny", {"out": str(tmp_path / "s"), "max_steps": 1, "batch_size": 1})
    train(sample_run / "tokens", small, log=quiet_lines.append)
    assert not any(line.startswith("warning:") for line in quiet_lines)  # 64 tokens of a larger split: no repeat


def test_progress_line_and_durations():
    record = {"step": 3, "loss": 6.5, "lr": 0.0003000000000000001, "grad_norm": 1.2, "tokens_per_s": 900}
    line = progress_line(record, 10, 30.0, 3, 7)
    assert line == "step 3/10 loss 6.5 lr 3.00e-04 grad_norm 1.2 tokens_per_s 900 elapsed 30s left ~1m10s"
    assert [duration(s) for s in (0.4, 59, 61, 3599, 3600, 7322)] == ["0s", "59s", "1m01s", "59m59s", "1h00m", "2h02m"]


def test_schedules():
    cosine = TrainConfig.build("tiny", {"max_steps": 100, "warmup_steps": 10, "lr": 1.0})
    assert learning_rate(cosine, 0) == pytest.approx(0.1)
    assert learning_rate(cosine, 9) == pytest.approx(1.0)
    assert learning_rate(cosine, 100) == pytest.approx(0.1)
    wsd = TrainConfig.build("tiny", {"max_steps": 100, "warmup_steps": 10, "lr": 1.0, "schedule": "wsd"})
    assert learning_rate(wsd, 50) == 1.0 and learning_rate(wsd, 79) == 1.0
    assert learning_rate(wsd, 90) == pytest.approx(0.55) and learning_rate(wsd, 100) == pytest.approx(0.1)


def test_model_options_are_checked_before_training():
    with pytest.raises(ValueError, match="unknown option 'n_layers' for the model"):
        TrainConfig.build("tiny", {"model": {"n_layers": 3}})
    with pytest.raises(ValueError, match="'n_layer' must be an integer, got 'two'"):
        TrainConfig.build("tiny", {"model": {"n_layer": "two"}})
    with pytest.raises(ValueError, match="'residual_dtype' must be one of 'bfloat16', 'float32'"):
        TrainConfig.build("tiny", {"model": {"residual_dtype": "float16"}})
    with pytest.raises(ValueError, match="'kernels' must be one of 'fused', 'fused_pingpong', 'torch'"):
        TrainConfig.build("tiny", {"model": {"kernels": "cuda"}})
    with pytest.raises(ValueError, match="'max_steps' must be an integer, got True"):
        TrainConfig.build("tiny", {"max_steps": True})
    assert TrainConfig.build("tiny", {"lr": 1, "model": {"n_layer": 3}}).model["n_layer"] == 3


def test_gpt2_preset_compiles_unless_told_not_to():
    assert TrainConfig.build("gpt2-124m").compile and not TrainConfig.build("tiny").compile
    assert not TrainConfig.build("gpt2-124m", {"compile": False}).compile


def test_compiled_model_computes_the_same_loss_and_gradients_as_eager():
    """compile_model hands Inductor a setting of its own (where torch has it): the math must not move."""
    from webcorpus.train.model import GPT, GPTConfig, compile_model

    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=96, context=16, n_layer=1, n_head=2, n_embd=32))
    idx = torch.randint(0, 96, (2, 17))
    results = []
    for run in (model, compile_model(model)):
        model.zero_grad(set_to_none=True)
        _, loss = run(idx[:, :-1], idx[:, 1:])
        loss.backward()
        results.append((loss.item(), [p.grad.clone() for p in model.parameters()]))
    (eager_loss, eager_grads), (compiled_loss, compiled_grads) = results
    assert compiled_loss == pytest.approx(eager_loss, rel=1e-5)
    for eager, compiled in zip(eager_grads, compiled_grads):
        torch.testing.assert_close(compiled, eager, rtol=1e-4, atol=1e-6)


def test_residual_stream_dtype_follows_the_config_under_autocast():
    from webcorpus.train.model import GPT, GPTConfig

    seen = {}
    for dtype in ("bfloat16", "float32"):
        torch.manual_seed(0)
        model = GPT(GPTConfig(vocab_size=64, context=16, n_layer=2, n_head=2, n_embd=32, residual_dtype=dtype))
        model.blocks[1].register_forward_pre_hook(
            lambda _, inputs, d=dtype: seen.setdefault(d, []).append(inputs[0].dtype)
        )
        idx = torch.randint(0, 64, (2, 16))
        with torch.autocast("cpu", dtype=torch.bfloat16):
            _, loss = model(idx, idx)
        loss.backward()
        assert torch.isfinite(loss) and all(torch.isfinite(p.grad).all() for p in model.parameters())
        model(idx, idx)  # no autocast (the CPU trainer): float32 whatever the setting
    assert seen == {"bfloat16": [torch.bfloat16, torch.float32], "float32": [torch.float32, torch.float32]}
    with pytest.raises(ValueError, match="'residual_dtype' must be one of 'bfloat16', 'float32', got 'float16'"):
        GPTConfig(residual_dtype="float16")


def test_pair_order_of_the_fused_projection_leaves_attention_unchanged():
    # The Triton kernels (GPU only) compute q and k from the projection weight in pair order and turn
    # neighbouring channels together; this is that arithmetic in torch against model.py's rotary.
    import torch.nn.functional as F

    from webcorpus.train.kernels import fused_linear
    from webcorpus.train.model import Rotary

    torch.manual_seed(0)
    B, T, H, D = 2, 16, 3, 8
    x, w = torch.randn(B, T, H * D, dtype=torch.float64), torch.randn(3 * H * D, H * D, dtype=torch.float64)
    rotary = Rotary(D, T, 10_000.0)
    q, k, v = (x @ w.T).view(B, T, 3, H, D).unbind(2)
    q, k = rotary(q), rotary(k)
    qp, kp, vp = (x @ fused_linear.pair_order(w, H).T).view(B, T, 3, H, D).unbind(2)
    cos, sin = rotary.cos[None, :, None, :].double(), rotary.sin[None, :, None, :].double()

    def turn_pairs(t):
        t1, t2 = t[..., 0::2], t[..., 1::2]
        return torch.stack((t1 * cos - t2 * sin, t1 * sin + t2 * cos), dim=-1).flatten(-2)

    qp, kp = turn_pairs(qp), turn_pairs(kp)
    assert torch.equal(vp, v)
    assert not torch.allclose(qp, q)  # the channels are in another order...
    assert torch.allclose(qp @ kp.transpose(-1, -2), q @ k.transpose(-1, -2))  # ...the same for q and k

    def attend(q, k, v):
        return F.scaled_dot_product_attention(*(t.transpose(1, 2) for t in (q, k, v)), is_causal=True)

    assert torch.allclose(attend(qp, kp, vp), attend(q, k, v))
    assert not fused_linear.available(x)  # on the CPU the model never takes the fused path


def test_data_parallel_under_torchrun_on_cpu(sample_run, tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "-m", "webcorpus.cli", "train",
         str(sample_run / "tokens"), "--out", str(tmp_path / "ddp"), "--max-steps", "4", "--device", "cpu"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert "8x64x1x2 tokens per step" in done.stdout
    records = [json.loads(line) for line in (tmp_path / "ddp" / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [1, 2, 3, 4]  # rank 0 alone writes the log


class _RunsCode:
    """A pickle that would run a command when loaded with plain pickle (what a hostile checkpoint holds)."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        import os

        return (os.system, (f"touch {self.marker}",))


def test_a_checkpoint_that_would_run_code_is_refused_and_nothing_runs(sample_run, tmp_path):
    evil = tmp_path / "ckpt.pt"
    marker = tmp_path / "it-ran"
    torch.save({"model": _RunsCode(marker), "model_config": {}, "step": 0}, evil)
    runner = CliRunner()
    result = runner.invoke(main, ["sample", str(evil), "--tokenizer", str(sample_run / "tokenizer.json")])
    assert result.exit_code == 1 and "not a webcorpus checkpoint" in result.output
    assert result.output.count("\n") == 1
    resumed = runner.invoke(main, ["train", str(sample_run / "tokens"), "--out", str(tmp_path), "--resume"])
    assert resumed.exit_code == 1 and "not a webcorpus checkpoint" in resumed.output
    assert not marker.exists()

"""`webcorpus ablate` on the CPU with the tiny preset: two variants of the sample pipeline."""

import html
import json
import math
import re

import pytest
from click.testing import CliRunner
from conftest import REPO

from webcorpus.cli import main

pytest.importorskip("torch")
QUALITY_FILTERS = ("gopher_repetition", "gopher_quality", "c4_quality", "fineweb_quality")


def without_quality_filters(text: str) -> str:
    kept, skipping = [], False
    for line in text.splitlines():
        step = re.match(r"  - (\w+)", line)
        if step:
            skipping = step.group(1) in QUALITY_FILTERS
        elif not line.startswith("      "):
            skipping = False
        if not skipping:
            kept.append(line)
    return "\n".join(kept) + "\n"


def test_two_variants_get_equal_budgets_finite_scores_a_plot_and_a_rerun_reuses_everything(tmp_path):
    full = (REPO / "pipelines" / "fineweb.yaml").read_text().replace("pipelines/sample", str(REPO / "pipelines/sample"))
    (tmp_path / "full.yaml").write_text(full)
    (tmp_path / "no_quality.yaml").write_text(without_quality_filters(full))
    out = tmp_path / "ablation"
    args = ["ablate", str(tmp_path / "full.yaml"), str(tmp_path / "no_quality.yaml"), "-o", str(out), "--no-progress"]
    first = CliRunner().invoke(main, args)
    assert first.exit_code == 0, first.output

    summary = json.loads((out / "ablation.json").read_text())
    full_run, no_quality = summary["variants"]
    assert (full_run["name"], no_quality["name"]) == ("full", "no_quality")
    assert full_run["optimizer_steps"] == no_quality["optimizer_steps"] >= 1  # the same budget for both
    assert summary["train_tokens"] <= min(v["train_tokens_available"] for v in summary["variants"])
    assert all(math.isfinite(v["eval_bits_per_byte"]) and v["eval_bits_per_byte"] > 0 for v in summary["variants"])
    assert all(math.isfinite(v["own_val_loss"]) for v in summary["variants"])
    assert no_quality["documents"] > full_run["documents"]  # the quality filters removed some pages
    assert [step.split()[0] for step in summary["differences"]["full"]] == list(QUALITY_FILTERS)
    assert summary["differences"]["no_quality"] == []
    assert summary["eval"]["documents"] >= 1 and summary["eval"]["bytes"] > 0
    assert (out / "ablation.svg").read_text().startswith("<svg")
    assert "Ablation" in (out / "report.html").read_text()

    # The sample is far too small to rank anything, and every output says so.
    assert full_run["optimizer_steps"] < summary["thresholds"]["min_optimizer_steps"]
    assert summary["warnings"][0].startswith(f"{full_run['optimizer_steps']} optimiser step")
    assert any("evaluation text of" in w for w in summary["warnings"])
    assert summary["eval"]["documents"] > 1 or summary["comparisons"][0]["verdict"] == "no interval"
    assert first.output.count("WARNING: ") == 2 * len(summary["warnings"])  # before training, and at the end
    report = (out / "report.html").read_text()
    assert "id='warnings'" in report and all(html.escape(w) in report for w in summary["warnings"])
    svg = (out / "ablation.svg").read_text()
    assert 'id="too-few-points"' in svg  # no line through two dots
    assert summary["eval"]["documents"] > 1 or 'id="no-intervals"' in svg  # nor two dots without intervals

    checkpoints = {p: p.stat().st_mtime_ns for p in out.glob("train/*/ckpt.pt")}
    again = CliRunner().invoke(main, args)
    assert again.exit_code == 0, again.output
    assert again.output.count("reused") == 2 and "already trained" in again.output
    assert {p: p.stat().st_mtime_ns for p in out.glob("train/*/ckpt.pt")} == checkpoints
    assert json.loads((out / "ablation.json").read_text()) == summary


def test_scores_get_intervals_over_the_evaluation_documents_and_the_bits_add_up(tmp_path):
    """--eval with a dozen documents of very different lengths (paragraphs of this repository's docs): every
    score gets an interval, the per-document bits sum to the whole stream's cross-entropy, and each
    document's bits match its own bytes (the documents and their bits are in the same order)."""
    import numpy as np
    import torch

    from webcorpus.ablate.score import document_bits
    from webcorpus.document import Document
    from webcorpus.stages.write_parquet import ParquetWriter
    from webcorpus.tokens.shards import TokenShards
    from webcorpus.train.train import load_model

    paragraphs = [p for p in (REPO / "docs" / "ablations.md").read_text().split("\n\n") if len(p) > 80]
    texts = paragraphs[:11] + ["\n\n".join(paragraphs[:8])]  # one document much longer than the rest
    ParquetWriter().write(iter(Document(f"doc-{i}", f"https://example.org/{i}", t) for i, t in enumerate(texts)),
                          tmp_path / "eval")  # fmt: skip
    full = (REPO / "pipelines" / "fineweb.yaml").read_text().replace("pipelines/sample", str(REPO / "pipelines/sample"))
    (tmp_path / "full.yaml").write_text(full)
    (tmp_path / "no_quality.yaml").write_text(without_quality_filters(full))
    out = tmp_path / "ablation"
    args = ["ablate", str(tmp_path / "full.yaml"), str(tmp_path / "no_quality.yaml"), "-o", str(out), "--no-progress",
            "--eval", str(tmp_path / "eval")]  # fmt: skip
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "ablation.json").read_text())
    assert summary["eval"]["documents"] == len(texts)
    for v in summary["variants"]:
        low, high = v["eval_interval"]
        assert low <= v["eval_bits_per_byte"] <= high and low < high
        assert f"{v['name']}  " in result.output and "95% " in result.output
    [comparison] = summary["comparisons"]
    assert (comparison["first"], comparison["second"]) == ("full", "no_quality")
    low, high = comparison["interval"]
    assert comparison["verdict"] == ("tie" if low <= 0 <= high else "full" if high < 0 else "no_quality")
    assert summary["thresholds"]["bootstrap"]["resamples"] > 0
    report = (out / "report.html").read_text()
    assert "95% interval" in report and 'id="score-1"' in (out / "ablation.svg").read_text()

    # The old way (the mean loss of each window times its tokens) gives the same total.
    checkpoint, eval_tokens = out / "train" / "full" / "ckpt.pt", out / "tokens" / "eval"
    bits = document_bits(checkpoint, eval_tokens)
    model = load_model(checkpoint)
    stream = TokenShards(eval_tokens, "train").window(0, summary["eval"]["tokens"]).astype(np.int64)
    context, total = model.config.context, 0.0
    with torch.no_grad():
        for first in range(0, len(stream) - 1, context):
            window = torch.from_numpy(stream[first : first + context + 1])[None]
            total += float(model(window[:, :-1], window[:, 1:])[1]) * (window.size(1) - 1)
    assert bits.sum() == pytest.approx(total / math.log(2), rel=1e-5)
    sizes = np.array([len(t.encode("utf-8")) for t in texts])
    assert len(bits) == len(texts) and np.all((bits / sizes > 1) & (bits / sizes < 12))
    assert summary["variants"][0]["eval_bits_per_byte"] == pytest.approx(bits.sum() / sizes.sum(), abs=1e-6)

"""`webcorpus ablate` on the CPU with the tiny preset: two variants of the sample pipeline."""

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

    checkpoints = {p: p.stat().st_mtime_ns for p in out.glob("train/*/ckpt.pt")}
    again = CliRunner().invoke(main, args)
    assert again.exit_code == 0, again.output
    assert again.output.count("reused") == 2 and "already trained" in again.output
    assert {p: p.stat().st_mtime_ns for p in out.glob("train/*/ckpt.pt")} == checkpoints
    assert json.loads((out / "ablation.json").read_text()) == summary

"""The ablation's intervals, tie rule and warnings on constructed per-document bits (no training)."""

import numpy as np
import pytest

from webcorpus.ablate import uncertainty
from webcorpus.ablate.uncertainty import (
    compare,
    decimals,
    score_decimals,
    score_text,
    summary_lines,
    verdict_text,
    warnings_for,
)


def documents(n: int, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """`n` documents of varied sizes, and bits of 3 per byte with document-to-document noise."""
    rng = np.random.default_rng(seed)
    sizes = rng.integers(500, 20_000, size=n).astype(np.int64)
    return sizes, sizes * rng.normal(3.0, 0.3, size=n)


def test_a_model_better_on_every_document_wins_and_the_interval_excludes_zero():
    sizes, bits = documents(200)
    intervals, [comparison] = compare({"a": bits, "b": bits + 0.05 * sizes}, sizes)
    assert comparison["verdict"] == "a" and comparison["difference"] == pytest.approx(-0.05, abs=1e-6)
    low, high = comparison["interval"]
    assert low < -0.04 and high < 0  # paired: the document noise, the same for both, cancels
    for name in "ab":  # each score's own interval does carry the document noise, and holds the score
        low, high = intervals[name]
        assert low < (bits + 0.05 * sizes * (name == "b")).sum() / sizes.sum() < high and high - low > 0.01
    assert "a is better by 0.05" in verdict_text(comparison)


def test_a_difference_inside_the_noise_is_a_tie_and_names_no_winner():
    sizes, bits = documents(200)
    noise = np.random.default_rng(7).normal(0, 0.3, size=200) * sizes  # per document, either way, mean ~0
    _, [comparison] = compare({"a": bits, "b": bits + noise}, sizes)
    low, high = comparison["interval"]
    assert low < 0 < high and comparison["verdict"] == "tie"
    text = verdict_text(comparison)
    assert text.startswith("a vs b: tie") and "better" not in text
    d = decimals(low, high)
    assert d < 4 and f"{low:+.{d}f}" in text  # rounded to what the interval supports


def test_the_bootstrap_is_deterministic_and_paired():
    sizes, bits = documents(50)
    first = uncertainty.resampled_scores(np.stack([bits, bits * 1.1]), sizes)
    again = uncertainty.resampled_scores(np.stack([bits, bits * 1.1]), sizes)
    assert first.shape == (2, uncertainty.RESAMPLES) and np.array_equal(first, again)
    assert np.allclose(first[1], first[0] * 1.1)  # the same resamples for both variants
    # The chunking that bounds memory does not change the statistics' meaning: every resample is whole.
    alone = uncertainty.resampled_scores(bits[None, :], sizes)
    assert np.allclose(alone[0], first[0], rtol=1e-12)


def test_one_document_gives_no_interval_and_no_verdict():
    intervals, [comparison] = compare({"a": np.array([100.0]), "b": np.array([120.0])}, np.array([40]))
    assert intervals == {"a": None, "b": None}
    assert comparison["verdict"] == "no interval" and "no verdict" in verdict_text(comparison)
    assert score_text(2.5, None) == "2.5000 (no interval)"


def test_a_small_difference_on_every_document_is_not_a_tie():
    sizes, bits = documents(20)  # paired: 0.01% worse on each document is a real (if tiny) difference
    _, [comparison] = compare({"a": bits, "b": bits * 1.0001}, sizes)
    assert comparison["verdict"] == "a"


def test_rounding_follows_the_interval():
    assert decimals(2.95, 3.05) == 2 and decimals(2.9995, 3.0005) == 4 and decimals(1.0, 41.0) == 0
    assert score_text(3.0062, [2.95, 3.06]) == "3.01 (95% 2.95 to 3.06)"
    # Wide own intervals, a narrow paired difference: the scores get the difference's decimals, so two
    # scores printed alike never stand beside a verdict that one is better.
    comparisons = [{"first": "a", "second": "b", "interval": [-0.056, -0.018], "verdict": "a"}]
    assert score_decimals("a", [2.77, 3.36], comparisons) == 2 and score_decimals("c", [2.77, 3.36], comparisons) == 1
    assert score_text(3.00618, [2.76568, 3.359843], 2) == "3.01 (95% 2.77 to 3.36)"


def test_warnings_name_the_small_budget_and_the_small_evaluation_text():
    found = warnings_for(1, 1, 4_000, {"full": None, "small": 2.5})
    assert len(found) == 4
    assert found[0].startswith("1 optimiser step per variant (fewer than 100)")
    assert "1 document (fewer than 50): no interval" in found[1]
    assert "4,000 bytes (fewer than 100,000)" in found[2]
    assert found[3].startswith("small repeats its training data 2.5 times")
    big = warnings_for(uncertainty.MIN_STEPS, uncertainty.MIN_EVAL_DOCUMENTS, uncertainty.MIN_EVAL_BYTES, {"a": None})
    assert big == []


def test_summary_lines_put_the_warnings_last_and_round_a_tie():
    sizes, bits = documents(20)
    other = bits + np.random.default_rng(3).normal(0, 0.2, size=20) * sizes
    intervals, comparisons = compare({"a": bits, "b": other}, sizes)
    summary = {
        "eval": {"documents": 20, "bytes": int(sizes.sum())},
        "variants": [
            {"name": n, "eval_bits_per_byte": float(b.sum() / sizes.sum()), "eval_interval": intervals[n]}
            for n, b in (("a", bits), ("b", other))
        ],
        "comparisons": comparisons,
        "warnings": warnings_for(3, 20, int(sizes.sum()), {"a": None, "b": None}),
    }
    lines = summary_lines(summary)
    assert comparisons[0]["verdict"] == "tie" and any(line.startswith("a vs b: tie") for line in lines)
    assert lines[-1].startswith("WARNING: an evaluation text of 20 documents")
    assert lines[-2].startswith("WARNING: 3 optimiser steps")
    score_lines = [line for line in lines if line.startswith("  ")]
    assert len(score_lines) == 2 and all("95%" in line for line in score_lines)
    assert not any(f"{v['eval_bits_per_byte']:.4f}" in line for v in summary["variants"] for line in score_lines)

"""How far an ablation's scores can be trusted: bootstrap intervals over the evaluation documents, the
tie rule, and warnings when the budget or the evaluation text is too small to say anything.

A score is bits per byte over the whole evaluation text: the bits of every document summed, over their
bytes summed. Which documents happened to be in the evaluation text moves that number; resampling the
documents with replacement (the same resamples for every variant, so a comparison is paired: a document
that is hard for one model is hard for the other too) shows by how much. The interval of a difference
that contains 0 is a tie: the evaluation text cannot tell the variants apart. The interval says nothing
about the training seed's noise (one seed per variant), so the warnings stay even when there is no tie.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

# The bootstrap: 1000 resamples, the usual number for a 95% percentile interval (the resampling's own
# error in its ends is small next to its width); the seed is fixed so a rerun writes the same ablation.json.
RESAMPLES = 1000
SEED = 0
CONFIDENCE = 0.95
# Resampled document indices held at once (rows x documents): bounds memory for large evaluation texts.
RESAMPLE_CELLS = 4_000_000

# Below these, the scores are printed with a warning (defined once; ablation.json records them):
# - optimiser steps: a model of fewer than ~100 steps has mostly learnt token frequencies and is still
#   in or just past its warmup, so its score ranks the tokenizer's fit to each variant, not what the
#   data teaches, and differences between variants can be of the size the seed alone makes.
# - evaluation documents: the interval is a bootstrap over documents; with a few dozen of them the
#   percentile interval is itself unreliable (it tends to be too narrow), and a handful of pages cannot
#   stand for the data.
# - evaluation bytes: under ~100 kB one long page can decide the score, whatever the number of documents.
MIN_STEPS = 100
MIN_EVAL_DOCUMENTS = 50
MIN_EVAL_BYTES = 100_000
# A loss curve of fewer points than this is not drawn: the report says so instead.
MIN_CURVE_POINTS = 5
# Most decimals ever printed for a score or a difference (the scores are rounded to 6 in ablation.json).
MAX_DECIMALS = 4


def thresholds() -> dict[str, Any]:
    """The settings behind the intervals and the warnings, as ablation.json records them."""
    return {
        "min_optimizer_steps": MIN_STEPS,
        "min_eval_documents": MIN_EVAL_DOCUMENTS,
        "min_eval_bytes": MIN_EVAL_BYTES,
        "bootstrap": {"over": "evaluation documents", "resamples": RESAMPLES, "seed": SEED, "confidence": CONFIDENCE},
    }


def resampled_scores(
    bits: np.ndarray, document_bytes: np.ndarray, resamples: int = RESAMPLES, seed: int = SEED
) -> np.ndarray:
    """Bits per byte of every variant (rows of `bits`: variants x documents) on each of `resamples` bootstrap
    resamples of the documents, the same resamples for every variant: an array of variants x resamples.
    Deterministic: it depends on the seed and the number of documents alone."""
    bits = np.atleast_2d(np.asarray(bits, dtype=np.float64))
    document_bytes = np.asarray(document_bytes, dtype=np.float64)
    n = document_bytes.size
    if bits.shape[1] != n or n == 0:
        raise ValueError(f"{bits.shape[1]} documents of bits against {n} documents of bytes")
    rows = max(1, min(resamples, RESAMPLE_CELLS // n))
    out = np.empty((bits.shape[0], resamples))
    for chunk, first in enumerate(range(0, resamples, rows)):
        size = min(rows, resamples - first)
        picked = np.random.default_rng([seed, chunk]).integers(0, n, size=(size, n))
        out[:, first : first + size] = bits[:, picked].sum(axis=-1) / np.maximum(document_bytes[picked].sum(axis=-1), 1)
    return out


def interval(samples: np.ndarray, confidence: float = CONFIDENCE) -> list[float]:
    """The percentile interval of bootstrap samples: [low, high], rounded as the scores are."""
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(samples, [tail, 100 - tail])
    return [round(float(low), 6), round(float(high), 6)]


def compare(bits: dict[str, np.ndarray], document_bytes: np.ndarray) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Each variant's score interval, and every pair's paired difference (first minus second) with its
    interval and verdict: the better variant's name (lower bits per byte), or "tie" when the interval of
    the difference contains 0. With fewer than two documents there is nothing to resample: intervals are
    None and the verdict "no interval"."""
    names = list(bits)
    matrix = np.stack([np.asarray(bits[name], dtype=np.float64) for name in names])
    total_bytes = max(float(np.sum(document_bytes)), 1.0)
    points = {name: matrix[k].sum() / total_bytes for k, name in enumerate(names)}
    samples = resampled_scores(matrix, document_bytes) if len(document_bytes) >= 2 else None
    intervals = {name: interval(samples[k]) if samples is not None else None for k, name in enumerate(names)}
    comparisons = []
    for i, first in enumerate(names):
        for j in range(i + 1, len(names)):
            second = names[j]
            difference = round(float(points[first] - points[second]), 6)
            span = interval(samples[i] - samples[j]) if samples is not None else None
            if span is None:
                verdict = "no interval"
            elif span[0] <= 0 <= span[1]:
                verdict = "tie"
            else:
                verdict = first if difference < 0 else second
            comparisons.append(
                {"first": first, "second": second, "difference": difference, "interval": span, "verdict": verdict}
            )
    return intervals, comparisons


def warnings_for(steps: int, eval_documents: int, eval_bytes: int, repeated: dict[str, float | None]) -> list[str]:
    """Why the scores may say little: too few optimiser steps, too small an evaluation text, data repeated."""
    found = []
    if steps < MIN_STEPS:
        found.append(
            f"{steps} optimiser step{'s' * (steps != 1)} per variant (fewer than {MIN_STEPS}): the models have "
            "barely started to learn, so the scores say little about the data (--train-tokens, or more data)"
        )
    if eval_documents < MIN_EVAL_DOCUMENTS:
        found.append(
            f"an evaluation text of {eval_documents} document{'s' * (eval_documents != 1)} (fewer than "
            f"{MIN_EVAL_DOCUMENTS}): "
            + ("no interval can be computed" if eval_documents < 2 else "its intervals are rough and likely too narrow")
            + " (--eval with more documents, or more data)"
        )
    if eval_bytes < MIN_EVAL_BYTES:
        found.append(
            f"an evaluation text of {eval_bytes:,} bytes (fewer than {MIN_EVAL_BYTES:,}): a single page can decide "
            "the score"
        )
    for name, times in repeated.items():
        if times:
            found.append(
                f"{name} repeats its training data {times:g} times: the comparison mixes its data with repetition"
            )
    return found


def decimals(low: float, high: float) -> int:
    """Decimals that show an interval's half-width to one significant figure: a score of 3.0062 with an
    interval of +-0.03 is printed 3.01, not as if the fourth decimal meant something."""
    half = (high - low) / 2
    if not math.isfinite(half) or half <= 0:
        return MAX_DECIMALS
    return min(MAX_DECIMALS, max(0, -math.floor(math.log10(half))))


def score_decimals(name: str, span: list[float] | None, comparisons: list[dict[str, Any]]) -> int:
    """Decimals for a variant's score: what its own interval supports, or what the narrowest interval of
    a difference it takes part in supports, if finer. Paired differences are often far narrower than the
    scores' own intervals; two scores printed alike beside a verdict that one is better would read as a
    contradiction."""
    found = [decimals(*span)] if span is not None else [MAX_DECIMALS]
    for comparison in comparisons:
        if name in (comparison["first"], comparison["second"]) and comparison["interval"] is not None:
            found.append(decimals(*comparison["interval"]))
    return max(found)


def score_text(score: float, span: list[float] | None, digits: int | None = None) -> str:
    """A score with its interval, to `digits` decimals (by default, what the interval supports)."""
    if span is None:
        return f"{score:.{MAX_DECIMALS}f} (no interval)"
    d = decimals(*span) if digits is None else digits
    return f"{score:.{d}f} (95% {span[0]:.{d}f} to {span[1]:.{d}f})"


def verdict_text(comparison: dict[str, Any]) -> str:
    """One comparison in words; a tie names no winner, and no figure is given to more decimals than the
    interval of the difference supports."""
    first, second, span = comparison["first"], comparison["second"], comparison["interval"]
    if span is None:
        return f"{first} vs {second}: no verdict (too few evaluation documents for an interval)"
    d = decimals(*span)
    where = f"95% interval of {first} minus {second}: {span[0]:+.{d}f} to {span[1]:+.{d}f}"
    if comparison["verdict"] == "tie":
        return f"{first} vs {second}: tie ({where}, which contains 0)"
    better = comparison["verdict"]
    return f"{first} vs {second}: {better} is better by {abs(comparison['difference']):.{d}f} bits per byte ({where})"


def summary_lines(summary: dict[str, Any]) -> list[str]:
    """What the terminal shows at the end of an ablation: each score with its interval, every verdict, and
    the warnings last, where they are seen."""
    evaluation = summary["eval"]
    width = max(len(v["name"]) for v in summary["variants"]) + 2
    lines = [
        f"bits per byte on the evaluation text ({evaluation['documents']:,} document"
        f"{'s' * (evaluation['documents'] != 1)}, {evaluation['bytes']:,} "
        f"bytes), 95% bootstrap interval over its documents; lower is better:"
    ]
    for v in summary["variants"]:
        digits = score_decimals(v["name"], v["eval_interval"], summary["comparisons"])
        lines.append(f"  {v['name']:<{width}}{score_text(v['eval_bits_per_byte'], v['eval_interval'], digits)}")
    lines += [verdict_text(c) for c in summary["comparisons"]]
    lines += [f"WARNING: {w}" for w in summary["warnings"]]
    return lines

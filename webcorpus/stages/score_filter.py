"""score_filter: keep documents whose score (a metadata value, e.g. fasttext_classifier's) reaches a threshold."""

from __future__ import annotations

import math
from collections import Counter
from typing import Literal

from webcorpus.document import Document
from webcorpus.pipeline.drops import compared, dropped
from webcorpus.pipeline.options import OptionError, check_arguments, check_options
from webcorpus.pipeline.step import LANGUAGE_TOP, Filter, StageStats, language_of

# The report's score histograms (report/html.py `_scores`), in the step's stats distributions:
# - SCORE_PREFIX + language: scored documents per bin of width 1/BINS_PER_UNIT, labelled by the bin's lower
#   edge with 2 decimals ("0.35" holds [0.35, 0.40)). Scores are clamped to [-SCORE_LIMIT, SCORE_LIMIT] first,
#   so a hostile 1e300 lands in the bin "10.00" and a language has at most 401 bins. Per input file the
#   first LANGUAGE_TOP languages seen get their own histogram, later ones are counted under OTHER_LANGUAGE
#   (step.py's `_bounded` keeps every bin of a name that is not a language count, so the bound is kept here).
# - SCORED_KEPT: scored documents kept, per language (the same labels). Not "score_..." so that no language
#   label can collide with it.
# - THRESHOLDS: the thresholds in force, as "LANGUAGE=REPR(THRESHOLD)" -> the number of tasks that used it.
#   A distribution because that is what stats.json keeps per step and merges across tasks; the threshold is
#   in the key (exact, as Python's float repr) rather than in the count because counts are summed over
#   tasks (threshold*1000 as a count would read as 2x the threshold after two input files). Labels are the
#   YAML's own (per_language keys) and DEFAULT_LANGUAGE for `threshold`.
SCORE_PREFIX = "score_"
SCORED_KEPT = "scored_kept"
THRESHOLDS = "thresholds"
OTHER_LANGUAGE = "other"
DEFAULT_LANGUAGE = "(all)"
BINS_PER_UNIT = 20  # bins of width 0.05; multiplying by 20 (exact for 0.35 * 20) rather than dividing by 0.05
SCORE_LIMIT = 10  # probabilities lie in [0, 1], FineWeb-Edu-style regressions in [0, 5]


def score_bin(value: float) -> str:
    """A score's histogram bin: its lower edge with 2 decimals, the score clamped to [-SCORE_LIMIT, SCORE_LIMIT]."""
    clamped = min(max(float(value), -SCORE_LIMIT), SCORE_LIMIT)
    index = math.floor(clamped * BINS_PER_UNIT)
    return f"{index / BINS_PER_UNIT:.2f}"


def _number(value: object) -> float | None:
    """A score as a float, or None where it is not one (missing, a string, a bool, NaN). An int too large for a
    float (JSON metadata may hold 10**400) is infinite, so it is clamped like any other large score."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        number = float(value)
    except OverflowError:
        number = math.inf if value > 0 else -math.inf
    return None if math.isnan(number) else number


class ScoreFilter(Filter):
    """Keeps a document when `metadata[score]` is at least the threshold: `threshold`, or its language's in
    `per_language` (by `metadata["language"]`). Drops `below_threshold`; a document without the score (or with
    one that is not a number) is dropped as `no_score`, or kept with `missing: keep`. Counts every score in a
    histogram per language for the report (see SCORE_PREFIX above)."""

    name = "score_filter"
    drop_reasons = {
        "below_threshold": "The score (e.g. a quality classifier's) is under the threshold.",
        "no_score": "The document has no score in its metadata (with missing: drop).",
    }
    summary = "Keep documents whose metadata score (e.g. quality_hq) is at least a threshold."
    option_help = {
        "score": "The metadata key holding the score (fasttext_classifier writes NAME_LABEL, e.g. quality_hq).",
        "threshold": "Lowest score kept (no default: it depends on the model and the share to keep).",
        "missing": "What to do with a document that has no score: drop (reason no_score) or keep.",
        "per_language": "A threshold per language of metadata.language: {de: {threshold: 0.2}} (YAML only).",
    }

    def __init__(
        self,
        threshold: float,
        score: str = "quality_hq",
        missing: Literal["drop", "keep"] = "drop",
        per_language: dict | None = None,
    ) -> None:
        super().__init__()
        check_arguments(self, locals())
        self.score, self.threshold, self.missing = score, threshold, missing
        self.thresholds: dict[str, float] = {}
        for language, options in (per_language or {}).items():
            if not isinstance(options, dict) or set(options) != {"threshold"}:
                raise OptionError(f"per_language.{language} must be {{threshold: NUMBER}}")
            self.thresholds[str(language)] = check_options(type(self), options, f"per_language.{language}")["threshold"]
        self._counted: StageStats | None = None  # the stats the histograms below belong to (one task's)
        self._histograms: dict[str, Counter[str]] = {}

    def start_task(self) -> None:
        super().start_task()
        self._task_counts()

    def _task_counts(self) -> None:
        """Start counting into `self.stats` if it is new (a new task): record the thresholds once per task."""
        if self._counted is self.stats:
            return
        self._counted, self._histograms = self.stats, {}
        used = self.stats.count(THRESHOLDS)
        used[f"{DEFAULT_LANGUAGE}={float(self.threshold)!r}"] += 1
        for language, threshold in self.thresholds.items():
            used[f"{language}={float(threshold)!r}"] += 1

    def _histogram(self, language: str) -> tuple[str, Counter[str]]:
        """The language's label for the histograms (OTHER_LANGUAGE past LANGUAGE_TOP) and its histogram."""
        histogram = self._histograms.get(language)
        if histogram is None:
            if len(self._histograms) >= LANGUAGE_TOP:
                language = OTHER_LANGUAGE
            histogram = self._histograms.get(language) or self.stats.count(SCORE_PREFIX + language)
            self._histograms[language] = histogram
        return language, histogram

    def filter(self, document: Document) -> str | None:
        value = _number(document.metadata.get(self.score))
        if value is None:
            return None if self.missing == "keep" else "no_score"
        self._task_counts()
        language = document.metadata.get("language")  # not hashable in foreign metadata: a list, a dict
        threshold = self.thresholds.get(language, self.threshold) if isinstance(language, str) else self.threshold
        label, histogram = self._histogram(language_of(document.metadata))
        histogram[score_bin(value)] += 1
        if value >= threshold:
            self.stats.count(SCORED_KEPT)[label] += 1
            return None
        return dropped(document, "below_threshold", compared(f"{self.score}", value, "<", threshold))

"""score_filter: keep documents whose score (a metadata value, e.g. fasttext_classifier's) reaches a threshold."""

from __future__ import annotations

import math
from typing import Literal

from webcorpus.document import Document
from webcorpus.pipeline.options import OptionError, check_arguments, check_options
from webcorpus.pipeline.step import Filter


class ScoreFilter(Filter):
    """Keeps a document when `metadata[score]` is at least the threshold: `threshold`, or its language's in
    `per_language` (by `metadata["language"]`). Drops `below_threshold`; a document without the score (or with
    one that is not a number) is dropped as `no_score`, or kept with `missing: keep`."""

    name = "score_filter"
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

    def filter(self, document: Document) -> str | None:
        value = document.metadata.get(self.score)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
            return None if self.missing == "keep" else "no_score"
        threshold = self.thresholds.get(document.metadata.get("language"), self.threshold)
        return None if value >= threshold else "below_threshold"

"""gopher-quality: Gopher's document quality rules (Rae et al. 2021): length, symbols, stop words."""

from __future__ import annotations

from typing import Any

from webcorpus.document import Document
from webcorpus.languages.table import LANGUAGE_OPTION_HELP, LanguageOptions, TableName
from webcorpus.pipeline.drops import compared, dropped
from webcorpus.pipeline.options import check_arguments
from webcorpus.pipeline.step import Filter
from webcorpus.text import has_alpha, is_symbol, split_words

GOPHER_STOP_WORDS = ["the", "be", "to", "of", "and", "that", "have", "with"]


class GopherQualityFilter(LanguageOptions, Filter):
    """Gopher's quality rules: 50 to 100,000 words (punctuation-only words not counted), mean word length
    3 to 10, `#` and ellipses per word at most 0.1, at most 90% bullet lines and 30% lines ending in an
    ellipsis, at least 80% of words with a letter, at least 2 of the stop words. A document with no words
    is dropped as `no_words`. Words are the document language's (webcorpus/text.py); with
    `language_thresholds: fineweb2` the word lengths, letter ratio and stop words are FineWeb-2's for
    the document's language."""

    name = "gopher_quality"
    summary = "Drop documents failing Gopher's quality rules (word count, word length, symbols, stop words)."
    drop_reasons = {
        "no_words": "No words at all.",
        "short_doc": "Fewer words than min_doc_words: too short to be a useful document.",
        "long_doc": "More words than max_doc_words.",
        "short_words": "Mean word length under min_avg_word_length: lists of codes, numbers or fragments.",
        "long_words": "Mean word length over max_avg_word_length: run-together text, hashes, URLs.",
        "too_many_hashes": "Too many '#' per word: hashtag and tag lists.",
        "too_many_ellipsis": "Too many '...' per word: truncated teasers.",
        "too_many_bullets": "Mostly bullet lines: menus and lists rather than prose.",
        "too_many_end_ellipsis": "Too many lines ending in '...': snippets of other pages.",
        "few_alpha_words": "Too few words holding a letter: numbers, symbols, tables.",
        "few_stop_words": "Too few common stop words: not running text in the language.",
    }
    option_minimum = {
        "min_doc_words": 0, "max_doc_words": 0, "min_avg_word_length": 0, "max_avg_word_length": 0,
        "max_symbol_word_ratio": 0, "max_bullet_lines_ratio": 0, "max_ellipsis_lines_ratio": 0,
        "min_alpha_words_ratio": 0, "min_stop_words": 0,
    }  # fmt: skip
    option_maximum = {"max_bullet_lines_ratio": 1, "max_ellipsis_lines_ratio": 1, "min_alpha_words_ratio": 1}
    option_help = {
        "min_doc_words": "Fewest words (not counting punctuation-only words).",
        "max_doc_words": "Most words.",
        "min_avg_word_length": "Shortest mean word length, in characters.",
        "max_avg_word_length": "Longest mean word length.",
        "max_symbol_word_ratio": "Max ratio of '#' and of '...' to words.",
        "max_bullet_lines_ratio": "Max fraction of lines starting with a bullet (•, -).",
        "max_ellipsis_lines_ratio": "Max fraction of lines ending with an ellipsis.",
        "min_alpha_words_ratio": "Min fraction of words holding a letter.",
        "min_stop_words": "Fewest distinct stop words.",
        "stop_words": "The stop words (default: Gopher's English list).",
        **LANGUAGE_OPTION_HELP,
    }

    def __init__(
        self,
        min_doc_words: int | None = 50,
        max_doc_words: int | None = 100_000,
        min_avg_word_length: float | None = 3,
        max_avg_word_length: float | None = 10,
        max_symbol_word_ratio: float | None = 0.1,
        max_bullet_lines_ratio: float | None = 0.9,
        max_ellipsis_lines_ratio: float | None = 0.3,
        min_alpha_words_ratio: float | None = 0.8,
        min_stop_words: int | None = 2,
        stop_words: list[str] | None = None,
        language_thresholds: TableName | None = None,
        per_language: dict | None = None,
    ) -> None:
        super().__init__()
        check_arguments(self, locals())
        self.set_language_options(locals())
        self.min_doc_words = min_doc_words
        self.max_doc_words = max_doc_words
        self.min_avg_word_length = min_avg_word_length
        self.max_avg_word_length = max_avg_word_length
        self.max_symbol_word_ratio = max_symbol_word_ratio
        self.max_bullet_lines_ratio = max_bullet_lines_ratio
        self.max_ellipsis_lines_ratio = max_ellipsis_lines_ratio
        self.min_alpha_words_ratio = min_alpha_words_ratio
        self.min_stop_words = min_stop_words
        self.stop_words = frozenset(GOPHER_STOP_WORDS if stop_words is None else stop_words)

    @staticmethod
    def options_from_table(entry: dict[str, Any]) -> dict[str, Any]:
        return {
            "min_avg_word_length": entry["min_avg_word_length"],
            "max_avg_word_length": entry["max_avg_word_length"],
            # FineWeb-2's (and datatrove's) name for the least share of words holding a letter.
            "min_alpha_words_ratio": entry["max_non_alpha_words_ratio"],
            "stop_words": entry["stopwords"],
            "min_stop_words": entry["min_stop_words"],
        }

    def filter(self, document: Document) -> str | None:
        return self.for_language(document).judge(document)

    def judge(self, document: Document) -> str | None:
        text = document.text
        words = split_words(text, document.metadata.get("language"))
        if not words:
            return dropped(document, "no_words", "no words")
        real_words = [w for w in words if not is_symbol(w)]
        if self.min_doc_words is not None and len(real_words) < self.min_doc_words:
            return dropped(document, "short_doc", compared("words", len(real_words), "<", self.min_doc_words))
        if self.max_doc_words is not None and len(real_words) > self.max_doc_words:
            return dropped(document, "long_doc", compared("words", len(real_words), ">", self.max_doc_words))
        if real_words:
            mean_length = sum(map(len, real_words)) / len(real_words)
            if self.min_avg_word_length is not None and mean_length < self.min_avg_word_length:
                detail = compared("mean word length", mean_length, "<", self.min_avg_word_length)
                return dropped(document, "short_words", detail)
            if self.max_avg_word_length is not None and mean_length > self.max_avg_word_length:
                detail = compared("mean word length", mean_length, ">", self.max_avg_word_length)
                return dropped(document, "long_words", detail)
        n_words = len(words)
        if self.max_symbol_word_ratio is not None:
            if text.count("#") / n_words > self.max_symbol_word_ratio:
                detail = compared("'#' per word", text.count("#") / n_words, ">", self.max_symbol_word_ratio)
                return dropped(document, "too_many_hashes", detail)
            ellipses = text.count("...") + text.count("…")
            if ellipses / n_words > self.max_symbol_word_ratio:
                detail = compared("ellipses per word", ellipses / n_words, ">", self.max_symbol_word_ratio)
                return dropped(document, "too_many_ellipsis", detail)
        lines = text.splitlines() or [""]
        if self.max_bullet_lines_ratio is not None:
            bullets = sum(line.lstrip().startswith(("•", "-")) for line in lines)
            if bullets / len(lines) > self.max_bullet_lines_ratio:
                detail = compared("share of bullet lines", bullets / len(lines), ">", self.max_bullet_lines_ratio)
                return dropped(document, "too_many_bullets", detail)
        if self.max_ellipsis_lines_ratio is not None:
            ellipses = sum(line.rstrip().endswith(("...", "…")) for line in lines)
            if ellipses / len(lines) > self.max_ellipsis_lines_ratio:
                share = ellipses / len(lines)
                detail = compared("share of lines ending in an ellipsis", share, ">", self.max_ellipsis_lines_ratio)
                return dropped(document, "too_many_end_ellipsis", detail)
        if self.min_alpha_words_ratio is not None:
            alpha = sum(map(has_alpha, words)) / n_words
            if alpha < self.min_alpha_words_ratio:
                detail = compared("share of words with a letter", alpha, "<", self.min_alpha_words_ratio)
                return dropped(document, "few_alpha_words", detail)
        if self.min_stop_words is not None:
            stop_words = len(self.stop_words.intersection(words))
            if stop_words < self.min_stop_words:
                detail = compared("distinct stop words", stop_words, "<", self.min_stop_words)
                return dropped(document, "few_stop_words", detail)
        return None

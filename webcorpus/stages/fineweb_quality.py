"""fineweb-quality: the filters FineWeb added (Penedo et al. 2024) with their published thresholds."""

from __future__ import annotations

from typing import Any

from webcorpus.document import Document
from webcorpus.languages.table import LANGUAGE_OPTION_HELP, LanguageOptions, TableName
from webcorpus.pipeline.drops import compared, dropped
from webcorpus.pipeline.options import check_arguments
from webcorpus.pipeline.step import Filter
from webcorpus.text import TERMINAL_PUNCTUATION, find_duplicates, split_words


class FineWebQualityFilter(LanguageOptions, Filter):
    """FineWeb's own rules: at least 12% of lines end in terminal punctuation, at most 67% of lines are 30
    characters or shorter, at most 1% of characters in repeated lines, at most 0.3 newlines per word.
    Reasons: `line_punct_ratio`, `short_line_ratio`, `char_dup_ratio`, `list_ratio`. Terminal punctuation
    is every script's (。！？ ।, ...); words are the document language's; with `language_thresholds: fineweb2`
    the punctuation and newline thresholds are FineWeb-2's for the document's language."""

    name = "fineweb_quality"
    summary = "Drop documents FineWeb's own rules reject (line punctuation, short lines, repeats, lists)."
    drop_reasons = {
        "empty": "No line with text.",
        "line_punct_ratio": "Too few lines end in terminal punctuation: menus, titles, lists rather than prose.",
        "short_line_ratio": "Too many short lines: navigation and link lists.",
        "char_dup_ratio": "Too many characters in repeated lines: templates and boilerplate.",
        "list_ratio": "Too many newlines per word: a list rather than running text.",
    }
    option_minimum = dict.fromkeys(
        ("line_punct_thr", "short_line_thr", "short_line_length", "char_duplicates_ratio", "new_line_ratio"), 0
    )
    option_maximum = {"line_punct_thr": 1, "short_line_thr": 1, "char_duplicates_ratio": 1}
    option_help = {
        "line_punct_thr": "Min fraction of lines ending in terminal punctuation.",
        "line_punct_exclude_zero": "Keep documents where no line ends in punctuation (skip that rule).",
        "short_line_thr": "Max fraction of short lines (null: off, as in FineWeb-2).",
        "short_line_length": "A line this many characters or fewer is short.",
        "char_duplicates_ratio": "Max fraction of characters in repeated lines.",
        "new_line_ratio": "Max newlines per word (list-like documents).",
        **LANGUAGE_OPTION_HELP,
    }

    def __init__(
        self,
        line_punct_thr: float = 0.12,
        line_punct_exclude_zero: bool = False,
        short_line_thr: float | None = 0.67,
        short_line_length: int = 30,
        char_duplicates_ratio: float = 0.01,
        new_line_ratio: float = 0.3,
        language_thresholds: TableName | None = None,
        per_language: dict | None = None,
    ) -> None:
        super().__init__()
        check_arguments(self, locals())
        self.set_language_options(locals())
        self.line_punct_thr = line_punct_thr
        self.line_punct_exclude_zero = line_punct_exclude_zero
        self.short_line_thr = short_line_thr
        self.short_line_length = short_line_length
        self.char_duplicates_ratio = char_duplicates_ratio
        self.new_line_ratio = new_line_ratio

    @staticmethod
    def options_from_table(entry: dict[str, Any]) -> dict[str, Any]:
        return {"line_punct_thr": entry["line_punct_thr"], "new_line_ratio": entry["new_line_ratio"]}

    def filter(self, document: Document) -> str | None:
        return self.for_language(document).judge(document)

    def judge(self, document: Document) -> str | None:
        text = document.text
        lines = [line for line in text.split("\n") if line.strip()]
        if not lines:
            return dropped(document, "empty", "no line with text")
        ratio = sum(line.endswith(TERMINAL_PUNCTUATION) for line in lines) / len(lines)
        if ratio < self.line_punct_thr and not (ratio == 0 and self.line_punct_exclude_zero):
            detail = compared("share of lines ending in punctuation", ratio, "<", self.line_punct_thr)
            return dropped(document, "line_punct_ratio", detail)
        short_lines = sum(len(line) <= self.short_line_length for line in lines)
        if self.short_line_thr is not None and short_lines / len(lines) > self.short_line_thr:
            measure = f"share of lines of {self.short_line_length} characters or fewer"
            detail = compared(measure, short_lines / len(lines), ">", self.short_line_thr)
            return dropped(document, "short_line_ratio", detail)
        duplicated = find_duplicates(lines)[1] / len(text.replace("\n", ""))
        if duplicated > self.char_duplicates_ratio:
            detail = compared("share of characters in repeated lines", duplicated, ">", self.char_duplicates_ratio)
            return dropped(document, "char_dup_ratio", detail)
        words = split_words(text, document.metadata.get("language"))
        if not words:
            return dropped(document, "list_ratio", "no words")
        if text.count("\n") / len(words) > self.new_line_ratio:
            detail = compared("newlines per word", text.count("\n") / len(words), ">", self.new_line_ratio)
            return dropped(document, "list_ratio", detail)
        return None

"""gopher-repetition: drop documents that repeat themselves (Gopher, Rae et al. 2021, table A1)."""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from webcorpus.document import Document
from webcorpus.languages.table import LANGUAGE_OPTION_HELP, LanguageOptions, TableName
from webcorpus.pipeline.drops import compared, dropped
from webcorpus.pipeline.options import check_arguments
from webcorpus.pipeline.step import Filter
from webcorpus.text import find_duplicates, split_words

PARAGRAPH_BREAK = re.compile(r"\n{2,}")
LINE_BREAK = re.compile(r"\n+")
# Every option but the language ones is a share of lines, paragraphs or characters.
FRACTIONS = (
    "dup_line_frac", "dup_para_frac", "dup_line_char_frac", "dup_para_char_frac", "top_2_gram_frac", "top_3_gram_frac",
    "top_4_gram_frac", *(f"dup_{n}_gram_frac" for n in range(5, 11)),
)  # fmt: skip


def next_gram_ids(gram_ids: np.ndarray, words: np.ndarray, n: int) -> np.ndarray:
    """Ids of the n-grams starting at each position, from the ids of the (n-1)-grams: two n-grams get the
    same id exactly when they have the same words. Integers instead of tuples of words keep the memory
    of a long document within a few times its size."""
    keys = gram_ids[:-1].astype(np.int64) * (int(words.max()) + 1) + words[n - 1 :]
    return np.unique(keys, return_inverse=True)[1].reshape(-1)


def top_ngram_chars(gram_ids: np.ndarray, chars_before: np.ndarray, n: int) -> int:
    """Characters covered by the most frequent n-gram (words joined by spaces), times its count.

    `chars_before[i]` is the length of the words before word i, so an n-gram at i holds
    `chars_before[i + n] - chars_before[i]` characters of words.
    """
    counts = np.bincount(gram_ids)
    count = int(counts.max())
    # Ties go to the n-gram seen first, as in datatrove (a Counter's insertion order).
    first = int(np.argmax(counts[gram_ids] == count))
    return (int(chars_before[first + n] - chars_before[first]) + n - 1) * count


def duplicated_ngram_chars(
    gram_ids: np.ndarray, chars_before: np.ndarray, n: int, stop_above: float = float("inf")
) -> int:
    """Characters in n-grams that repeat an earlier one; after a repeat the scan jumps past it,
    so overlapping repeats are not counted twice. Stops early once the count passes `stop_above`."""
    seen = bytearray(int(gram_ids.max()) + 1)
    ids, before = memoryview(gram_ids), memoryview(chars_before)  # plain ints, one at a time
    repeated = i = 0
    while i < len(ids):
        gram = ids[i]
        if seen[gram]:
            repeated += before[i + n] - before[i]
            if repeated > stop_above:
                break
            i += n
        else:
            seen[gram] = 1
            i += 1
    return repeated


class GopherRepetitionFilter(LanguageOptions, Filter):
    """Gopher's repetition rules (Rae et al. 2021, table A1): repeated paragraphs and lines, by count and
    by characters; the most frequent 2-, 3- and 4-gram's share of characters; the share of characters in
    repeated 5- to 10-grams. Reasons: `dup_para_frac`, `dup_line_char_frac`, `top_2_gram`, `dup_5_gram`...
    N-grams are of the document language's words; with `language_thresholds: fineweb2` the line and
    n-gram thresholds are FineWeb-2's for the document's language."""

    name = "gopher_repetition"
    summary = "Drop documents with too many repeated lines, paragraphs or n-grams (Gopher rules)."
    drop_reasons = {
        "empty": "No text at all.",
        "dup_para_frac": "Too many paragraphs repeat an earlier one: boilerplate or spam.",
        "dup_para_char_frac": "Too many characters in repeated paragraphs.",
        "dup_line_frac": "Too many lines repeat an earlier one: navigation, templates.",
        "dup_line_char_frac": "Too many characters in repeated lines.",
        **{f"top_{n}_gram": f"The most frequent word {n}-gram covers too many characters: a phrase said over "
           "and over." for n in (2, 3, 4)},
        **{f"dup_{n}_gram": f"Too many characters in word {n}-grams seen earlier in the document: repeated "
           "passages." for n in range(5, 11)},
    }  # fmt: skip
    option_minimum = dict.fromkeys(FRACTIONS, 0)
    option_maximum = dict.fromkeys(FRACTIONS, 1)
    option_help = {
        "dup_line_frac": "Max fraction of lines that repeat an earlier line.",
        "dup_para_frac": "Max fraction of paragraphs that repeat an earlier paragraph.",
        "dup_line_char_frac": "Max fraction of characters in repeated lines.",
        "dup_para_char_frac": "Max fraction of characters in repeated paragraphs.",
        "top_2_gram_frac": "Max fraction of characters in the most frequent word 2-gram.",
        "top_3_gram_frac": "Same for 3-grams.",
        "top_4_gram_frac": "Same for 4-grams.",
        "dup_5_gram_frac": "Max fraction of characters in repeated word 5-grams.",
        "dup_6_gram_frac": "Same for 6-grams.",
        "dup_7_gram_frac": "Same for 7-grams.",
        "dup_8_gram_frac": "Same for 8-grams.",
        "dup_9_gram_frac": "Same for 9-grams.",
        "dup_10_gram_frac": "Same for 10-grams.",
        **LANGUAGE_OPTION_HELP,
    }

    def __init__(
        self,
        dup_line_frac: float | None = 0.3,
        dup_para_frac: float | None = 0.3,
        dup_line_char_frac: float | None = 0.2,
        dup_para_char_frac: float | None = 0.2,
        top_2_gram_frac: float | None = 0.2,
        top_3_gram_frac: float | None = 0.18,
        top_4_gram_frac: float | None = 0.16,
        dup_5_gram_frac: float | None = 0.15,
        dup_6_gram_frac: float | None = 0.14,
        dup_7_gram_frac: float | None = 0.13,
        dup_8_gram_frac: float | None = 0.12,
        dup_9_gram_frac: float | None = 0.11,
        dup_10_gram_frac: float | None = 0.10,
        language_thresholds: TableName | None = None,
        per_language: dict | None = None,
    ) -> None:
        super().__init__()
        check_arguments(self, locals())
        self.set_language_options(locals())
        self.dup_line_frac = dup_line_frac
        self.dup_para_frac = dup_para_frac
        self.dup_line_char_frac = dup_line_char_frac
        self.dup_para_char_frac = dup_para_char_frac
        self.top_grams = [(2, top_2_gram_frac), (3, top_3_gram_frac), (4, top_4_gram_frac)]
        self.dup_grams = [
            (n, frac)
            for n, frac in zip(
                range(5, 11),
                (dup_5_gram_frac, dup_6_gram_frac, dup_7_gram_frac, dup_8_gram_frac, dup_9_gram_frac, dup_10_gram_frac),
            )
        ]

    @staticmethod
    def options_from_table(entry: dict[str, Any]) -> dict[str, Any]:
        options = {"dup_line_frac": entry["dup_line_frac"]}
        options.update({f"top_{n}_gram_frac": frac for n, frac in entry["top_n_grams"].items()})
        options.update({f"dup_{n}_gram_frac": frac for n, frac in entry["dup_n_grams"].items()})
        return options

    def filter(self, document: Document) -> str | None:
        return self.for_language(document).judge(document)

    def judge(self, document: Document) -> str | None:
        text = document.text
        if not text:
            return dropped(document, "empty", "no text")
        size = len(text)
        paragraphs = PARAGRAPH_BREAK.split(text.strip())
        repeats, chars = find_duplicates(paragraphs)
        if self.dup_para_frac is not None and repeats / len(paragraphs) > self.dup_para_frac:
            detail = compared("share of repeated paragraphs", repeats / len(paragraphs), ">", self.dup_para_frac)
            return dropped(document, "dup_para_frac", detail)
        if self.dup_para_char_frac is not None and chars / size > self.dup_para_char_frac:
            detail = compared("share of characters in repeated paragraphs", chars / size, ">", self.dup_para_char_frac)
            return dropped(document, "dup_para_char_frac", detail)
        lines = LINE_BREAK.split(text)
        repeats, chars = find_duplicates(lines)
        if self.dup_line_frac is not None and repeats / len(lines) > self.dup_line_frac:
            detail = compared("share of repeated lines", repeats / len(lines), ">", self.dup_line_frac)
            return dropped(document, "dup_line_frac", detail)
        if self.dup_line_char_frac is not None and chars / size > self.dup_line_char_frac:
            detail = compared("share of characters in repeated lines", chars / size, ">", self.dup_line_char_frac)
            return dropped(document, "dup_line_char_frac", detail)

        words = split_words(text, document.metadata.get("language"))
        if len(words) < 2:
            return None
        vocabulary: dict[str, int] = {}
        word_ids = np.fromiter((vocabulary.setdefault(w, len(vocabulary)) for w in words), np.int64, len(words))
        word_length = np.fromiter(map(len, vocabulary), np.int64, len(vocabulary))
        chars_before = np.concatenate(([0], np.cumsum(word_length[word_ids])))
        gram_ids = word_ids
        for n, frac in self.top_grams:
            if len(words) < n:
                return None
            gram_ids = next_gram_ids(gram_ids, word_ids, n)
            if frac is not None and (share := top_ngram_chars(gram_ids, chars_before, n) / size) > frac:
                detail = compared(f"share of characters in the top {n}-gram", share, ">", frac)
                return dropped(document, f"top_{n}_gram", detail)
        for n, frac in self.dup_grams:
            if len(words) < n:
                return None
            gram_ids = next_gram_ids(gram_ids, word_ids, n)
            if n == 5 and int(gram_ids.max()) + 1 == len(gram_ids):
                return None  # every 5-gram is new, so is every longer n-gram: nothing is repeated
            if frac is not None and duplicated_ngram_chars(gram_ids, chars_before, n, frac * size) / size > frac:
                # The count above stopped once past the threshold; the whole count, for dropped documents only.
                share = duplicated_ngram_chars(gram_ids, chars_before, n) / size
                detail = compared(f"share of characters in repeated {n}-grams", share, ">", frac)
                return dropped(document, f"dup_{n}_gram", detail)
        return None

"""c4-quality: C4's line cleaning and document rules (Raffel et al. 2020), as FineWeb configured them."""

from __future__ import annotations

import re

from webcorpus.document import Document
from webcorpus.languages.segmenters import SEGMENTED_LANGUAGES
from webcorpus.pipeline.drops import compared, dropped
from webcorpus.pipeline.options import check_arguments
from webcorpus.pipeline.step import Filter
from webcorpus.text import SENTENCE_END_TOKENS, is_symbol, words_of

CITATION = re.compile(r"\[\d*]|\[edit]|\[citation needed]")
LINE_END_PUNCTUATION = (".", "?", "!", '"', "'")
POLICY_PHRASES = ("terms of use", "privacy policy", "cookie policy", "uses cookies", "use of cookies", "use cookies")


def count_sentences(line: str, language: str | None = None) -> int:
    """Sentences in a line: a new one starts at the first word after a sentence-ending mark (any script's:
    `。` and `！` are words of their own in a segmented language)."""
    sentences, after_end = 1, False
    for word in words_of(line, language):  # lines are not worth caching
        if word in SENTENCE_END_TOKENS:
            after_end = True
        elif after_end and not is_symbol(word):
            sentences += 1
            after_end = False
    return sentences


class C4QualityFilter(Filter):
    """C4's rules (Raffel et al. 2020), rewriting the text: removes lines with a word over 1000 characters,
    under 3 words, mentioning javascript, or about terms of use, privacy or cookie policies, and Wikipedia
    citation marks; drops documents containing "lorem ipsum" or `{`, or with under 5 sentences left. The
    rule "lines must end in terminal punctuation" is off by default, as in FineWeb. C4 was made for English
    (FineWeb-2 does not use it); words per line are whitespace-separated, except in a language with a word
    segmenter (ja, zh, ko, th), where they are its words."""

    name = "c4_quality"
    summary = "Remove C4's bad lines (javascript, cookie notices, too few words) and drop C4-bad documents."
    drop_reasons = {
        "lorem_ipsum": "Holds 'lorem ipsum': placeholder text.",
        "curly_bracket": "Holds '{': code or unrendered templates.",
        "too_few_sentences": "Fewer than min_num_sentences sentences left once C4's bad lines are removed.",
    }
    option_minimum = {"min_num_sentences": -1, "min_words_per_line": -1, "max_word_length": -1}  # -1: off
    option_help = {
        "filter_no_terminal_punct": "Remove lines not ending in . ? ! \" ' (C4 did; FineWeb turned it off).",
        "min_num_sentences": "Drop documents with fewer sentences left (-1: off).",
        "min_words_per_line": "Remove lines with fewer words (-1: off).",
        "max_word_length": "Remove lines holding a longer word (-1: off).",
        "remove_citations": "Delete Wikipedia-style [1], [edit], [citation needed] marks.",
        "filter_lorem_ipsum": "Drop documents containing 'lorem ipsum'.",
        "filter_javascript": "Remove lines mentioning javascript.",
        "filter_curly_bracket": "Drop documents containing '{'.",
        "filter_policy": "Remove lines about terms of use, privacy or cookie policies.",
    }

    def __init__(
        self,
        filter_no_terminal_punct: bool = False,
        min_num_sentences: int = 5,
        min_words_per_line: int = 3,
        max_word_length: int = 1000,
        remove_citations: bool = True,
        filter_lorem_ipsum: bool = True,
        filter_javascript: bool = True,
        filter_curly_bracket: bool = True,
        filter_policy: bool = True,
    ) -> None:
        super().__init__()
        check_arguments(self, locals())
        self.filter_no_terminal_punct = filter_no_terminal_punct
        self.min_num_sentences = min_num_sentences
        self.min_words_per_line = min_words_per_line
        self.max_word_length = max_word_length
        self.remove_citations = remove_citations
        self.filter_lorem_ipsum = filter_lorem_ipsum
        self.filter_javascript = filter_javascript
        self.filter_curly_bracket = filter_curly_bracket
        self.filter_policy = filter_policy

    def filter(self, document: Document) -> str | None:
        kept: list[str] = []
        sentences = 0
        language = document.metadata.get("language")
        segmented = language in SEGMENTED_LANGUAGES
        for line in document.text.splitlines():
            line = line.strip()
            words = words_of(line, language) if segmented else line.split()
            if self.max_word_length != -1 and any(len(word) > self.max_word_length for word in words):
                continue
            if self.remove_citations:
                line = CITATION.sub("", line)
            if self.filter_no_terminal_punct and (not line.endswith(LINE_END_PUNCTUATION) or line.endswith("...")):
                continue
            if len(words) < self.min_words_per_line:
                continue
            lower = line.lower()
            if self.filter_lorem_ipsum and "lorem ipsum" in lower:
                return dropped(document, "lorem_ipsum", f"'lorem ipsum' in the line: {line[:80]}")
            if self.filter_javascript and "javascript" in lower:
                continue
            if self.filter_curly_bracket and "{" in line:
                return dropped(document, "curly_bracket", f"'{{' in the line: {line[:80]}")
            if self.filter_policy and any(phrase in lower for phrase in POLICY_PHRASES):
                continue
            # Counting stops once the minimum is reached: only "enough or not" matters.
            if sentences < self.min_num_sentences:
                sentences += count_sentences(line, language)
            kept.append(line)
        if self.min_num_sentences != -1 and sentences < self.min_num_sentences:
            detail = compared("sentences in kept lines", sentences, "<", self.min_num_sentences)
            return dropped(document, "too_few_sentences", detail)
        document.text = "\n".join(kept).strip()
        return None

"""Word segmenters for languages written without spaces between words (and Korean, whose words carry
particles), the ones FineWeb-2 counted words with (datatrove's tokenizer assignments):

    ja             SudachiPy, split mode A, its core dictionary (what spaCy's Japanese tokenizer runs)
    zh, yue, wuu   jieba, precise mode (spaCy's Chinese tokenizer with its jieba segmenter)
    ko             Kiwi (kiwipiepy, its default model), the text of each morpheme
    th             PyThaiNLP, the newmm-safe engine

They come with the `multilingual` extra; each ships its dictionary or model, so nothing is downloaded.
A segmenter that is not installed is a one-line error naming the extra (`MissingSegmenter`), never a
silent fallback: counting words another way would change what the filters keep. Segmenters are loaded
once per process, on first use. Whitespace is never a word.
"""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Callable, Iterator
from functools import cache

EXTRA = "webcorpus[multilingual]"
SEGMENTED_LANGUAGES = {"ja": "sudachipy", "zh": "jieba", "yue": "jieba", "wuu": "jieba", "ko": "kiwipiepy",
                       "th": "pythainlp"}  # fmt: skip
# SudachiPy refuses inputs over 49,149 bytes; a piece of at most this many characters (4 bytes each at
# most) is safe. Pieces end after a newline or a sentence mark where one is near the end.
SUDACHI_PIECE_CHARACTERS = 12_000
# Kiwi slows down badly on very long runs of digits and commas (datatrove removes them the same way),
# and more than linearly on long inputs: it is given pieces of at most this many characters.
KIWI_NUMBER_RUN = re.compile("[0-9,]{20,}")
KIWI_PIECE_CHARACTERS = 4_000
_PIECE_END = re.compile(r"[\n。！？!?]")

Segmenter = Callable[[str], list[str]]


class MissingSegmenter(RuntimeError):
    """A language's segmenter is not installed."""


def check_installed(languages: list[str] | None = None) -> None:
    """Raise MissingSegmenter (one line naming the extra) if a segmenter `languages` need is missing;
    None checks every segmenter."""
    wanted = SEGMENTED_LANGUAGES if languages is None else [x for x in languages if x in SEGMENTED_LANGUAGES]
    for language in wanted:
        module = SEGMENTED_LANGUAGES[language]
        try:
            found = importlib.util.find_spec(module) is not None
        except (ImportError, ValueError):  # a module set to None in sys.modules: blocked
            found = False
        if not found:
            raise MissingSegmenter(
                f"words of '{language}' documents are counted with {module}, which is not installed: "
                f"pip install '{EXTRA}'"
            )


@cache
def segmenter(language: str) -> Segmenter:
    """The word segmenter of `language` (one of SEGMENTED_LANGUAGES), loaded on first use."""
    check_installed([language])
    module = SEGMENTED_LANGUAGES[language]
    if module == "sudachipy":
        return _sudachi()
    if module == "jieba":
        return _jieba()
    if module == "kiwipiepy":
        return _kiwi()
    return _thai()


def _words(tokens: Iterator[str]) -> list[str]:
    return [token.strip() for token in tokens if not token.isspace() and token]


def pieces(text: str, length: int) -> Iterator[str]:
    """`text` in consecutive pieces of at most `length` characters, cut after a newline or sentence mark
    in the last quarter of a piece when there is one."""
    start = 0
    while len(text) - start > length:
        end = start + length
        cut = None
        for found in _PIECE_END.finditer(text, end - length // 4, end):
            cut = found.end()
        end = cut or end
        yield text[start:end]
        start = end
    if start < len(text):
        yield text[start:]


def _sudachi() -> Segmenter:
    from sudachipy import Dictionary, SplitMode

    tokenizer = Dictionary().tokenizer(mode=SplitMode.A)

    def split(text: str) -> list[str]:
        words: list[str] = []
        for piece in pieces(text, SUDACHI_PIECE_CHARACTERS):
            words.extend(_words(m.surface() for m in tokenizer.tokenize(piece)))
        return words

    return split


def _jieba() -> Segmenter:
    import logging

    import jieba

    jieba.setLogLevel(logging.WARNING)  # it logs the dictionary's loading at INFO, to stderr
    tokenizer = jieba.Tokenizer()

    def split(text: str) -> list[str]:
        return _words(tokenizer.cut(text, cut_all=False))

    return split


def _kiwi() -> Segmenter:
    from kiwipiepy import Kiwi

    kiwi = Kiwi()

    def split(text: str) -> list[str]:
        words: list[str] = []
        for piece in pieces(KIWI_NUMBER_RUN.sub("", text), KIWI_PIECE_CHARACTERS):
            words.extend(_words(piece[token.start : token.end] for token in kiwi.tokenize(piece)))
        return words

    return split


def _thai() -> Segmenter:
    from pythainlp.tokenize import word_tokenize

    def split(text: str) -> list[str]:
        return _words(iter(word_tokenize(text, engine="newmm-safe", keep_whitespace=False)))

    return split

"""Text helpers the quality filters share: word splitting, punctuation, duplicate counting.

`words_of(text, language)` is the one place words are counted: the quality filters, dedup's shingles
and the stats all ask it, and `split_words` caches its answer so that the filters that follow each other
split a document once.

- Japanese, Chinese, Korean and Thai (`segmenters.SEGMENTED_LANGUAGES`, by the `language` langid wrote):
  the word segmenter FineWeb-2 used for that language (webcorpus/languages/segmenters.py; the
  `multilingual` extra).
- Every other language: one compiled regular expression (plus a dictionary look-up for contractions),
  built to split English the way spaCy's rule-based English tokenizer does, which is what datatrove (and
  so FineWeb) counts words with: punctuation marks are words of their own, `don't` is `do n't`,
  `Covid-19`, `3.5` and URLs stay whole, at a small fraction of spaCy's cost (docs/datatrove.md). spaCy's
  rules for other languages written with spaces differ from the English ones only in their exceptions.
- Lao, Khmer, Burmese and Tibetan (`NO_SPACE_LANGUAGES` without a segmenter here): every character of
  their scripts (and every Han, kana and Thai character) is a word of its own, which counts more words
  than a dictionary segmenter would (docs/multilingual.md).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache, lru_cache

import regex

from webcorpus.languages.segmenters import SEGMENTED_LANGUAGES, segmenter

# Characters that make a "word" a symbol when nothing else is in it (Gopher's non-symbol words), with
# every script's sentence-ending marks (below).
_SYMBOLS = frozenset(
    "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"
    "¡¦§«¬¯°±´¶·»¿×÷‐‑‒–—―‖‘’‚‛“”„‟†‡•‣․‥…‧‰′″‹›※‼‽⁂⁇⁈⁉"
    "、。〃〈〉《》「」『』【】〔〕〖〗〘〙〚〛〜〝〞〟・･｡｢｣､"
    "！＂＃＄％＆＇（）＊＋，－．／：；＜＝＞？＠［＼］＾＿｀｛｜｝～"
    "►◄▲▼■□●○◆◇★☆✓✔✗✘" + "".join(map(chr, [*range(0, 9), *range(11, 32), *range(127, 160)]))
)
# Marks that end a sentence in every script: Unicode's Sentence_Terminal characters (all below U+30000),
# plus Khmer's ៖ ៙ ៚, as in datatrove's list (what FineWeb and FineWeb-2 used).
TERMINAL_PUNCTUATION = (
    *regex.findall(r"\p{Sentence_Terminal}", "".join(map(chr, range(0x30000)))),
    *"\u17d6\u17d9\u17da",
)
SENTENCE_END_TOKENS = frozenset(TERMINAL_PUNCTUATION)
PUNCTUATION = _SYMBOLS | SENTENCE_END_TOKENS

_CJK = (
    "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u0e00-\u0e7f"  # kana, Han, Thai
    "\u0e80-\u0eff\u1780-\u17ff\u1000-\u109f\u0f00-\u0fff"  # Lao, Khmer, Myanmar, Tibetan
)
_QUOTES = "'\"‘’“”`´‚„«»「」『』"
_OPEN_CLOSE = "()[]{}<>（）【】《》〈〉〔〕"
_CURRENCY = "$£€¥₹₽₩฿"
# Marks peeled one at a time off the front and the back of a whitespace-separated chunk.
_EDGE = re.escape("…,:;!?¿¡_#*&。？！，、；：～·%=—–§" + _QUOTES + _OPEN_CLOSE)
_UNITS = "km|m|cm|mm|kg|g|mg|lb|oz|ft|mi|km/h|mph|GB|MB|KB|TB|kb|mb|gb|ms|ml"
_PREFIX = re.compile(rf"\.{{2,}}|[{_EDGE}{re.escape(_CURRENCY)}]|\+(?![0-9])")
# Where spaCy's tokenizers of other languages differ from its English one in ways that change counts
# (measured with spaCy 3.8's blank pipelines): these keep a hyphen between letters inside the word
# (E-Mail, well-known) ...
HYPHEN_INSIDE_WORDS = frozenset("ca da de el es fi fr hu it ky lb ms nl nn pt sr sv tt".split())
# ... and these keep the period after a number (German's ordinals: am 5. Mai, im Jahr 2020.).
PERIOD_AFTER_NUMBERS = frozenset("am ar bn da de el fa ht hu nn sl sr tr".split())


def _suffix(period_after_numbers: bool) -> re.Pattern[str]:
    after = "a-zß-ÿ" if period_after_numbers else "0-9a-zß-ÿ"
    return re.compile(
        rf"(?:\.{{2,}}|['’][sS]|[{_EDGE}]"
        rf"|(?<=[0-9])(?:[+°{re.escape(_CURRENCY)}]|{_UNITS})"
        rf"|(?<=[{after}%²+\-…{_EDGE}])\.|(?<=[A-ZÀ-Þ][A-ZÀ-Þ])\.)$"
    )


def _infix(hyphen_inside_words: bool) -> re.Pattern[str]:
    """Split points inside what is left: ellipses, 2-2, lower.Upper, a,b, well-known, a/b."""
    dashes = "--" if hyphen_inside_words else "--|-|–|—|~"
    return re.compile(
        r"(\.{2,}|…|°|(?<=[0-9])[+\-*^](?=[0-9-])|(?<=[a-z])\.(?=[A-Z])|(?<=[^\W\d_]),(?=[^\W\d_])"
        rf"|(?<=[^\W_])(?:{dashes})(?=[^\W\d_])|(?<=[^\W_])[:<>=/](?=[^\W\d_]))"
    )


@dataclass(frozen=True)
class _Rules:
    """How one language's chunks are split: its suffixes, infixes and contractions (English's only)."""

    suffix: re.Pattern[str]
    infix: re.Pattern[str]
    contractions: dict[str, list[str]]


@cache
def _rules(language: str | None) -> _Rules:
    english = language in (None, "en")  # no language: as FineWeb, English
    return _Rules(
        _suffix(language in PERIOD_AFTER_NUMBERS),
        _infix(language in HYPHEN_INSIDE_WORDS),
        CONTRACTIONS if english else {},
    )


_URL = re.compile(r"(?:https?://|www\.)\S+\w/?$|[\w.-]+@[\w-]+\.[\w.-]+$")
_PLAIN = re.compile(r"[^\W_]+$")
# Single characters of scripts written without spaces, for languages that need them: a whole grapheme
# (a Khmer or Thai consonant with its vowel signs), so no combining mark is a "word" of its own.
_CJK_CHAR = regex.compile(f"(?=[{_CJK}])\\X|[^{_CJK}]+")
# Languages written without spaces between words.
NO_SPACE_LANGUAGES = frozenset({"zh", "ja", "th", "yue", "wuu", "lo", "km", "my", "bo"})
# Abbreviations and emoticons that keep their marks.
_KEEP_WHOLE = frozenset(
    "Mr. Mrs. Ms. Dr. St. Jr. Sr. vs. Prof. Inc. Ltd. Co. Corp. Mt. Jan. Feb. Mar. Apr. Jun. Jul. Aug. "
    "Sep. Sept. Oct. Nov. Dec. a.m. p.m. e.g. i.e. U.S. U.K. :) :( :-) :-( ;) ;-) ): (: :D :P <3 and/or".split()
)
# Long texts are split into words a piece of about this many characters at a time, so that the list of
# a piece's whitespace-separated chunks, not the whole text's, is in memory at once.
PIECE_CHARACTERS = 1 << 20
_WHITESPACE = re.compile(r"\s")
# Chunks longer than this (no real word is) lose their leading and trailing marks in one go.
LONG_CHUNK = 100
_EDGE_RUN = re.compile(rf"[{_EDGE}]*")
_EDGE_RUN_AT_END = re.compile(rf"[{_EDGE}]*$")
_EDGE_MARK = re.compile(r"\.{2,}|.", re.DOTALL)
_ABBREVIATION = re.compile(r"[^\W\d_]\.$")  # an initial: a. S.


def _contractions() -> dict[str, list[str]]:
    """Apostrophe-less contractions (dont, im, youre) split as spaCy's English exceptions do.

    Each suffix lists the words it attaches to; forms that are ordinary words (is, its, were,
    well, here, ...) are simply not generated.
    """
    negatable = "do does did is are was were has have had could would should might must need ought may dare"
    negatable_ve = "do does did had could would should might must need ought may ca wo sha"
    pronoun_suffixes = {
        "d": "i you he it we they that this these those there what when where who why how",
        "dve": "i you he she it we they that this these those there what when where who why how",
        "ll": "you it they that this these those there what when where who why how",
        "llve": "i you he she it we they that this these those there what when where who why how",
        "re": "you they these those there what when where why how",
        "s": "he she that this there what when where who why how",
        "ve": "i you we they these those there what when where who why how",
    }
    pieces: dict[str, list[str]] = {}
    for stem in [*negatable.split(), "ca", "wo", "ai", "sha"]:
        pieces[stem + "nt"] = [stem, "nt"]
    for stem in negatable_ve.split():
        pieces[stem + "ntve"] = [stem, "nt", "ve"]
    for stem in ("could", "should", "would", "might", "must", "not"):
        pieces[stem + "ve"] = [stem, "ve"]
    for suffix, stems in pronoun_suffixes.items():
        parts = {"dve": ["d", "ve"], "llve": ["ll", "ve"]}.get(suffix, [suffix])
        for stem in stems.split():
            pieces[stem + suffix] = [stem, *parts]
    pieces.update(im=["i", "m"], ima=["i", "ma"], cannot=["can", "not"], gonna=["gon", "na"], gotta=["got", "ta"])
    pieces.update(yall=["y", "all"])
    # don't -> do n't, I'm -> I 'm, we're -> we 're: with an apostrophe (straight or curly) every
    # pronoun takes every suffix, since no ordinary word is spelled that way.
    pronouns = pronoun_suffixes["llve"].split()
    apostrophe_parts = [[stem, suffix] for stem in pronouns for suffix in ("d", "ll", "re", "s", "ve")]
    apostrophe_parts += [[stem, "nt"] for stem in [*negatable.split(), "ca", "wo", "ai", "sha"]]
    apostrophe_parts += [["i", "m"], ["y", "all"]]
    for parts in apostrophe_parts:
        for mark in "'’":
            rest = ["n" + mark + "t" if part == "nt" else mark + part for part in parts[1:]]
            pieces["".join([parts[0], *rest])] = [parts[0], *rest]
    with_capitals = dict(pieces)
    for form, parts in pieces.items():
        with_capitals[form.capitalize()] = [parts[0].capitalize(), *parts[1:]]
    return with_capitals


CONTRACTIONS = _contractions()


@lru_cache(maxsize=2)
def split_words(text: str, language: str | None = None) -> tuple[str, ...]:
    """The words of a document, cached: the quality filters that follow each other share the work. A
    document's words take several times its size, so the cache holds two documents, not more."""
    return tuple(words_of(text, language))


def words_of(text: str, language: str | None = None) -> list[str]:
    """Words and punctuation marks of `text`, in order.

    `language` (an ISO code, as langid writes it) picks the segmenter of a language that has one.
    """
    if language in SEGMENTED_LANGUAGES:
        return segmenter(language)(text)
    words: list[str] = []
    # One object per distinct word: a long document's words then take a pointer each, not a string each.
    distinct: dict[str, str] = {}
    per_character = language in NO_SPACE_LANGUAGES
    rules = _rules(language)
    contractions = rules.contractions
    for piece in pieces_at_whitespace(text):
        for chunk in piece.split():
            if _PLAIN.match(chunk) and not per_character:
                parts = contractions.get(chunk)
                if parts is None:
                    words.append(distinct.setdefault(chunk, chunk))
                else:
                    words.extend(parts)
            elif per_character:
                for character_run in _CJK_CHAR.findall(chunk):
                    _split_chunk(character_run, words, rules)
            else:
                _split_chunk(chunk, words, rules)
    return words


def _split_chunk(chunk: str, words: list[str], rules: _Rules) -> None:
    """Peel marks off both ends of a chunk, then split what is left at its infixes."""
    infix, contractions = rules.infix, rules.contractions
    if len(chunk) > LONG_CHUNK:
        # Peeling one mark at a time is quadratic on a megabyte of junk: take whole runs instead.
        if _URL.match(chunk):
            words.append(chunk)
            return
        start = _EDGE_RUN.match(chunk).end()
        end = _EDGE_RUN_AT_END.search(chunk, start).start()
        words.extend(_EDGE_MARK.findall(chunk[:start]))
        words.extend(piece for piece in infix.split(chunk[start:end]) if piece)
        words.extend(_EDGE_MARK.findall(chunk[end:]))
        return
    suffixes: list[str] = []
    while chunk and chunk not in _KEEP_WHOLE and chunk not in contractions:
        if _URL.match(chunk):
            break
        prefix = _PREFIX.match(chunk)
        if prefix and prefix.end() < len(chunk):
            words.append(prefix.group())
            chunk = chunk[prefix.end() :]
            continue
        suffix = rules.suffix.search(chunk)
        if suffix and suffix.start() > 0 and not _ABBREVIATION.match(chunk):
            suffixes.append(suffix.group())
            chunk = chunk[: suffix.start()]
            continue
        break
    if chunk:
        parts = contractions.get(chunk)
        if parts is not None:
            words.extend(parts)
        elif chunk in _KEEP_WHOLE or _URL.match(chunk) or _ABBREVIATION.match(chunk):
            words.append(chunk)
        else:
            words.extend(piece for piece in infix.split(chunk) if piece)
    words.extend(reversed(suffixes))


def pieces_at_whitespace(text: str, length: int = PIECE_CHARACTERS) -> Iterator[str]:
    """`text` in consecutive pieces of about `length` characters, each cut just after a whitespace
    character, so no word is cut: whatever works within words (splitting, lower-casing, normalising)
    gives, piece after piece, what it gives on the whole text."""
    start = 0
    while len(text) - start > length:
        cut = _WHITESPACE.search(text, start + length)
        if cut is None:
            break
        yield text[start : cut.end()]
        start = cut.end()
    yield text[start:]


def is_symbol(word: str) -> bool:
    return all(ch in PUNCTUATION for ch in word)


_ALPHA = re.compile(r"[^\W\d_]")


def has_alpha(word: str) -> bool:
    return _ALPHA.search(word) is not None


def find_duplicates(items: list[str]) -> tuple[int, int]:
    """How many items repeat an earlier one, and how many characters those repeats hold."""
    seen: set[str] = set()
    count = chars = 0
    for item in items:
        if item in seen:
            count += 1
            chars += len(item)
        else:
            seen.add(item)
    return count, chars

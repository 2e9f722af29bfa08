"""Finding PII with presidio's own recognizers, run only on the few stretches of text where they can match.

A plain `AnalyzerEngine.analyze` tokenises the whole document with spaCy and runs every recognizer over
all of it; the phone recognizer alone runs python-phonenumbers' matcher once per region (presidio's
default has eight) over every number in the text. Most web pages hold no PII, so `PiiDetector` first runs
a cheap trigger per entity, a pattern every match of that entity contains:

    EMAIL_ADDRESS   an '@'
    IP_ADDRESS      .d.d. (IPv4) or two colons with at most four hex digits between them (IPv6)
    PHONE_NUMBER,   a chain of digits joined by at most four of phonenumbers' punctuation characters
    CREDIT_CARD,    (its matcher joins blocks the same way), holding at least as many digits as the
    US_SSN          shortest valid match: 4 for phones (phonenumbers' metadata), 13 for cards, 9 for SSNs
                    (a chain over LONGEST_PHONE_RUN characters is searched for phones in overlapping pieces)
    IBAN_CODE       two capitals and two digits (country code and check digits)
    CRYPTO          1 or 3 and 25 more address characters (bc1 addresses contain one too)

Each hit is widened to whole whitespace-separated tokens (an IBAN to up to eight more tokens, for its
spaced groups; a phone number to a leading '+' or '(' and a trailing extension, as phonenumbers' own
candidate pattern would take them). A token boundary looks the same to every pattern as the whitespace
it stands in for, so a recognizer run on the windows finds what it finds on the whole document:

- the pattern recognizers run once per document, over the windows joined by newlines (no pattern
  crosses a newline), and only those whose trigger fired;
- phone numbers are found by what presidio's phone recognizer runs, phonenumbers' matcher with the
  recognizer's leniency and score, once per window and region, cached by the window's text (years,
  dates and prices repeat across pages, and the matcher's answer depends on nothing else). Each region
  has a rule compiled from phonenumbers' metadata saying which digit strings could be a valid number
  there (`RegionRule`); a region is skipped for a window if no string the matcher would parse passes
  its rule, and inside the matcher parse() is skipped for a string that does not (`PhoneShapes`).

Chinese, Japanese and Korean text has no spaces for the windows to stop at, and its letters are word
characters to the patterns (`\\w`, `\\b`), so an address written against them runs on into them. Each CJK
letter is therefore read as a line break before anything else (`webcorpus/pii/cjk.py`): the spans are
`AnalyzerEngine.analyze`'s on the text so masked, which on text without CJK letters is the text itself.
The default phone regions are presidio's eight and China, Japan and Korea (`DEFAULT_PHONE_REGIONS`).

`bench/data/pii.py` checks on real pages that the spans equal `AnalyzerEngine.analyze`'s. The recognizers
have no language of their own, so they run once per document whatever its language.

Start-up: importing presidio_analyzer imports spaCy, and with them torch (thinc looks for it) and
transformers (presidio's Hugging Face engine and its device check): seconds and hundreds of megabytes in
each pii worker, for engines this module never uses. Without an NER model, `import_presidio` imports
presidio with those two hidden; `bench/data/startup.py` measures it (docs/benchmarks.md, Start-up).
"""

from __future__ import annotations

import bisect
import functools
import re
import sys
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from webcorpus.pii.cjk import mask_cjk_letters

PATTERN_ENTITIES = ("EMAIL_ADDRESS", "IP_ADDRESS", "PHONE_NUMBER", "CREDIT_CARD", "IBAN_CODE", "US_SSN", "CRYPTO")
NER_ENTITIES = ("PERSON", "LOCATION")
PRESIDIO_PHONE_REGIONS = ("US", "GB", "DE", "FR", "IL", "IN", "CA", "BR")  # presidio's own default
# Chinese, Japanese and Korean numbers written nationally (13812345678, 090-1234-5678, 02-123-4567) are
# valid in none of presidio's regions.
DEFAULT_PHONE_REGIONS = (*PRESIDIO_PHONE_REGIONS, "CN", "JP", "KR")
# presidio's recognizers are registered under one language and asked for it; it does not limit them.
LANGUAGE = "en"

CARD_MIN_DIGITS = 13  # presidio's card pattern: 4 + 3 + 3 + 3 digits at least
SSN_MIN_DIGITS = 9
PHONE_CACHE_SIZE = 200_000
# A run of digits and punctuation longer than this (a list of numbers, a table, junk) is searched for phone
# numbers piece by piece: pieces of up to PHONE_PIECE characters, cut at a space where there is one, each
# overlapping the one before by PIECE_OVERLAP (more than any number the matcher returns), so that a number a
# cut runs through is whole in a neighbour. Pieces are cached like windows, so repeated junk costs little;
# the stage's time limit bounds the rest.
LONGEST_PHONE_RUN = 1_000
PHONE_PIECE = 240
PIECE_OVERLAP = 60

TOKEN_TRIGGERS = {
    # entity: [(trigger, whitespace-separated tokens the window takes after the hit)]
    "EMAIL_ADDRESS": [(re.compile("@"), 0)],
    "IP_ADDRESS": [(re.compile(r"\.\d{1,3}\.\d{1,3}\."), 0), (re.compile(r":[0-9A-Fa-f]{0,4}:"), 0)],
    "IBAN_CODE": [(re.compile(r"[A-Z][A-Z]\d\d"), 8)],
    "CRYPTO": [(re.compile(r"[13][a-zA-HJ-NP-Z0-9]{25}", re.IGNORECASE), 0)],
}


# Modules importing presidio_analyzer pulls in for what only an NER model (or presidio's Hugging Face and
# GPU engines) uses: spaCy's thinc imports torch when it is installed, presidio imports transformers' pipeline
# and asks torch for a GPU.
NER_ONLY_MODULES = ("torch", "transformers")


def import_presidio(ner: bool = False) -> None:
    """Import presidio_analyzer (and its predefined recognizers) in this process, if not done yet.

    Without `ner` the NER_ONLY_MODULES not imported yet are hidden while it imports (as if not installed:
    thinc, presidio's Hugging Face pipe and device check all fall back to "no torch, CPU"), then made
    importable again, so a later step can still import them. The pattern recognizers and the blank spaCy
    tokenizer never touch them. With `ner` (a spaCy NER model, which may run on torch) nothing is hidden;
    a process that imported presidio without NER first keeps thinc's "no torch" for a torch-based model.
    """
    if "presidio_analyzer.predefined_recognizers" in sys.modules:
        return
    hidden = [] if ner else [name for name in NER_ONLY_MODULES if name not in sys.modules]
    for name in hidden:
        sys.modules[name] = None  # type: ignore[assignment]  # `import name` raises ImportError
    try:
        import presidio_analyzer.predefined_recognizers  # noqa: F401
    finally:
        for name in hidden:
            if name in sys.modules and sys.modules[name] is None:
                del sys.modules[name]


def build_recognizers(entities: Iterable[str], phone_regions: Sequence[str] = DEFAULT_PHONE_REGIONS) -> list[Any]:
    """presidio's predefined recognizers for `entities`, the e-mail one using the offline suffix list."""
    import_presidio()
    from presidio_analyzer.predefined_recognizers import (
        CreditCardRecognizer,
        CryptoRecognizer,
        EmailRecognizer,
        IbanRecognizer,
        IpRecognizer,
        PhoneRecognizer,
        UsSsnRecognizer,
    )

    from webcorpus.offline import offline_tld_extractor

    class OfflineEmailRecognizer(EmailRecognizer):
        # presidio's own check calls tldextract.extract, whose default extractor downloads the suffix list.
        def validate_result(self, pattern_text: str) -> bool:
            return offline_tld_extractor()(pattern_text).fqdn != ""

    makers = {
        "EMAIL_ADDRESS": lambda: OfflineEmailRecognizer(name="EmailRecognizer"),
        "IP_ADDRESS": IpRecognizer,
        "PHONE_NUMBER": lambda: PhoneRecognizer(supported_regions=tuple(phone_regions)),
        "CREDIT_CARD": CreditCardRecognizer,
        "IBAN_CODE": IbanRecognizer,
        "US_SSN": UsSsnRecognizer,
        "CRYPTO": CryptoRecognizer,
    }
    return [makers[entity]() for entity in entities]


@functools.cache  # once per process: it reads the metadata of every region
def shortest_phone_number() -> int:
    """The fewest digits a valid number has in any region, per phonenumbers' metadata (4, in Germany)."""
    import phonenumbers

    shortest = 99
    for region in phonenumbers.SUPPORTED_REGIONS:
        lengths = phonenumbers.PhoneMetadata.metadata_for_region(region).general_desc.possible_length
        shortest = min(shortest, *lengths)
    return shortest


NUMBER_TYPES = ("premium_rate", "toll_free", "shared_cost", "voip", "personal_number", "pager", "uan",
                "voicemail", "fixed_line", "mobile")  # fmt: skip


@dataclass(frozen=True)
class NumberShapes:
    """One region's number descriptions, compiled once: phonenumbers' is_valid_number() test
    (`_number_type_helper`: the general description, then any one number type) without its per-call
    regex-cache lookups."""

    general: tuple[frozenset[int], re.Pattern[str]]
    types: tuple[tuple[frozenset[int], re.Pattern[str]], ...]

    @classmethod
    def of(cls, metadata: Any) -> NumberShapes:
        def compiled(desc: Any) -> tuple[frozenset[int], re.Pattern[str]] | None:
            if desc is None or not desc.national_number_pattern:
                return None
            return frozenset(desc.possible_length), re.compile(desc.national_number_pattern)

        types = (compiled(getattr(metadata, name, None)) for name in NUMBER_TYPES)
        general = compiled(metadata.general_desc) or (frozenset(), re.compile("(?!)"))
        return cls(general, tuple(t for t in types if t is not None))

    def is_valid(self, national_number: str) -> bool:
        def matches(desc: tuple[frozenset[int], re.Pattern[str]]) -> bool:
            lengths, pattern = desc
            return (not lengths or len(national_number) in lengths) and pattern.fullmatch(national_number) is not None

        return matches(self.general) and any(matches(desc) for desc in self.types)


@dataclass(frozen=True)
class RegionRule:
    """What a valid number parsed in one region must look like, from phonenumbers' metadata."""

    shortest: int  # fewest digits of a national number (less digits the prefix rule may insert)
    country_code: str
    national_prefix: re.Pattern[str] | None
    # How parse() rewrites a national prefix whose pattern's last group matched (Brazil's carrier codes,
    # Japan's 000x numbers), or "": the prefix is only stripped.
    prefix_transform: str
    international_prefix: re.Pattern[str]
    # Every region sharing the country code (US and CA, GB and JE...): validity is checked against each.
    sharing: tuple[NumberShapes, ...]
    any_general: re.Pattern[str]  # their general patterns in one: a quick no for most digit runs
    fewest_digits: int  # below this, neither a national number nor international prefix + 5 digits fits

    @classmethod
    def for_region(cls, region: str) -> RegionRule:
        import phonenumbers

        metadata = phonenumbers.PhoneMetadata.metadata_for_region(region)
        if metadata is None:
            raise ValueError(f"unknown phone region '{region}' (use ISO codes such as US, GB, DE)")
        transform = metadata.national_prefix_transform_rule or ""
        inserted = sum(c.isdigit() for c in re.sub(r"\\\d", "", transform))
        sharing = phonenumbers.COUNTRY_CODE_TO_REGION_CODE.get(metadata.country_code, (region,))
        metadatas = [phonenumbers.PhoneMetadata.metadata_for_region(other) for other in sharing]
        prefix = metadata.national_prefix_for_parsing
        international = metadata.international_prefix or ""
        shortest_prefix = 0
        if international:
            shortest_prefix = _shortest_match(international)
        shortest = min(metadata.general_desc.possible_length) - inserted
        return cls(
            shortest=shortest,
            fewest_digits=min(shortest, shortest_prefix + 5) if international else shortest,
            country_code=str(metadata.country_code),
            national_prefix=re.compile(prefix) if prefix else None,
            prefix_transform=transform,
            international_prefix=re.compile(metadata.international_prefix or "(?!)"),
            sharing=tuple(NumberShapes.of(m) for m in metadatas if m is not None),
            any_general=re.compile(
                "|".join(f"(?:{m.general_desc.national_number_pattern})" for m in metadatas if m is not None) or ".*"
            ),
        )

    def could_match(self, digits: str) -> bool:
        """Whether a run of blocks with these digits could parse to a valid number in this region."""
        if len(digits) < self.fewest_digits:
            return False
        international = self.international_prefix.match(digits)
        if international and len(digits) - international.end() >= 5:  # country code + shortest number
            return True
        if len(digits) < self.shortest:
            return False
        # parse() may strip the country code, then strip or rewrite the national prefix
        # (_maybe_strip_national_prefix_carrier_code): try each form it could keep.
        forms = [digits]
        if digits.startswith(self.country_code):
            forms.append(digits[len(self.country_code) :])
        if self.national_prefix is not None:
            for form in list(forms):
                prefix = self.national_prefix.match(form)
                if prefix is None:
                    continue
                groups = prefix.groups()
                if self.prefix_transform and groups and groups[-1] is not None:
                    forms.append(self.national_prefix.sub(self.prefix_transform, form, count=1))
                elif prefix.end():
                    forms.append(form[prefix.end() :])
        # The test is_valid_number() itself applies: the number matches one of the region's number types.
        return any(self.any_general.fullmatch(form) and any(n.is_valid(form) for n in self.sharing) for form in forms)


class PhoneShapes:
    """What phonenumbers' matcher can match: its character classes, and which regions can use a window.

    A region's matcher only returns numbers its metadata calls valid: once parse() has taken off what it
    takes off (an extension, the country code, the national prefix), the digits match one of the
    region's number types (fixed line, mobile, toll free...), or they start with its international
    prefix. `tries` lists every string the matcher hands to parse() while it finds nothing; if no region
    rule lets one of them through, the matcher finds nothing in that region, because its first match
    would have been one of them. A year such as 2023 fits none of the default regions, a date only a few,
    and a calendar row "01 02 03 ... 31" none: the matcher reads it whole, then token by token.
    """

    def __init__(self, regions: Sequence[str]) -> None:
        from phonenumbers import phonenumbermatcher as matcher

        # Private names, but the very patterns the matcher uses: the windows and tries must agree with it.
        self.is_punctuation = re.compile(f"[{matcher._VALID_PUNCTUATION}]").match
        self.lead = set(matcher._LEAD_CLASS_CHARS.replace("\\", ""))
        self.chain_class = matcher._VALID_PUNCTUATION
        self.extension = re.compile(matcher._EXTN_PATTERNS_FOR_MATCHING, re.IGNORECASE)
        self.plus_number = re.compile(f"[{matcher._PLUS_CHARS}][{matcher._VALID_PUNCTUATION}]{{0,4}}\\d")
        self.candidate = matcher._PATTERN
        self.second_number = matcher._SECOND_NUMBER_START_PATTERN
        self.inner_matches = matcher._INNER_MATCHES
        self.unwanted_end = matcher._UNWANTED_END_CHAR_PATTERN
        self.matching_brackets = matcher._MATCHING_BRACKETS
        self.publication_pages = matcher._PUB_PAGES
        self.regions = tuple(regions)
        self.rules = {region: _region_rule(region) for region in self.regions}
        self.shortest = min(rule.shortest for rule in self.rules.values())
        self.plus = re.compile(f"[{matcher._PLUS_CHARS}]")
        self.verdicts: dict[str, frozenset[str]] = {}  # digits -> regions that could match them
        self.try_verdicts: dict[str, frozenset[str]] = {}  # string the matcher parses -> regions

    def chain(self, min_digits: int) -> re.Pattern[str]:
        return re.compile(rf"\d(?:[{self.chain_class}]{{0,4}}\d){{{min_digits - 1},}}")

    def widen(self, text: str, start: int, end: int) -> tuple[int, int]:
        """Take in what the matcher would read with the chain: a '+' or '(' before it, an extension after
        it, and a number before it whose extension marker claims the chain ("4 #55512" is 4, ext. 55512)."""
        previous = _LAST_DIGIT.search(text, max(0, start - 40), start)
        if previous is not None:
            claimed = self.extension.match(text, previous.end())
            if claimed is not None and claimed.end() > start:
                start = previous.start()
                while (
                    start > 0
                    and start > previous.start() - LONGEST_TOKEN
                    and (text[start - 1].isdigit() or self.is_punctuation(text[start - 1]))
                ):
                    start -= 1
        i = start
        while i > 0 and (text[i - 1] in self.lead or self.is_punctuation(text[i - 1])):
            i -= 1
            if text[i] in self.lead:
                start = i
        extension = self.extension.match(text, end)
        return start, extension.end() if extension else end

    def tries(self, window: str) -> Iterator[str]:
        """Every string phonenumbers' matcher parses in `window` when none of them is a valid number (its
        `_find`, `_extract_match` and `_extract_inner_match`, minus the checks that only reject)."""
        index = 0
        found = self.candidate.search(window, index)
        while found is not None:
            candidate = _trim_after(self.second_number, found.group())
            yield candidate
            for inner in self.inner_matches:
                group = inner.search(candidate)
                if group is not None:
                    yield _trim_after(self.unwanted_end, candidate[: group.start()])
                while group is not None:
                    yield _trim_after(self.unwanted_end, group.group(1))
                    group = inner.search(candidate, group.start() + 1)
            index = found.start() + max(1, len(candidate))
            found = self.candidate.search(window, index)

    def matcher(self, window: str, region: str, leniency: int) -> Iterator[Any]:
        """phonenumbers' own matcher over `window`, except that it does not parse a string this region's
        rule has already turned down (parse() would have found no valid number in it)."""
        return iter(_shape_checked_matcher()(window, region, leniency=leniency, shapes=self))

    def regions_for(self, window: str) -> set[str]:
        """The regions whose matcher could find a number in this window."""
        regions: set[str] = set()
        for tried in self.tries(window):
            regions |= self._regions_for_try(tried)
            if len(regions) == len(self.regions):
                break
        return regions

    def _regions_for_try(self, tried: str) -> frozenset[str]:
        return _cached(self.try_verdicts, tried, self._judge_try)

    def _judge_try(self, tried: str) -> frozenset[str]:
        if not self.matching_brackets.fullmatch(tried) or self.publication_pages.search(tried):
            return frozenset()  # _parse_and_verify turns these down before it parses
        if len(_ASCII_LETTERS.findall(tried)) >= 3 or self.plus.search(tried):
            # parse() would read the letters as keypad digits; after a '+' comes any country's number.
            return frozenset(self.regions)
        blocks = [_ascii_digits(block) for block in _DIGITS.findall(tried)]
        regions = self._regions_for_digits("".join(blocks))
        if len(blocks) > 1:  # parse() may take the last block off as an extension ("555-0199 #23")
            regions |= self._regions_for_digits("".join(blocks[:-1]))
        return regions

    def _regions_for_digits(self, digits: str) -> frozenset[str]:
        if not self.shortest <= len(digits) <= 24:  # 24: longer than any national number with its prefixes
            return frozenset()
        return _cached(self.verdicts, digits, self._judge_digits)

    def _judge_digits(self, digits: str) -> frozenset[str]:
        return frozenset(r for r in self.regions if self.rules[r].could_match(digits))


@functools.cache  # once per process and region: rules are immutable, and compiling them is most of a start
def _region_rule(region: str) -> RegionRule:
    return RegionRule.for_region(region)


@functools.cache
def _shape_checked_matcher() -> type:
    """PhoneNumberMatcher (imported when first needed) that asks PhoneShapes before each parse()."""
    from phonenumbers import PhoneNumberMatcher

    class ShapeCheckedMatcher(PhoneNumberMatcher):
        def __init__(self, text: str, region: str, leniency: int, shapes: PhoneShapes) -> None:
            super().__init__(text, region, leniency=leniency)
            self.shapes = shapes

        def _parse_and_verify(self, candidate: str, offset: int) -> Any:
            if self.preferred_region not in self.shapes._regions_for_try(candidate):
                return None  # what parse() and the validity check would have concluded, only sooner
            return super()._parse_and_verify(candidate, offset)

    return ShapeCheckedMatcher


def _cached(cache: dict[str, Any], key: str, compute: Callable[[str], Any]) -> Any:
    """cache[key], computed on a miss. Bounded: emptied when full, since a corpus streams past."""
    found = cache.get(key)
    if found is None:
        if len(cache) >= PHONE_CACHE_SIZE:
            cache.clear()
        found = cache[key] = compute(key)
    return found


def _trim_after(pattern: re.Pattern[str], text: str) -> str:
    found = pattern.search(text)
    return text[: found.start()] if found else text


_DIGITS = re.compile(r"\d+")
_ASCII_LETTERS = re.compile("[A-Za-z]")


def _shortest_match(pattern: str) -> int:
    """The length of the shortest string a regular expression matches (from the re module's parser)."""
    try:
        from re import _parser as regex_parser  # Python 3.11+
    except ImportError:  # Python 3.10
        import sre_parse as regex_parser
    return regex_parser.parse(pattern).getwidth()[0]


def _ascii_digits(block: str) -> str:
    # phonenumbers reads any Unicode digit; its patterns are written for ASCII ones.
    return block if block.isascii() else "".join(str(unicodedata.digit(c)) for c in block)


LONGEST_TOKEN = 1_000  # a "word" longer than this is junk; windows cut it CLIP characters from the hit
CLIP = 320  # longer than any e-mail address (254), IBAN (34 + spaces) or crypto address (62)
_LAST_DIGIT = re.compile(r"\d(?=\D*\Z)")
_LAST_SPACE = re.compile(r".*\s", re.DOTALL)
_SPACE = re.compile(r"\s")
MANY_HITS = 64
_NON_SPACE = re.compile(r"\S")


def _window(text: str, start: int, end: int, tokens_after: int) -> tuple[int, int]:
    """From the start of the token holding `start` to the end of the `tokens_after`-th token after `end`,
    scanning the text around the hit (up to LONGEST_TOKEN characters each way)."""
    head = text[max(0, start - LONGEST_TOKEN) : start]
    space = _LAST_SPACE.match(head)
    if space:
        left = start - len(head) + space.end()
    else:
        left = 0 if start <= LONGEST_TOKEN else start - CLIP
    right = end
    for step in range(tokens_after + 1):
        space = _SPACE.search(text, right, right + LONGEST_TOKEN)
        if space is None:
            return left, min(len(text), right + (LONGEST_TOKEN if step else CLIP))
        right = space.start()
        if step < tokens_after:
            word = _NON_SPACE.search(text, right)
            if word is None:
                break
            right = word.start()
    return left, right


def _window_bisect(text: str, spaces: list[int], start: int, end: int, tokens_after: int) -> tuple[int, int]:
    """`_window`'s answer from `spaces` (where the text's whitespace is, sorted): a bisection per look-up
    instead of a scan of up to LONGEST_TOKEN characters, for texts with many hits in long tokens."""
    before = bisect.bisect_left(spaces, start) - 1  # the last whitespace before `start`
    if before >= 0 and spaces[before] >= start - LONGEST_TOKEN:
        left = spaces[before] + 1
    else:
        left = 0 if start <= LONGEST_TOKEN else start - CLIP
    right = end
    for step in range(tokens_after + 1):
        after = bisect.bisect_left(spaces, right)  # the first whitespace at or after `right`
        if after == len(spaces) or spaces[after] >= right + LONGEST_TOKEN:
            return left, min(len(text), right + (LONGEST_TOKEN if step else CLIP))
        right = spaces[after]
        if step < tokens_after:
            word = _NON_SPACE.search(text, right)
            if word is None:
                break
            right = word.start()
    return left, right


def phone_pieces(text: str, start: int, end: int) -> Iterator[tuple[int, int]]:
    """text[start:end] as pieces of up to PHONE_PIECE characters, each ending at a space where there is one, and
    the next starting after the first space in the last PIECE_OVERLAP characters before that end (or at them)."""
    while True:
        stop = min(end, start + PHONE_PIECE)
        if stop < end:
            space = text.rfind(" ", start + PIECE_OVERLAP + 2, stop)
            stop = space if space > 0 else stop
        yield start, stop
        if stop == end:
            return
        space = text.find(" ", stop - PIECE_OVERLAP - 1, stop)
        start = space + 1 if space >= 0 else stop - PIECE_OVERLAP


def windows_for(text: str, hits: list[tuple[int, int, int]]) -> list[tuple[int, int]]:
    """Token-aligned windows around (start, end, tokens_after) hits, merged where they overlap or only
    whitespace lies between them (a match may span that whitespace)."""
    windows: list[tuple[int, int]] = []
    if len(hits) > MANY_HITS:  # e.g. a run of 200,000 '@': bisections instead of 200 million scanned characters
        spaces = [m.start() for m in _SPACE.finditer(text)]
        spans = [_window_bisect(text, spaces, *hit) for hit in hits]
    else:  # listing every space of a page would cost more than a few scans
        spans = [_window(text, *hit) for hit in hits]
    for left, right in sorted(spans):
        if windows and (left <= windows[-1][1] or text[windows[-1][1] : left].isspace()):
            windows[-1] = (windows[-1][0], max(windows[-1][1], right))
        else:
            windows.append((left, right))
    return windows


class PiiDetector:
    """presidio's recognizers for the pattern entities, run only on trigger windows (see the module doc)."""

    def __init__(
        self,
        entities: Sequence[str] = PATTERN_ENTITIES,
        score_threshold: float = 0.0,
        phone_regions: Sequence[str] = DEFAULT_PHONE_REGIONS,
    ) -> None:
        unknown = sorted(set(entities) - set(PATTERN_ENTITIES))
        if unknown:
            raise ValueError(f"unknown PII entities {unknown} (known: {', '.join(PATTERN_ENTITIES)})")
        self.entities = [e for e in PATTERN_ENTITIES if e in entities]
        self.score_threshold = score_threshold
        # Phone numbers go through phonenumbers' matcher directly (_find_phone_numbers); the others
        # through presidio's recognizers, one per entity.
        others = [e for e in self.entities if e != "PHONE_NUMBER"]
        self.recognizers = dict(zip(others, build_recognizers(others)))
        self.token_triggers = [(e, p, after) for e in self.entities for p, after in TOKEN_TRIGGERS.get(e, [])]
        minimums = {"PHONE_NUMBER": shortest_phone_number(), "CREDIT_CARD": CARD_MIN_DIGITS, "US_SSN": SSN_MIN_DIGITS}
        self.digit_minimums = {e: n for e, n in minimums.items() if e in self.entities}
        self.shapes = PhoneShapes(phone_regions)
        self.phone_regions = tuple(phone_regions)
        # Kept for its settings: presidio's phone recognizer runs phonenumbers' matcher per region with
        # this leniency and gives each match this score; here the matcher runs only where a region could match.
        self.phone_recognizer = build_recognizers(["PHONE_NUMBER"], self.phone_regions)[0]
        self.chain = self.shapes.chain(min(self.digit_minimums.values())) if self.digit_minimums else None
        self.phone_cache: dict[str, list[tuple[int, int, float]]] = {}

    def find(self, text: str) -> list[Any]:
        """presidio RecognizerResults for `text`, as `AnalyzerEngine.analyze` would give them for
        `mask_cjk_letters(text)` (the text itself when it has no Chinese, Japanese or Korean letters)."""
        from presidio_analyzer import EntityRecognizer, RecognizerResult

        text = mask_cjk_letters(text)  # CJK letters end a token, as whitespace does (webcorpus/pii/cjk.py)
        hits: list[tuple[int, int, int]] = []
        phone_hits: list[tuple[int, int, int]] = []
        long_runs: list[tuple[int, int]] = []
        fired: set[str] = set()
        for entity, trigger, tokens_after in self.token_triggers:
            before = len(hits)
            hits.extend((m.start(), m.end(), tokens_after) for m in trigger.finditer(text))
            if len(hits) > before:
                fired.add(entity)
        if self.chain is not None:
            for m in self.chain.finditer(text):
                digits = sum(c.isdigit() for c in m.group())
                for entity, minimum in self.digit_minimums.items():
                    if digits < minimum:
                        continue
                    if entity == "PHONE_NUMBER":
                        start, end = self.shapes.widen(text, m.start(), m.end())
                        if end - start > LONGEST_PHONE_RUN:
                            long_runs.append((start, end))
                        else:
                            phone_hits.append((start, end, 0))
                    else:
                        hits.append((m.start(), m.end(), 0))
                        fired.add(entity)

        results = []
        for a, b in windows_for(text, phone_hits):
            for start, end, score in self._phone_numbers(text[a:b]):
                results.append(RecognizerResult("PHONE_NUMBER", a + start, a + end, score))
        for run_start, run_end in long_runs:
            found = self._phone_numbers_in_long_run(text, run_start, run_end)
            results += [RecognizerResult("PHONE_NUMBER", start, end, score) for start, end, score in found]
        if hits:
            windows = windows_for(text, hits)
            compact = "\n".join(text[a:b] for a, b in windows)
            starts, position = [], 0
            for a, b in windows:
                starts.append(position)
                position += b - a + 1
            for entity in sorted(fired):
                for result in self.recognizers[entity].analyze(compact, [entity], None):
                    window = bisect.bisect_right(starts, result.start) - 1
                    shift = windows[window][0] - starts[window]
                    result.start += shift
                    result.end += shift
                    results.append(result)
        results = [r for r in results if r.score >= self.score_threshold]
        return sorted(EntityRecognizer.remove_duplicates(results), key=lambda r: (r.start, r.end, r.entity_type))

    def _phone_numbers_in_long_run(self, text: str, start: int, end: int) -> set[tuple[int, int, float]]:
        """Phone numbers in text[start:end], piece by piece (`phone_pieces`). A match that touches a cut may
        be a number cut short; the neighbour that overlaps the cut holds it whole."""
        found = set()
        for a, b in phone_pieces(text, start, end):
            for match_start, match_end, score in self._phone_numbers(text[a:b]):
                if (match_start > 0 or a == start) and (match_end < b - a or b == end):
                    found.add((a + match_start, a + match_end, score))
        return found

    def _phone_numbers(self, window: str) -> list[tuple[int, int, float]]:
        return _cached(self.phone_cache, window, self._find_phone_numbers)

    def _find_phone_numbers(self, window: str) -> list[tuple[int, int, float]]:
        from presidio_analyzer import EntityRecognizer, RecognizerResult

        if self.shapes.plus_number.search(window):
            regions = self.phone_regions  # a +country code reads the same in every region
        else:
            wanted = self.shapes.regions_for(window)
            regions = tuple(r for r in self.phone_regions if r in wanted)
        leniency, score = self.phone_recognizer.leniency, self.phone_recognizer.SCORE
        matches = [
            RecognizerResult("PHONE_NUMBER", match.start, match.end, score)
            for region in regions
            for match in self.shapes.matcher(window, region, leniency)
        ]
        return [(r.start, r.end, r.score) for r in EntityRecognizer.remove_duplicates(matches)]


def presidio_analyzer(
    entities: Sequence[str] = PATTERN_ENTITIES,
    phone_regions: Sequence[str] = DEFAULT_PHONE_REGIONS,
    ner_model: str | None = None,
) -> Any:
    """A plain AnalyzerEngine with the same recognizers, on a spaCy pipeline that downloads nothing.

    With `ner_model` (an installed spaCy package name or a pipeline folder) presidio's spaCy recognizer
    is added for PERSON and LOCATION; without one the pipeline is blank (tokenizer only).
    """
    import_presidio(ner=ner_model is not None)
    import spacy
    from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
    from presidio_analyzer.nlp_engine import SlimSpacyNlpEngine, SpacyNlpEngine
    from presidio_analyzer.predefined_recognizers import SpacyRecognizer

    registry = RecognizerRegistry(supported_languages=[LANGUAGE])
    for recognizer in build_recognizers([e for e in entities if e in PATTERN_ENTITIES], phone_regions):
        registry.add_recognizer(recognizer)
    if ner_model is None:

        class BlankSpacyEngine(SlimSpacyNlpEngine):
            def load(self) -> None:
                self.nlp = {LANGUAGE: spacy.blank(LANGUAGE)}

        engine = BlankSpacyEngine(models=[{"lang_code": LANGUAGE, "model_name": "blank"}])
    else:
        from pathlib import Path

        if not (spacy.util.is_package(ner_model) or Path(ner_model).is_dir()):
            raise ValueError(
                f"spaCy model '{ner_model}' is not installed (install its package, or give a pipeline folder);"
                " nothing is downloaded at run time"
            )
        engine = SpacyNlpEngine(models=[{"lang_code": LANGUAGE, "model_name": ner_model}])
        wanted = [e for e in entities if e in NER_ENTITIES]
        registry.add_recognizer(SpacyRecognizer(supported_language=LANGUAGE, supported_entities=wanted))
    engine.load()
    return AnalyzerEngine(nlp_engine=engine, registry=registry, supported_languages=[LANGUAGE])

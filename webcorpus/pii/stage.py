"""pii: find personal data with presidio-analyzer's recognizers and our own rules, and replace it.

FineWeb anonymised e-mail addresses and public IP addresses. This stage covers more of presidio's
entity types; `webcorpus/pii/detector.py` explains how it stays fast (it runs the recognizers only where
a cheap trigger says they can match, and gets the same spans as a plain `AnalyzerEngine`), and
`webcorpus/pii/rules.py` where we part from presidio (cards, IBANs, phone numbers that are dates).
"""

from __future__ import annotations

import bisect
import functools
import ipaddress
import re
import zlib
from typing import Any, Literal

from webcorpus.document import Document
from webcorpus.pii import rules
from webcorpus.pii.detector import DEFAULT_PHONE_REGIONS, NER_ENTITIES, PATTERN_ENTITIES
from webcorpus.pipeline.options import OptionError
from webcorpus.pipeline.step import Filter
from webcorpus.stages.timelimit import TimeLimitExceeded, time_limit

# FineWeb-style stand-ins: fixed values that read like the real thing but point nowhere. The IPs are
# documentation ranges (RFC 5737, RFC 3849), which the default public-only rule would never flag again.
PLACEHOLDERS: dict[str, tuple[str, ...]] = {
    "EMAIL_ADDRESS": ("email@example.com", "firstname.lastname@example.org"),
    "IP_ADDRESS": ("192.0.2.1", "198.51.100.2", "203.0.113.3"),
    "IPV6_ADDRESS": ("2001:db8::1",),
    "PHONE_NUMBER": ("555-0100",),
    "CREDIT_CARD": ("0000 0000 0000 0000",),
    "IBAN_CODE": ("XX00 0000 0000 0000 0000 00",),
    "US_SSN": ("000-00-0000",),
    "CRYPTO": ("1ExampleCryptoAddress",),
    "PERSON": ("Jane Doe",),
    "LOCATION": ("Springfield",),
}
# Entities found by our own rules instead of presidio's recognizers: entity -> (finder, score).
OWN_RULES = {"CREDIT_CARD": (rules.find_cards, 1.0), "IBAN_CODE": (rules.find_ibans, 1.0)}
# Words that make a dotted quad a version number, not an address ("version 1.2.3.4", "v10.0.0.1"). A "v" counts only
# right against the number: "via v 8.8.4.4" names an address.
VERSION_BEFORE = re.compile(r"(?:\bv|\b(?:ver\.?|version|release|build|firmware|update)\s*)$", re.IGNORECASE)


class PiiScrubber(Filter):
    """Personal data is replaced: EMAIL_ADDRESS, IP_ADDRESS (public addresses only, as FineWeb), US_SSN and
    CRYPTO (address checksum) as presidio-analyzer's recognizers find them; PHONE_NUMBER as presidio finds
    them less dates, ranges and references; CREDIT_CARD (every network, Luhn) and IBAN_CODE (any case,
    checksum) by our rules (rules.py). Placeholders (FineWeb-style look-alikes, chosen by a hash of the
    value so runs are reproducible) or `<TYPE>` tags. Each document gets `metadata.pii`, counts per type.
    Offline: presidio runs on a blank spaCy pipeline; PERSON and LOCATION need an installed NER model.
    How it stays fast and equal to presidio: docs/pii.md."""

    name = "pii"
    drop_reasons = {"pii_timeout": "The personal-data scan did not finish in time; never passed on unscrubbed."}
    summary = "Replace e-mails, public IPs, phones, card numbers, IBANs, SSNs and crypto addresses (presidio)."
    option_minimum = {"score_threshold": 0, "timeout": 0}
    option_help = {
        "entities": f"Entity types to replace (default: {', '.join(PATTERN_ENTITIES)}; "
        f"{' and '.join(NER_ENTITIES)} need ner_model).",
        "score_threshold": "Minimum score for a match to be replaced (phone numbers score 0.4, or 0.7 after a "
        "phone word or in + form; validated cards, IBANs, e-mails and crypto addresses 1.0; SSNs 0.05 to 0.5).",
        "replacement": "'placeholder' writes fixed look-alike values (email@example.com, 192.0.2.1, ...), as FineWeb "
        "did; 'tag' writes <EMAIL_ADDRESS> and so on.",
        "public_ips_only": "Leave private, loopback and reserved IP addresses alone, as FineWeb did.",
        "skip_version_numbers": "Leave dotted quads after 'version', 'release' or 'build', or 'v' right "
        "against them (v1.2.3.4), alone.",
        "phone_regions": "Regions whose phone number formats are recognised (ISO codes; default: presidio's eight, "
        "US GB DE FR IL IN CA BR, and CN JP KR).",
        "timeout": "CPU seconds one document's scan may take; a document not scanned in time is dropped as "
        "'pii_timeout', never passed on unscrubbed (0: no limit).",
        "ner_model": "An installed spaCy NER model (package name or folder) for PERSON and LOCATION.",
    }

    def __init__(
        self,
        entities: list[str] | None = None,
        score_threshold: float = 0.4,
        replacement: Literal["placeholder", "tag"] = "placeholder",
        public_ips_only: bool = True,
        skip_version_numbers: bool = True,
        phone_regions: list[str] | None = None,
        ner_model: str | None = None,
        timeout: float = 10.0,
    ) -> None:
        super().__init__()
        self.timeout = timeout
        from webcorpus.pii.detector import PiiDetector, import_presidio, presidio_analyzer

        wanted = list(entities) if entities else list(PATTERN_ENTITIES)
        unknown = [e for e in wanted if e not in PATTERN_ENTITIES + NER_ENTITIES]
        if unknown:
            known = ", ".join(PATTERN_ENTITIES + NER_ENTITIES)
            raise OptionError(f"pii: unknown entity {', '.join(unknown)} (known: {known})")
        if not 0.0 <= score_threshold <= 1.0:
            raise OptionError(f"pii: score_threshold must be between 0 and 1, not {score_threshold}")
        self.ner_entities = [e for e in wanted if e in NER_ENTITIES]
        if self.ner_entities and not ner_model:
            raise OptionError(
                f"pii: {', '.join(self.ner_entities)} need a spaCy NER model (none is downloaded):"
                " install one (e.g. en_core_web_sm) and set ner_model"
            )
        self.replacement = replacement
        self.public_ips_only = public_ips_only
        self.skip_version_numbers = skip_version_numbers
        self.score_threshold = score_threshold
        regions = list(phone_regions) if phone_regions else list(DEFAULT_PHONE_REGIONS)
        import_presidio(ner=bool(self.ner_entities))  # once per process; without NER, no torch (detector.py)
        try:
            # Cards and IBANs by our rules, not presidio's; thresholds after our phone rules rescore.
            presidio_entities = [e for e in wanted if e in PATTERN_ENTITIES and e not in OWN_RULES]
            self.detector = PiiDetector(presidio_entities, 0.0, regions)
            self.ner = presidio_analyzer(self.ner_entities, regions, ner_model) if self.ner_entities else None
        except ValueError as error:
            raise OptionError(f"pii: {error}") from None
        self.own_rules = [(entity, finder, score) for entity, (finder, score) in OWN_RULES.items() if entity in wanted]
        if "PHONE_NUMBER" in wanted:  # international numbers phonenumbers calls invalid, numbers it reads on past
            after_words = functools.partial(rules.find_numbers_after_phone_words, regions=tuple(regions))
            for finder in (rules.find_international_numbers, after_words):
                self.own_rules.append(("PHONE_NUMBER", finder, rules.PHONE_SCORE_WITH_CONTEXT))

    def find(self, text: str) -> list[Any]:
        """The matches that will be replaced: presidio's results after our IP and phone rules, plus our own
        cards and IBANs (rules.py), at or above the score threshold, without overlaps."""
        from presidio_analyzer import RecognizerResult

        results = []
        for result in self.detector.find(text):
            if result.entity_type == "PHONE_NUMBER":
                score = rules.phone_verdict(text, result.start, result.end)
                if score is None:
                    continue
                result.score = max(result.score, score)
            results.append(result)
        for entity, finder, score in self.own_rules:
            results += [RecognizerResult(entity, start, end, score) for start, end in finder(text)]
        if self.ner is not None:
            results += self.ner.analyze(text, language="en", entities=self.ner_entities)
        results = [r for r in results if r.score >= self.score_threshold]
        results = [r for r in results if r.entity_type != "IP_ADDRESS" or self._is_reportable_ip(text, r)]
        # Overlaps (an SSN that also parses as a phone number): the higher score wins, then the longer span.
        chosen: list[Any] = []  # kept in text order; bisect finds the neighbours a new match could overlap
        for result in sorted(results, key=lambda r: (-r.score, -(r.end - r.start), r.start, r.entity_type)):
            i = bisect.bisect_left(chosen, result.start, key=lambda c: c.start)
            if (i == 0 or chosen[i - 1].end <= result.start) and (i == len(chosen) or result.end <= chosen[i].start):
                chosen.insert(i, result)
        return chosen

    def _is_reportable_ip(self, text: str, result: Any) -> bool:
        if self.skip_version_numbers and VERSION_BEFORE.search(text, max(0, result.start - 12), result.start):
            return False
        if not self.public_ips_only:
            return True
        try:
            return ipaddress.ip_interface(text[result.start : result.end]).ip.is_global
        except ValueError:
            return False

    def replacement_for(self, entity: str, value: str) -> str:
        if self.replacement == "tag":
            return f"<{entity}>"
        if entity == "IP_ADDRESS" and ":" in value:
            entity = "IPV6_ADDRESS"
        choices = PLACEHOLDERS[entity]
        return choices[zlib.crc32(value.encode()) % len(choices)]  # stable across runs, unlike random

    def filter(self, document: Document) -> str | None:
        text = document.text
        try:
            with time_limit(self.timeout):
                matches = self.find(text)
        except TimeLimitExceeded:  # never passed on unscrubbed: a scan that did not finish drops the document
            self.stats.errors["pii_timeout"] += 1
            return "pii_timeout"
        if not matches:
            return None
        pieces, position, counts = [], 0, {}
        for match in matches:
            pieces.append(text[position : match.start])
            pieces.append(self.replacement_for(match.entity_type, text[match.start : match.end]))
            position = match.end
            counts[match.entity_type] = counts.get(match.entity_type, 0) + 1
        pieces.append(text[position:])
        document.text = "".join(pieces)
        document.metadata["pii"] = dict(sorted(counts.items()))
        self.stats.counts.update(counts)
        return None

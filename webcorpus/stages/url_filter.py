"""url-filter: drop pages whose URL is on a blocklist, as FineWeb did."""

from __future__ import annotations

import re

from webcorpus.document import Document
from webcorpus.offline import offline_tld_extractor
from webcorpus.pipeline.drops import dropped
from webcorpus.pipeline.step import Filter
from webcorpus.stages.blocklists import URL_WORD_SPLIT, Blocklists, bundled_blocklists, normalize_url


class UrlFilter(Filter):
    """FineWeb's URL rules, in order: registered domain, full host, exact URL, banned word, at least N
    soft-banned words, banned sub-word; the drop reason names the rule.

    A blocklist folder holds plain UTF-8 files, one entry a line, `#` for comments: `domains/*.txt`
    (`example.com` drops its registered domain, `ads.example.com` that host), `urls/*.txt` (exact URLs,
    compared without scheme, leading `www.` and trailing `/`), `banned_words.txt` (a word of the URL split
    on anything but letters and digits, lower-cased), `soft_banned_words.txt`, `banned_subwords.txt`
    (anywhere in the URL once stripped to letters and digits). The bundled lists are a small starter set;
    `webcorpus blocklists import UT1.tar.gz --category adult` imports the UT1 list FineWeb used. The public
    suffix list is tldextract's bundled snapshot: nothing is fetched."""

    name = "url_filter"
    summary = "Drop documents whose URL matches the blocklists (domain, host, URL, banned words)."
    drop_reasons = {
        "domain": "The URL's registered domain is on a blocklist.",
        "host": "The URL's host is on a blocklist.",
        "url": "The URL itself is on a blocklist.",
        "banned_word": "The URL holds a banned word.",
        "soft_banned_words": "The URL holds soft_word_threshold or more soft-banned words.",
        "banned_subword": "The URL, stripped to letters and digits, holds a banned sub-word.",
    }
    option_minimum = {"soft_word_threshold": 1}
    option_help = {
        "blocklists": "Blocklist folder (format: docs/steps.md, url_filter); default: the bundled starter lists.",
        "soft_word_threshold": "Drop a URL holding at least this many soft-banned words.",
    }

    def __init__(self, blocklists: str | None = None, soft_word_threshold: int = 2) -> None:
        super().__init__()
        self.lists = Blocklists.load(blocklists or bundled_blocklists())
        self.soft_word_threshold = soft_word_threshold
        self.tld = offline_tld_extractor()
        subwords = sorted(self.lists.banned_subwords, key=lambda w: (-len(w), w))
        self.subword_pattern = re.compile("|".join(map(re.escape, subwords))) if subwords else None

    def filter(self, document: Document) -> str | None:
        url = document.url.lower()
        parts = self.tld(url)
        host = parts.fqdn or parts.domain  # an IP address has no suffix, and so no fqdn
        registered = f"{parts.domain}.{parts.suffix}" if parts.suffix else parts.domain
        if registered in self.lists.domains:
            return dropped(document, "domain", f"registered domain {registered} is listed")
        if host.removeprefix("www.") in self.lists.domains:
            return dropped(document, "host", f"host {host.removeprefix('www.')} is listed")
        if normalize_url(url) in self.lists.urls:
            return dropped(document, "url", "the URL is listed")
        words = set(URL_WORD_SPLIT.split(url))
        if not words.isdisjoint(self.lists.banned_words):
            banned = ", ".join(sorted(words & self.lists.banned_words))
            return dropped(document, "banned_word", f"banned words: {banned}")
        soft = words & self.lists.soft_banned_words
        if len(soft) >= self.soft_word_threshold:
            detail = f"soft-banned words {len(soft)} ≥ {self.soft_word_threshold}: {', '.join(sorted(soft))}"
            return dropped(document, "soft_banned_words", detail)
        if self.subword_pattern is not None and (found := self.subword_pattern.search(URL_WORD_SPLIT.sub("", url))):
            return dropped(document, "banned_subword", f"banned sub-word: {found.group()}")
        return None

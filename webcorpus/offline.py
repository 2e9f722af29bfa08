"""Libraries that would reach for the network at run time, set up to use what ships with them."""

from __future__ import annotations

from functools import cache
from typing import Any


@cache
def offline_tld_extractor() -> Any:
    """A tldextract extractor on the public-suffix snapshot inside the package: no download, no cache dir."""
    import tldextract

    return tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)

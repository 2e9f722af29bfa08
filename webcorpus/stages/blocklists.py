"""The blocklist folder format, its loader, and the UT1 archive importer.

A blocklist folder holds plain UTF-8 text files, one entry per line, `#` starting a comment:

    domains/*.txt           registered domains (example.com: blocks every host under it)
                            or full hosts (ads.example.com: blocks that host only)
    urls/*.txt              exact URLs, compared without scheme and without a leading "www."
    banned_words.txt        a URL containing one of these as a whole word is dropped
    soft_banned_words.txt   a URL containing `soft_word_threshold` of these (default 2) is dropped
    banned_subwords.txt     dropped if found anywhere in the URL once lower-cased with
                            everything but letters and digits removed

Any file may be missing. UT1-style archives become `domains/ut1-CATEGORY.txt` and
`urls/ut1-CATEGORY.txt` through `webcorpus blocklists import`.
"""

from __future__ import annotations

import re
import tarfile
from dataclasses import dataclass, field
from pathlib import Path

from webcorpus.atomic import atomic_open

URL_WORD_SPLIT = re.compile(r"[^a-z0-9]+")


def bundled_blocklists() -> Path:
    """The starter lists that ship with webcorpus: inside the installed package (a wheel puts the
    repository's blocklists/ there, see pyproject.toml), or blocklists/ of a checkout (editable install)."""
    package = Path(__file__).resolve().parent.parent
    for candidate in (package / "bundled_blocklists", package.parent / "blocklists"):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"{package}: the bundled blocklists are missing from this installation")


def normalize_url(url: str) -> str:
    """The form exact-URL entries are compared in: no scheme, no leading www., no trailing slash."""
    url = url.strip().lower()
    if "://" in url:
        url = url.split("://", 1)[1]
    if url.startswith("www."):
        url = url[4:]
    return url.rstrip("/")


def _read_entries(path: Path) -> list[str]:
    with open(path, encoding="utf-8", errors="replace") as f:
        entries = (line.split("#", 1)[0].strip().lower() for line in f)
        return [entry for entry in entries if entry]


@dataclass
class Blocklists:
    domains: set[str] = field(default_factory=set)
    urls: set[str] = field(default_factory=set)
    banned_words: set[str] = field(default_factory=set)
    soft_banned_words: set[str] = field(default_factory=set)
    banned_subwords: set[str] = field(default_factory=set)

    @classmethod
    def load(cls, folder: str | Path) -> Blocklists:
        folder = Path(folder)
        if not folder.is_dir():
            raise FileNotFoundError(f"{folder}: blocklist folder not found")
        lists = cls()
        for path in sorted((folder / "domains").glob("*.txt")):
            lists.domains.update(entry.lstrip(".").removeprefix("www.") for entry in _read_entries(path))
        for path in sorted((folder / "urls").glob("*.txt")):
            lists.urls.update(normalize_url(entry) for entry in _read_entries(path))
        for name in ("banned_words", "soft_banned_words", "banned_subwords"):
            path = folder / f"{name}.txt"
            if path.exists():
                words = _read_entries(path)
                if name == "banned_subwords":
                    words = [URL_WORD_SPLIT.sub("", w) for w in words]
                getattr(lists, name).update(w for w in words if w)
        return lists


def import_ut1_archive(
    archive: str | Path, out_folder: str | Path, categories: list[str] | None = None
) -> dict[str, int]:
    """Turn a UT1 blacklist tar.gz (`CATEGORY/domains`, `CATEGORY/urls`) into our folder format.

    Returns the number of entries written per output file.
    """
    out = Path(out_folder)
    written: dict[str, int] = {}
    with tarfile.open(archive, "r:*") as tar:
        for member in sorted(tar.getmembers(), key=lambda m: m.name):
            parts = Path(member.name).parts
            if not member.isfile() or len(parts) < 2 or parts[-1] not in ("domains", "urls"):
                continue
            category = parts[-2]
            if categories and category not in categories:
                continue
            data = tar.extractfile(member)
            if data is None:
                continue
            lines = data.read().decode("utf-8", errors="replace").splitlines()
            entries = sorted({line.strip().lower() for line in lines if line.strip() and not line.startswith("#")})
            target = out / parts[-1] / f"ut1-{category}.txt"
            with atomic_open(target) as f:
                f.write(f"# imported from {Path(archive).name}, category {category}\n")
                f.writelines(entry + "\n" for entry in entries)
            written[str(target)] = len(entries)
    if not written:
        raise ValueError(f"{archive}: no CATEGORY/domains or CATEGORY/urls files found (is it a UT1 archive?)")
    return written

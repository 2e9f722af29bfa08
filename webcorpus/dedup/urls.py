"""One document per normalised URL across a whole corpus, in three phases (the shape of top_fraction).

Each phase works on units and resumes by pipeline/units.py:

1. hashes (parallel over shards): each row's 64-bit hash of its normalised URL (blake2b, 8 bytes) and its
   `keep` key (text length, or `date`) -> OUTPUT/.work/url_hashes/SHARD.npy and OUTPUT/.work/url_keys/SHARD.npy.
2. keepers (one unit): per hash the keeper (`keep`; ties by input order: shard name, then row) -> per shard
   its removed rows with their keeper's id, OUTPUT/.work/url_drops/SHARD.json.
3. filter (parallel over shards): copy each shard without its removed rows -> OUTPUT/data/, and the removed
   rows (`duplicate_url`, `metadata.duplicate_of` = the keeper's id) -> OUTPUT/removed/url_dedup/.

Only the hashes and keys (16 bytes a document, or the dates) are ever held together, by the keepers unit.
"""

from __future__ import annotations

import hashlib
import json
import re
import string
import time
from typing import Literal
from urllib.parse import urlsplit, urlunsplit

import numpy as np

from webcorpus.parquet import Location, date_text, read_table
from webcorpus.pipeline import run_folder
from webcorpus.pipeline.corpus_shards import load_array, rewrite_shard, save_array
from webcorpus.pipeline.executors import CorpusContext
from webcorpus.pipeline.options import OptionError, check_arguments
from webcorpus.pipeline.run_folder import Folder
from webcorpus.pipeline.step import CorpusResult, CorpusStep
from webcorpus.pipeline.units import open_units

HASHES = f"{run_folder.WORK}/url_hashes"
KEYS = f"{run_folder.WORK}/url_keys"
DROPS = f"{run_folder.WORK}/url_drops"
DEFAULT_PORTS = {"http": 80, "https": 443}
ESCAPES = re.compile(r"(?:%[0-9A-Fa-f]{2})+")
UNRESERVED = frozenset(string.ascii_letters + string.digits + "-._~")  # RFC 3986: the same escaped or not
KeepName = Literal["first", "longest", "newest"]
KEEP_MODES = ("first", "longest", "newest")
REASON = "duplicate_url"


class UrlDedup(CorpusStep):
    """Keeps one document per normalised URL over the whole corpus (normalise_url: scheme and host lower-cased,
    a leading `www.`, the fragment, a default port and a trailing `/` dropped; the query kept). Which one is
    `keep`: `first` in input order (shard name, then row), the `longest` text, or the `newest` `date` (string
    order of the ISO date, missing dates oldest); ties go to input order. The others go to
    `OUTPUT/removed/url_dedup/` as `duplicate_url` with `duplicate_of` (the kept id). Three resumable phases:
    hashes (parallel over shards), keepers (one unit), filter (parallel over shards). Rerun to resume."""

    name = "url_dedup"
    drop_reasons = {REASON: "Another document has the same URL; one copy stays."}
    summary = (
        "Keep one document per normalised URL across the whole corpus (the first, the longest or the newest); "
        "the others are removed with duplicate_of. Resumable."
    )
    output_name = "url_dedup"
    runner_supplied = frozenset({"removed"})  # a pipeline's `removed:`
    option_help = {
        "keep": "Which document of a URL stays: first (input order), longest (text), newest (date column).",
    }

    def __init__(self, keep: KeepName = "first", removed: bool = True) -> None:
        super().__init__()
        check_arguments(self, locals())
        if keep not in KEEP_MODES:
            raise OptionError(f"'keep' must be one of {', '.join(KEEP_MODES)}, got {keep!r}")
        self.settings = {"keep": keep}
        self.keep = keep
        self.removed = removed  # write the removed documents under OUTPUT/removed/url_dedup/

    def run_corpus(self, sources: list[Location], target: Location, context: CorpusContext) -> CorpusResult:
        return run_url_dedup(sources, target, self, context)


def normalise_url(url: str | None) -> str:
    """The form two URLs of one page share: scheme and host lower-cased, an internationalised host in its
    ASCII (punycode) form, a leading `www.` dropped, the fragment dropped, the scheme's default port (http 80,
    https 443) dropped, a trailing `/` dropped from a path other than `/` itself, and in path and query the
    percent-escapes of UTF-8 characters and of unreserved ASCII decoded, the others upper-cased (so
    `/%E6%97%A5` and `/日` are one page, as browsers show them); user info, path case and the query's order are
    kept. http and https stay different. A URL that does not parse (a bad port, a bad IPv6 host) is returned
    as it is."""
    if not url:
        return url or ""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return url
    scheme = parts.scheme.lower()
    host = _ascii_host(parts.hostname or "").removeprefix("www.")  # lower-cased by urllib
    if ":" in host:
        host = f"[{host}]"  # IPv6
    userinfo, at, _ = parts.netloc.rpartition("@")
    netloc = userinfo + at + host
    if port is not None and DEFAULT_PORTS.get(scheme) != port:
        netloc += f":{port}"
    path = _escapes(parts.path)
    if len(path) > 1 and path.endswith("/"):
        path = path[:-1]
    return urlunsplit((scheme, netloc, path, _escapes(parts.query), ""))


def _ascii_host(host: str) -> str:
    """`例え.jp` and `xn--r8jz45g.jp` alike as the latter; a host IDNA refuses (a label over 63 characters)
    is kept as it is."""
    if host.isascii() and "xn--" not in host:
        return host
    try:
        return host.encode("idna").decode("ascii").lower()
    except UnicodeError:
        return host


def _escapes(part: str) -> str:
    """Runs of percent-escapes decoded where that names the same resource (UTF-8 characters, unreserved
    ASCII) and upper-cased elsewhere (`%2f` stays an escaped `/`, `%2F`)."""

    def decode(match: re.Match[str]) -> str:
        text = bytes.fromhex(match.group().replace("%", "")).decode("utf-8", "surrogateescape")
        return "".join(
            f"%{ord(c) - 0xDC00:02X}" if 0xDC80 <= ord(c) <= 0xDCFF  # a byte that is not UTF-8
            else c if not c.isascii() or c in UNRESERVED
            else f"%{ord(c):02X}"
            for c in text
        )  # fmt: skip

    return ESCAPES.sub(decode, part) if "%" in part else part


def url_hash(url: str | None) -> int:
    """The 64-bit hash (blake2b, 8 bytes, little-endian) of a URL's normal form."""
    digest = hashlib.blake2b(normalise_url(url).encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "little")


def hashes_phase(shard: Location, shard_index: int, output: Folder, keep: str) -> int:
    """Phase 1 for one shard: its rows' URL hashes (uint64) and `keep` keys (text lengths as int64, or dates
    as strings with "" for none; nothing for `first`). Returns its number of rows."""
    columns = ["url"] + {"longest": ["text"], "newest": ["date"]}.get(keep, [])
    table = read_table(shard, columns=columns)
    hashes = np.array([url_hash(url) for url in table.column("url").to_pylist()], dtype=np.uint64)
    save_array(output, f"{HASHES}/{shard_index:05d}.npy", hashes)
    if keep == "longest":
        lengths = [len(text or "") for text in table.column("text").to_pylist()]
        save_array(output, f"{KEYS}/{shard_index:05d}.npy", np.array(lengths, dtype=np.int64))
    elif keep == "newest":
        # Both shard versions compare alike: a timestamp as its WARC-Date string, an older shard's string as is.
        dates = [date_text(date) or "" for date in table.column("date").to_pylist()]
        save_array(output, f"{KEYS}/{shard_index:05d}.npy", np.array(dates, dtype=np.str_).reshape(-1))
    return len(hashes)


def keepers_phase(shards: list[str], output: Folder, keep: str) -> dict:
    """Phase 2: per URL hash its keeper (highest key, then first in input order); writes per shard its
    removed rows as [row, keeper id]. Returns the numbers of distinct URLs and of removed documents."""
    n = len(shards)
    parts = [load_array(data) for data in output.read_many([f"{HASHES}/{i:05d}.npy" for i in range(n)])]
    sizes = [len(part) for part in parts]
    hashes = np.concatenate(parts) if parts else np.zeros(0, np.uint64)
    if keep == "first":
        rank = np.zeros(len(hashes), dtype=np.int64)
    else:
        keys = [load_array(data) for data in output.read_many([f"{KEYS}/{i:05d}.npy" for i in range(n)])]
        values = np.concatenate(keys) if keys else np.zeros(0, np.int64)
        # Dates become their rank among all dates ("" lowest); lengths are their own rank.
        rank = np.unique(values, return_inverse=True)[1].reshape(-1) if keep == "newest" else values
    number = np.arange(len(hashes), dtype=np.int64)  # input order
    order = np.lexsort((number, -rank.astype(np.int64), hashes))  # by hash, best key first, then input order
    ordered = hashes[order]
    starts = np.ones(len(order), dtype=bool)
    starts[1:] = ordered[1:] != ordered[:-1]
    keeper = np.empty(len(hashes), dtype=np.int64)
    keeper[order] = order[np.flatnonzero(starts)[np.cumsum(starts) - 1]]
    removed = np.flatnonzero(keeper != number)
    offsets = np.cumsum([0, *sizes])
    keeper_shard = np.searchsorted(offsets, keeper[removed], side="right") - 1
    ids: dict[int, str] = {}
    for index in sorted(set(keeper_shard.tolist())):
        column = read_table(shards[index], columns=["id"]).column("id").to_pylist()
        for global_number in keeper[removed][keeper_shard == index].tolist():
            ids[global_number] = column[global_number - offsets[index]]
    for index in range(n):
        mine = removed[(removed >= offsets[index]) & (removed < offsets[index + 1])]
        rows = [[int(r - offsets[index]), ids[int(keeper[r])]] for r in mine]
        output.write_bytes(f"{DROPS}/{index:05d}.json", json.dumps(rows).encode())
    return {"urls": int(starts.sum()), "removed": len(removed)}


def filter_phase(shard: Location, shard_index: int, output: Folder, keep_removed: bool = True) -> dict:
    """Phase 3 for one shard: write it again without its removed rows, and those rows (with `duplicate_of`)
    under OUTPUT/removed/ when `keep_removed`. Returns its counts of kept and removed rows."""
    drop = dict(json.loads(output.read_bytes(f"{DROPS}/{shard_index:05d}.json")))
    drops = {int(row): (REASON, {"duplicate_of": keeper_id}) for row, keeper_id in drop.items()}
    return {"kept": rewrite_shard(shard, output, UrlDedup.name, drops, keep_removed), "removed": len(drops)}


def run_url_dedup(sources: list[Location], target: Location, step: UrlDedup, context: CorpusContext) -> CorpusResult:
    """All three phases. Rerunning after an interruption resumes."""
    started = time.perf_counter()
    shards, output, units = open_units(sources, target, step.settings, context)
    n = len(shards)
    counted = units.map("url_dedup hashes", hashes_phase, [f"hashes_{i:05d}" for i in range(n)],
                        shards, range(n), [output] * n, [step.keep] * n)  # fmt: skip
    chosen = units.call("url_dedup keepers", keepers_phase, "keepers", shards, output, step.keep)
    filtered = units.map("url_dedup filter", filter_phase, [f"filter_{i:05d}" for i in range(n)],
                         shards, range(n), [output] * n, [step.removed] * n)  # fmt: skip
    documents = sum(counted)
    kept = sum(f["kept"] for f in filtered)
    removed = sum(f["removed"] for f in filtered)
    figures = {"documents": documents, "kept": kept, "removed": removed, "urls": chosen["urls"], "shards": n,
               "keep": step.keep}  # fmt: skip
    step.stats.documents_in, step.stats.kept = documents, kept
    if removed:
        step.stats.dropped[REASON] = removed
    step.stats.time_s = time.perf_counter() - started
    data = output.url(run_folder.DATA)
    line = (
        f"url_dedup: kept {kept} of {documents} documents in {n} shards (one per URL, keep {step.keep}), "
        f"removed {removed} -> {data}"
    )
    return CorpusResult(line, figures, data=data)

"""Lines repeated across a whole corpus, removed from every document (site boilerplate that extraction left:
cookie notices, "All rights reserved", share bars), in three phases (the shape of url_dedup).

A line counts once per document that holds it (after `normal_line`: whitespace collapsed, lower-cased).
A line held by more than `max_repeats` documents is removed from all of them. A line without a letter of
any script (a Markdown table rule, a list marker, a number, a blank line) or shorter than `min_line_chars`
is never counted or removed: tables and lists keep their shape. Each phase works on units and resumes by
pipeline/units.py:

exact mode (counts of 64-bit line hashes; memory per unit is 1/hash_ranges of the corpus's distinct lines):

1. hashes (parallel over shards): per document its distinct line hashes (blake2b, 8 bytes); per shard
   (hash, documents) pairs split by hash range -> OUTPUT/.work/line_counts/RANGE/SHARD.npy.
2. counts (parallel over hash ranges): the corpus's count of every hash of the range; those over the limit
   -> OUTPUT/.work/line_repeated/RANGE.npy.
3. filter (parallel over shards): each document without those lines -> OUTPUT/data/.

bloom mode (a count-min sketch of `bloom_bytes` saturating uint8 counters and `bloom_hashes` cells a line,
for corpora whose distinct lines do not fit in memory; only the sketch is ever held):

1. sketch (parallel over shards): the shard's sketch, cut into `hash_ranges` ranges of counters
   -> OUTPUT/.work/line_sketch/RANGE/SHARD.bin (zlib).
2. sum (parallel over ranges of counters): the shards' sketches added, one shard at a time (saturating
   addition is associative, so the order does not matter) -> OUTPUT/.work/line_sketch_sum/RANGE.bin.
3. filter, as above, holding the whole summed sketch; a line's count is the least of its counters.

A cell only ever holds its own line's count plus other lines', so counts are only overestimated: the bloom
mode removes every line the exact mode removes, and a line at or under the limit wrongly only when each of
its cells is shared with another line. That happens with probability at most fill^k (fill: the share of
non-zero counters in the summed sketch, k: bloom_hashes), which the sum units measure and the step reports
as `false_positive_rate`. Beforehand, for n distinct lines: fill ~ 1 - exp(-k n / m), m = bloom_bytes.

In the filter phase a document whose text changed and has fewer than `min_words` words left (non-symbol
words of its language, as gopher_quality counts them: the segmenter's words for ja, zh, ko, th) goes to
OUTPUT/removed/line_dedup/ as `too_short_after_dedup`, with its text as it was; a kept document whose text
changed gets `line_dedup_lines_removed`. Blank lines that a removal leaves next to each other become one,
and a removal at either end leaves no blank line there.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import time
import zlib
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from webcorpus.parquet import TOKEN_COUNT, Location, parquet_file, read_table, row_to_document, shard_name
from webcorpus.pipeline import run_folder
from webcorpus.pipeline.corpus_shards import load_array, save_array
from webcorpus.pipeline.exclusion import ExclusionWriter
from webcorpus.pipeline.executors import CorpusContext
from webcorpus.pipeline.options import OptionError, check_arguments
from webcorpus.pipeline.run_folder import Folder
from webcorpus.pipeline.step import CorpusResult, CorpusStep
from webcorpus.pipeline.units import open_units
from webcorpus.text import is_symbol, words_of

COUNTS = f"{run_folder.WORK}/line_counts"
REPEATED = f"{run_folder.WORK}/line_repeated"
SKETCHES = f"{run_folder.WORK}/line_sketch"
SUMS = f"{run_folder.WORK}/line_sketch_sum"
ModeName = Literal["exact", "bloom"]
REASON = "too_short_after_dedup"
LINES_REMOVED = "line_dedup_lines_removed"
BATCH_ROWS = 1024
MAX_COUNT = 255  # a saturating uint8 counter
GOLDEN = 0x9E3779B97F4A7C15
_LETTER = re.compile(r"[^\W\d_]")  # a letter of any script


class LineDedup(CorpusStep):
    """Removes every line that more than `max_repeats` documents of the whole corpus hold (compared with
    whitespace collapsed and lower-cased; never a line without a letter or shorter than `min_line_chars`),
    counted exactly (`mode: exact`, 64-bit hashes) or in a count-min sketch (`mode: bloom`, `bloom_bytes`
    counters, for corpora whose distinct lines do not fit in memory; it removes a superset, its false-positive
    rate reported). A document whose text changed and has fewer than `min_words` words of its language left
    goes to `OUTPUT/removed/line_dedup/` as `too_short_after_dedup`. Three resumable phases; rerun to resume.
    docs/dedup.md."""

    name = "line_dedup"
    drop_reasons = {REASON: "Too little text left once lines repeated across the corpus were removed."}
    summary = (
        "Remove lines held by more than max_repeats documents of the whole corpus (site boilerplate) from "
        "every document, exactly or with a count-min sketch; documents left too short are removed. Resumable."
    )
    output_name = "line_dedup"
    runner_supplied = frozenset({"removed"})  # a pipeline's `removed:`
    option_minimum = {
        "max_repeats": 1,
        "min_words": 0,
        "min_line_chars": 0,
        "hash_ranges": 1,
        "bloom_bytes": 1024,
        "bloom_hashes": 1,
    }
    option_maximum = {"max_repeats": MAX_COUNT - 1, "bloom_hashes": 16}
    option_help = {
        "max_repeats": "A line held by more documents than this is removed from all of them.",
        "min_words": "A changed document with fewer words of its language left is removed.",
        "min_line_chars": "Shorter lines are never counted or removed (e.g. 20 spares headings like 'References').",
        "mode": "exact (hash counts, hash_ranges units) or bloom (count-min sketch of bloom_bytes counters).",
        "hash_ranges": "Units of the second phase; each holds 1/hash_ranges of the line hashes or of the sketch.",
        "bloom_bytes": "bloom: counters in the sketch (one byte each); every filter unit holds them.",
        "bloom_hashes": "bloom: counters a line updates; its count is the least of them.",
    }

    def __init__(
        self,
        max_repeats: int = 10,
        min_words: int = 50,
        min_line_chars: int = 0,
        mode: ModeName = "exact",
        hash_ranges: int = 8,
        bloom_bytes: int = 1 << 26,
        bloom_hashes: int = 4,
        removed: bool = True,
    ) -> None:
        super().__init__()
        check_arguments(self, locals())
        if mode not in ("exact", "bloom"):
            raise OptionError(f"'mode' must be exact or bloom, got {mode!r}")
        self.max_repeats, self.min_words, self.min_line_chars, self.mode = max_repeats, min_words, min_line_chars, mode
        self.hash_ranges, self.bloom_bytes, self.bloom_hashes = hash_ranges, bloom_bytes, bloom_hashes
        self.settings: dict[str, Any] = {"max_repeats": max_repeats, "min_words": min_words, "mode": mode,
                                         "min_line_chars": min_line_chars, "hash_ranges": hash_ranges}  # fmt: skip
        if mode == "bloom":
            self.settings.update(bloom_bytes=bloom_bytes, bloom_hashes=bloom_hashes)
        self.removed = removed  # write the removed documents under OUTPUT/removed/line_dedup/

    def run_corpus(self, sources: list[Location], target: Location, context: CorpusContext) -> CorpusResult:
        return run_line_dedup(sources, target, self, context)


def normal_line(line: str) -> str:
    """The form a line is counted by: whitespace collapsed and trimmed, lower-cased ("" for a blank line)."""
    return " ".join(line.split()).lower()


def line_hash(line: str, min_chars: int = 0) -> int:
    """The 64-bit hash (blake2b, 8 bytes, little-endian) of a line's normal form; 0 (never counted, never
    removed) for a line without a letter (a Markdown table rule `|---|---|`, a list marker, a number, a
    blank line: structure, not boilerplate) or shorter than `min_chars` characters."""
    normal = normal_line(line)
    if len(normal) < max(min_chars, 1) or not _LETTER.search(normal):
        return 0
    digest = hashlib.blake2b(normal.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "little") or 1  # 0 stays the blank line's


def document_hashes(text: str | None, min_chars: int = 0) -> set[int]:
    """The distinct hashes of a document's counted lines (what it adds to the counts: one each)."""
    return {line_hash(line, min_chars) for line in (text or "").split("\n")} - {0}


def sketch_cells(hashes: np.ndarray, cells: int, k: int) -> np.ndarray:
    """The `k` counters of each line hash (shape len x k), from splitmix64 of the hash with k fixed seeds."""
    with np.errstate(over="ignore"):
        seeds = np.arange(1, k + 1, dtype=np.uint64) * np.uint64(GOLDEN)
        z = hashes.astype(np.uint64).reshape(-1, 1) + seeds
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z ^= z >> np.uint64(31)
    return (z % np.uint64(cells)).astype(np.int64)


def saturating_add(sketch: np.ndarray, cells: np.ndarray, counts: np.ndarray) -> None:
    """Add `counts` at distinct `cells` of a uint8 sketch, stopping at 255."""
    sketch[cells] = np.minimum(sketch[cells].astype(np.int64) + counts, MAX_COUNT).astype(np.uint8)


def shard_line_hashes(shard: Location, min_chars: int) -> np.ndarray:
    """Every document's distinct line hashes, one after another (a line counts once per document)."""
    parts: list[int] = []
    for batch in parquet_file(shard).iter_batches(batch_size=BATCH_ROWS, columns=["text"]):
        for text in batch.column(0).to_pylist():
            parts.extend(document_hashes(text, min_chars))
    return np.array(parts, dtype=np.uint64)


def hashes_phase(shard: Location, shard_index: int, output: Folder, step: LineDedup) -> dict:
    """Exact phase 1 for one shard: per hash range its (hash, documents holding it) pairs."""
    hashes, hash_ranges = shard_line_hashes(shard, step.min_line_chars), step.hash_ranges
    distinct, counts = np.unique(hashes, return_counts=True)
    pairs = np.stack([distinct, counts.astype(np.uint64)], axis=1) if len(distinct) else np.zeros((0, 2), np.uint64)
    ranges = distinct % np.uint64(hash_ranges)
    for part in range(hash_ranges):
        save_array(output, f"{COUNTS}/{part:03d}/{shard_index:05d}.npy", pairs[ranges == part])
    return {"lines": len(hashes)}


def counts_phase(part: int, shards: int, output: Folder, max_repeats: int) -> dict:
    """Exact phase 2 for one hash range: the corpus's count of each hash; those over `max_repeats` saved."""
    names = [f"{COUNTS}/{part:03d}/{i:05d}.npy" for i in range(shards)]
    parts = [load_array(data) for data in output.read_many(names)]
    pairs = np.concatenate(parts) if parts else np.zeros((0, 2), np.uint64)
    distinct, inverse = np.unique(pairs[:, 0], return_inverse=True)
    totals = np.bincount(inverse.reshape(-1), weights=pairs[:, 1], minlength=len(distinct)).astype(np.int64)
    repeated = distinct[totals > max_repeats]
    save_array(output, f"{REPEATED}/{part:03d}.npy", repeated)
    return {"distinct": len(distinct), "repeated": len(repeated)}


def counter_ranges(cells: int, parts: int) -> list[tuple[int, int]]:
    """The `parts` ranges of counters the sum units add up, as (start, end)."""
    return [(cells * part // parts, cells * (part + 1) // parts) for part in range(parts)]


def sketch_phase(shard: Location, shard_index: int, output: Folder, step: LineDedup) -> dict:
    """Bloom phase 1 for one shard: its count-min sketch (uint8, saturating), per range of counters,
    zlib-compressed."""
    hashes, cells, k = shard_line_hashes(shard, step.min_line_chars), step.bloom_bytes, step.bloom_hashes
    where, counts = np.unique(sketch_cells(hashes, cells, k).reshape(-1), return_counts=True)
    sketch = np.zeros(cells, dtype=np.uint8)
    saturating_add(sketch, where, counts)
    for part, (start, end) in enumerate(counter_ranges(cells, step.hash_ranges)):
        data = zlib.compress(sketch[start:end].tobytes(), 1)
        output.write_bytes(f"{SKETCHES}/{part:03d}/{shard_index:05d}.bin", data)
    return {"lines": len(hashes)}


def sum_phase(part: int, shards: int, output: Folder, size: int) -> dict:
    """Bloom phase 2 for one range of counters: the shards' sketches added, one shard at a time. Returns
    its number of non-zero counters."""
    total = np.zeros(size, dtype=np.uint8)
    for index in range(shards):
        data = zlib.decompress(output.read_bytes(f"{SKETCHES}/{part:03d}/{index:05d}.bin"))
        sketch = np.frombuffer(data, dtype=np.uint8)
        nonzero = np.flatnonzero(sketch)
        saturating_add(total, nonzero, sketch[nonzero])
    output.write_bytes(f"{SUMS}/{part:03d}.bin", zlib.compress(total.tobytes(), 1))
    return {"nonzero": int(np.count_nonzero(total))}


def sketch_figures(nonzero: int, cells: int, k: int) -> dict:
    """The share of non-zero counters (fill), the stated false-positive rate (fill to the k) and the
    distinct lines that fill implies, -(m / k) ln(1 - fill)."""
    fill = nonzero / cells
    distinct = round(-cells / k * math.log(1 - fill)) if fill < 1 else None
    return {"sketch_fill": fill, "false_positive_rate": fill**k, "distinct_lines_estimate": distinct}


def stated_false_positive_rate(distinct_lines: int, cells: int, k: int) -> float:
    """Beforehand, for sizing: (1 - exp(-k n / m))^k, the chance that each of a line's k counters is also
    another line's, for n distinct lines in m counters."""
    return (1 - math.exp(-k * distinct_lines / cells)) ** k


def kept_lines(lines: list[str], drop: list[bool]) -> str:
    """The text without the dropped lines; blank lines a removal brings together become one, and a removal
    at either end leaves no blank line there."""
    out: list[str] = []
    gap = False  # a line was removed since the last non-blank line kept
    for line, dropped in zip(lines, drop):
        if dropped:
            gap = True
            continue
        blank = not line.strip()
        if blank and gap and (not out or not out[-1].strip()):
            continue
        out.append(line)
        if not blank:
            gap = False
    if gap:
        while out and not out[-1].strip():
            out.pop()
    return "\n".join(out)


def word_count(text: str, language: str | None) -> int:
    """Non-symbol words of the document's language (gopher_quality's count)."""
    return sum(1 for word in words_of(text, language) if not is_symbol(word))


class Repeated:
    """Which line hashes are over the limit: a sorted array (exact) or the summed sketch (bloom)."""

    def __init__(self, output: Folder, step: LineDedup) -> None:
        self.step = step
        if step.mode == "exact":
            names = [f"{REPEATED}/{part:03d}.npy" for part in range(step.hash_ranges)]
            parts = [load_array(data) for data in output.read_many(names)]
            self.hashes = np.sort(np.concatenate(parts)) if parts else np.zeros(0, np.uint64)
        else:
            names = [f"{SUMS}/{part:03d}.bin" for part in range(step.hash_ranges)]
            parts = [np.frombuffer(zlib.decompress(data), np.uint8) for data in output.read_many(names)]
            self.sketch = np.concatenate(parts)

    def __call__(self, hashes: np.ndarray) -> np.ndarray:
        """A bool per hash: is it over the limit (never for 0, a blank line)."""
        if self.step.mode == "exact":
            if not len(self.hashes):
                return np.zeros(len(hashes), dtype=bool)
            found = self.hashes[np.minimum(np.searchsorted(self.hashes, hashes), len(self.hashes) - 1)] == hashes
        else:
            cells = sketch_cells(hashes, self.step.bloom_bytes, self.step.bloom_hashes)
            found = self.sketch[cells].min(axis=1) > self.step.max_repeats
        return found & (hashes != 0)


def filter_phase(shard: Location, shard_index: int, output: Folder, step: LineDedup) -> dict:
    """Phase 3 for one shard: each document without its repeated lines -> OUTPUT/data/; a changed one left
    with fewer than `min_words` words -> OUTPUT/removed/line_dedup/ (when `step.removed`), text as it was."""
    repeated = Repeated(output, step)
    table = read_table(shard)
    texts = table.column("text").to_pylist()
    languages = table.column("language").to_pylist()
    metadata = table.column("metadata").to_pylist()
    keep = np.ones(table.num_rows, dtype=bool)
    drops: dict[int, int] = {}
    figures = {"documents": table.num_rows, "changed": 0, "lines_removed": 0, "bytes_removed": 0}
    for start in range(0, table.num_rows, BATCH_ROWS):
        rows = range(start, min(start + BATCH_ROWS, table.num_rows))
        lines = {row: (texts[row] or "").split("\n") for row in rows}
        hashes = np.array([line_hash(line, step.min_line_chars) for row in rows for line in lines[row]], np.uint64)
        over = repeated(hashes).tolist()
        at = 0
        for row in rows:
            drop, at = over[at : at + len(lines[row])], at + len(lines[row])
            removed = sum(drop)
            if not removed:
                continue
            text = kept_lines(lines[row], drop)
            figures["lines_removed"] += removed
            if word_count(text, languages[row]) < step.min_words:
                keep[row] = False
                drops[row] = removed
                figures["bytes_removed"] += len((texts[row] or "").encode("utf-8", "surrogatepass"))
                continue
            figures["changed"] += 1
            figures["bytes_removed"] += len((texts[row] or "").encode("utf-8", "surrogatepass")) - len(
                text.encode("utf-8", "surrogatepass")
            )
            texts[row] = text
            rest = json.loads(metadata[row] or "{}")
            rest[LINES_REMOVED] = removed
            metadata[row] = json.dumps(rest, ensure_ascii=False, sort_keys=True)
    write_shard(shard, output, table, texts, metadata, keep, drops, step.removed)
    figures["kept"] = int(keep.sum())
    figures["removed"] = len(drops)
    return figures


def write_shard(
    shard: Location,
    output: Folder,
    table: pa.Table,
    texts: list[str | None],
    metadata: list[str | None],
    keep: np.ndarray,
    drops: dict[int, int],
    keep_removed: bool,
) -> None:
    """The shard with its new texts and metadata, without its dropped rows -> OUTPUT/data/; the dropped rows
    as they were (with the number of lines removed) -> OUTPUT/removed/line_dedup/ when `keep_removed`."""
    name = shard_name(shard)
    writer = ExclusionWriter(output, run_folder.removed("", LineDedup.name, Path(name).stem))
    if keep_removed:
        for row in sorted(drops):
            document = row_to_document(table.slice(row, 1).to_pylist()[0])
            document.metadata[LINES_REMOVED] = drops[row]
            writer(document, f"{LineDedup.name}:{REASON}")
    new = table.set_column(table.schema.get_field_index("text"), "text", pa.array(texts, pa.string()))
    new = new.set_column(new.schema.get_field_index("metadata"), "metadata", pa.array(metadata, pa.string()))
    if TOKEN_COUNT in new.column_names:  # a text with lines removed no longer has the tokens counted for it
        same = pc.fill_null(pc.equal(new.column("text"), table.column("text")), True)
        counts = pc.if_else(same, table.column(TOKEN_COUNT), pa.scalar(None, pa.int64()))
        new = new.set_column(new.schema.get_field_index(TOKEN_COUNT), TOKEN_COUNT, counts)
    with output.writing(f"{run_folder.DATA}/{name}") as tmp:
        pq.write_table(new.filter(pa.array(keep)), tmp, compression="zstd")
    writer.close()


def run_line_dedup(sources: list[Location], target: Location, step: LineDedup, context: CorpusContext) -> CorpusResult:
    """All three phases. Rerunning after an interruption resumes."""
    started = time.perf_counter()
    shards, output, units = open_units(sources, target, step.settings, context)
    n = len(shards)
    figures: dict[str, Any] = {"mode": step.mode, "max_repeats": step.max_repeats, "shards": n}
    r = step.hash_ranges
    if step.mode == "exact":
        units.map("line_dedup hashes", hashes_phase, [f"hashes_{i:05d}" for i in range(n)],
                  shards, range(n), [output] * n, [step] * n)  # fmt: skip
        counted = units.map("line_dedup counts", counts_phase, [f"counts_{p:03d}" for p in range(r)],
                            range(r), [n] * r, [output] * r, [step.max_repeats] * r)  # fmt: skip
        figures["distinct_lines"] = sum(c["distinct"] for c in counted)
        figures["repeated_lines"] = sum(c["repeated"] for c in counted)
    else:
        cells, k = step.bloom_bytes, step.bloom_hashes
        units.map("line_dedup sketch", sketch_phase, [f"sketch_{i:05d}" for i in range(n)],
                  shards, range(n), [output] * n, [step] * n)  # fmt: skip
        sizes = [end - start for start, end in counter_ranges(cells, r)]
        summed = units.map("line_dedup sum", sum_phase, [f"sum_{p:03d}" for p in range(r)],
                           range(r), [n] * r, [output] * r, sizes)  # fmt: skip
        figures.update(sketch_figures(sum(s["nonzero"] for s in summed), cells, k))
    filtered = units.map("line_dedup filter", filter_phase, [f"filter_{i:05d}" for i in range(n)],
                         shards, range(n), [output] * n, [step] * n)  # fmt: skip
    for key in ("documents", "kept", "removed", "changed", "lines_removed", "bytes_removed"):
        figures[key] = sum(f[key] for f in filtered)
    documents, kept, removed = figures["documents"], figures["kept"], figures["removed"]
    step.stats.documents_in, step.stats.kept = documents, kept
    if removed:
        step.stats.dropped[REASON] = removed
    step.stats.time_s = time.perf_counter() - started
    data = output.url(run_folder.DATA)
    rate = f", false-positive rate at most {figures['false_positive_rate']:.2e}" if step.mode == "bloom" else ""
    line = (
        f"line_dedup ({step.mode}{rate}): {figures['lines_removed']} lines held by more than {step.max_repeats} "
        f"documents removed, {figures['changed']} documents changed, removed {removed} left too short; kept "
        f"{kept} of {documents} documents in {n} shards -> {data}"
    )
    return CorpusResult(line, figures, data=data)

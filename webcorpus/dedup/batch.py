"""Near-duplicate removal over a folder of Parquet shards, FineWeb style, in four phases.

Each phase works on units that fit in memory; every unit reads and writes the output folder (local or on
object storage) itself, on whichever worker runs it, and resumes by pipeline/units.py:

1. signatures (parallel over shards): MinHash each document and write, for every band, the band's
   hash and the document's number, split into `hash_ranges` ranges of the hash
   -> OUTPUT/.work/bands/BAND/RANGE/SHARD.npy
2. buckets (parallel over band x range; one unit holds 1/hash_ranges of a band): sort the entries;
   documents sharing a bucket become candidate pairs -> OUTPUT/.work/pairs/BAND_RANGE.npy
3. clusters (one unit): union-find over the pairs (one integer per document, never the signatures). In
   each cluster the document first in input order (shard name order, then row order) survives; the
   others are listed for removal with a pointer to it -> OUTPUT/.work/clusters.npy, per shard its
   removed rows with their keeper's number and id -> OUTPUT/.work/drops/SHARD.json, and per shard its
   keepers' rows with their cluster's size -> OUTPUT/.work/cluster_sizes/SHARD.npy
4. filter (parallel over shards): copy each shard without the removed rows -> OUTPUT/data/, each kept
   row with `minhash_cluster_size` (1 for a document in no cluster: FineWeb-2's column, which `mix`
   upsamples by), and the removed rows, with `duplicate_of` and `cluster`, -> OUTPUT/removed/minhash_dedup/.

The driver only hands out units and collects their counts: no signature, pair or id passes through it.

A document is numbered shard_index << 32 | row.
"""

from __future__ import annotations

import bisect
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from webcorpus.atomic import atomic_path
from webcorpus.dedup import minhash
from webcorpus.dedup.minhash import HashName, Signer, hash_function
from webcorpus.parquet import Location, parquet_file, read_table
from webcorpus.pipeline import run_folder
from webcorpus.pipeline.corpus_shards import load_array, rewrite_shard, save_array
from webcorpus.pipeline.executors import CorpusContext
from webcorpus.pipeline.progress import progress_bar
from webcorpus.pipeline.run_folder import Folder
from webcorpus.pipeline.step import CorpusResult, CorpusStep
from webcorpus.pipeline.units import open_units

ROW_BITS = 32
BATCH_ROWS = 2048


class MinHashDedup(CorpusStep):
    """FineWeb's near-duplicate removal over a whole folder of shards, in four resumable phases, each on
    units that fit in memory: signatures (parallel over shards), candidate pairs (parallel over band and
    hash range), clusters (union-find over the pairs, one integer per document), filter (parallel over
    shards). In each cluster the document first in input order (shard name, then row) stays, with the
    cluster's size as `minhash_cluster_size` (1 outside clusters; `mix` rehydrates by it); the others go to
    `OUTPUT/removed/minhash_dedup/` with `duplicate_of` and `cluster`. Rerun to resume. docs/dedup.md."""

    name = "minhash_dedup"
    summary = (
        "Remove near-duplicates across the whole corpus (MinHash LSH, FineWeb's 5-word shingles and 14 x 8 "
        "bands); the first document of each cluster in input order stays. Resumable."
    )
    output_name = "minhash_dedup"
    runner_supplied = frozenset({"removed"})  # a pipeline's `removed:`
    option_minimum = {"shingle_size": 1, "bands": 1, "rows": 1, "hash_ranges": 1}
    option_help = {
        **minhash.OPTION_HELP,
        "hash_ranges": "Parts each band's buckets are split into (memory per bucket unit: 1/hash_ranges of a band).",
        "clusters_out": "Also write each cluster (kept id, removed ids) as JSON lines to this file.",
    }

    def __init__(
        self,
        shingle_size: int = minhash.SHINGLE_SIZE,
        bands: int = minhash.BANDS,
        rows: int = minhash.ROWS,
        seed: int = minhash.SEED,
        hash: HashName = minhash.HASH,
        hash_ranges: int = 8,
        clusters_out: str | None = None,
        by_language: bool = False,
        removed: bool = True,
    ) -> None:
        super().__init__()
        self.settings = {
            "shingle_size": shingle_size, "bands": bands, "rows": rows, "seed": seed, "hash": hash,
            "hash_ranges": hash_ranges, "by_language": by_language,
        }  # fmt: skip
        for name in ("shingle_size", "bands", "rows", "hash_ranges"):
            if self.settings[name] < 1:
                raise ValueError(f"{name} must be at least 1")
        hash_function(hash)  # raises on an unknown name
        self.bands, self.rows, self.hash_ranges = bands, rows, hash_ranges
        self.by_language = by_language
        self.clusters_out = clusters_out
        self.removed = removed  # write the removed documents under OUTPUT/removed/minhash_dedup/

    def signer(self) -> Signer:
        s = self.settings
        return Signer(s["shingle_size"], s["bands"] * s["rows"], s["seed"], s["hash"])

    def run_corpus(self, sources: list[Location], target: Location, context: CorpusContext) -> CorpusResult:
        return run_batch_dedup(sources, target, self, context)


BANDS = f"{run_folder.WORK}/bands"
PAIRS = f"{run_folder.WORK}/pairs"
CLUSTERS = f"{run_folder.WORK}/clusters.npy"
DROPS = f"{run_folder.WORK}/drops"
SIZES = f"{run_folder.WORK}/cluster_sizes"
CLUSTER_SIZE = "minhash_cluster_size"  # FineWeb-2's name for it


def band_keys(hashvalues: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """One 64-bit key per (document, band): a polynomial hash of the band's `rows` values."""
    values = hashvalues.reshape(len(hashvalues), bands, rows).astype(np.uint64)
    keys = np.zeros(values.shape[:2], dtype=np.uint64)
    with np.errstate(over="ignore"):
        for r in range(rows):
            keys = keys * np.uint64(0x100000001B3) + values[:, :, r]
    return keys


def signatures_phase(shard: Location, shard_index: int, output: Folder, settings: MinHashDedup) -> int:
    """Phase 1 for one shard: write each band's (key, document number) pairs, sorted by key."""
    signer = settings.signer()
    rows: list[np.ndarray] = []
    salts: list[int] = []
    for batch in parquet_file(shard).iter_batches(batch_size=BATCH_ROWS, columns=["text", "language"]):
        for text, language in zip(batch.column(0).to_pylist(), batch.column(1).to_pylist()):
            rows.append(signer.signature(text, language).hashvalues)
            salts.append(minhash.language_salt(language) if settings.by_language else 0)
    count = len(rows)
    numbers = (np.uint64(shard_index) << np.uint64(ROW_BITS)) + np.arange(count, dtype=np.uint64)
    # An empty shard (a step before removed all its rows) has no signatures, but still its (empty) files.
    signatures = np.array(rows, dtype=np.uint64).reshape(count, settings.bands * settings.rows)
    keys = band_keys(signatures, settings.bands, settings.rows)
    with np.errstate(over="ignore"):
        keys ^= np.array(salts, dtype=np.uint64).reshape(count, 1)  # documents of two languages never share a key
    for band in range(settings.bands):
        order = np.argsort(keys[:, band], kind="stable")
        entries = np.stack([keys[order, band], numbers[order]], axis=1) if count else np.zeros((0, 2), np.uint64)
        ranges = entries[:, 0] % np.uint64(settings.hash_ranges)
        for part in range(settings.hash_ranges):
            save_array(output, f"{BANDS}/{band:03d}/{part:03d}/{shard_index:05d}.npy", entries[ranges == part])
    return count


def buckets_phase(band: int, part: int, output: Folder) -> int:
    """Phase 2 for one hash range of one band: pairs (first document of a bucket, each other one)."""
    folder = f"{BANDS}/{band:03d}/{part:03d}"
    names = sorted(output.names(folder))
    parts = [load_array(data) for data in output.read_many([f"{folder}/{name}" for name in names])]
    entries = np.concatenate(parts) if parts else np.zeros((0, 2), np.uint64)
    entries = entries[np.lexsort((entries[:, 1], entries[:, 0]))]
    keys, numbers = entries[:, 0], entries[:, 1]
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]]) if len(keys) else np.zeros(0, np.int64)
    first = numbers[np.repeat(starts, np.diff(np.r_[starts, len(keys)]))]
    pairs = np.stack([first, numbers], axis=1)[first != numbers]
    save_array(output, f"{PAIRS}/{band:03d}_{part:03d}.npy", pairs)
    return len(pairs)


def clusters_phase(output: Folder, shards: list[str], shard_sizes: list[int], progress: bool = False) -> dict:
    """Phase 3: union-find over all pairs; writes the clusters and, for each shard with removed rows, what
    its filter unit needs (`drops/SHARD.json`: row, keeper's number, keeper's id). Returns how many
    documents are removed and the clusters' sizes."""
    offsets = np.cumsum([0, *shard_sizes])
    parent = np.arange(offsets[-1], dtype=np.int64)

    def dense(numbers: np.ndarray) -> np.ndarray:
        shard = (numbers >> np.uint64(ROW_BITS)).astype(np.int64)
        return offsets[shard] + (numbers & np.uint64(0xFFFFFFFF)).astype(np.int64)

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    pair_files = sorted(output.names(PAIRS))
    with progress_bar(len(pair_files), "minhash_dedup clusters", "unit", progress) as bar:
        for name in pair_files:
            for a, b in dense(load_array(output.read_bytes(f"{PAIRS}/{name}"))).reshape(-1, 2).tolist():
                ra, rb = root(a), root(b)
                if ra != rb:
                    # The smaller number (earlier in input order) becomes the root, so it survives.
                    parent[max(ra, rb)] = min(ra, rb)
            bar.update(1)
    roots = np.array([root(i) for i in range(len(parent))], dtype=np.int64)
    removed = np.flatnonzero(roots != np.arange(len(roots)))
    clusters = np.stack([removed, roots[removed]], axis=1) if len(removed) else np.zeros((0, 2), np.int64)
    save_array(output, CLUSTERS, clusters)
    offsets = [0, *np.cumsum(shard_sizes).tolist()]
    ids = _ids_of(shards, offsets, set(clusters[:, 1].tolist()))
    drops: dict[int, list[tuple[int, int, str]]] = {}
    for member, keeper in clusters.tolist():
        shard_index = bisect.bisect_right(offsets, member) - 1
        drops.setdefault(shard_index, []).append((member - offsets[shard_index], keeper, ids[keeper]))
    for shard_index, rows in drops.items():
        output.write_bytes(f"{DROPS}/{shard_index:05d}.json", json.dumps(rows).encode())
    _save_keeper_sizes(output, clusters, offsets)
    return {"removed": len(removed), "cluster_sizes": cluster_sizes(clusters)}


def _save_keeper_sizes(output: Folder, clusters: np.ndarray, offsets: list[int]) -> None:
    """Per shard, its keepers' rows and their clusters' sizes (removed for it + 1), as an (n, 2) int64 array;
    one file for every shard, so that a filter unit never needs the whole clusters array."""
    keepers, removed = np.unique(clusters[:, 1], return_counts=True) if len(clusters) else (np.zeros(0, np.int64),) * 2
    bounds = np.searchsorted(keepers, offsets)  # keepers are sorted: each shard's are one slice
    for index in range(len(offsets) - 1):
        mine = slice(bounds[index], bounds[index + 1])
        rows = np.stack([keepers[mine] - offsets[index], removed[mine] + 1], axis=1).astype(np.int64)
        save_array(output, f"{SIZES}/{index:05d}.npy", rows.reshape(-1, 2))


def cluster_sizes(clusters: np.ndarray) -> dict[str, int]:
    """How many clusters of near-duplicates have each size (the kept document and those removed for it)."""
    removed_per_keeper = np.unique(clusters[:, 1], return_counts=True)[1] if len(clusters) else np.zeros(0, int)
    sizes, how_many = np.unique(removed_per_keeper + 1, return_counts=True)
    return {str(int(size)): int(count) for size, count in zip(sizes, how_many)}


def filter_phase(shard: Location, shard_index: int, output: Folder, keep_removed: bool = True) -> int:
    """Phase 4 for one shard: write it again without its removed rows (its `drops/` file: row -> its
    keeper's number and id), each kept row with its cluster's size (its `cluster_sizes/` file; 1 for a
    row in no cluster), and the removed rows under OUTPUT/removed/ when `keep_removed`."""
    drops = f"{DROPS}/{shard_index:05d}.json"
    rows = json.loads(output.read_bytes(drops)) if output.exists(drops) else []
    drop = {row: ("near_duplicate", {"duplicate_of": keeper_id, "cluster": keeper}) for row, keeper, keeper_id in rows}
    sizes = dict(load_array(output.read_bytes(f"{SIZES}/{shard_index:05d}.npy")).tolist())
    rewrite_shard(shard, output, MinHashDedup.name, drop, keep_removed,
                  annotate=lambda row, _copy: {CLUSTER_SIZE: sizes.get(row, 1)})  # fmt: skip
    return len(drop)


def cluster_members(shards: list[str], sizes: list[int], output: Folder) -> list[dict[str, Any]]:
    """Each cluster with the ids of its kept and removed documents (for `clusters_out`), in keeper order."""
    offsets = [0, *np.cumsum(sizes).tolist()]
    clusters = load_array(output.read_bytes(CLUSTERS))
    ids = _ids_of(shards, offsets, set(clusters[:, 1].tolist()) | set(clusters[:, 0].tolist()))
    groups: dict[int, list[int]] = {}
    for member, keeper in clusters.tolist():
        groups.setdefault(keeper, []).append(member)
    return [{"cluster": keeper, "kept": ids[keeper], "removed": [ids[m] for m in members]}
            for keeper, members in sorted(groups.items())]  # fmt: skip


def _ids_of(shards: list[str], offsets: list[int], numbers: set[int]) -> dict[int, str]:
    """Document ids for dense document numbers, reading only the id column of the shards involved."""
    ids: dict[int, str] = {}
    for index, shard in enumerate(shards):
        local = sorted(n - offsets[index] for n in numbers if offsets[index] <= n < offsets[index + 1])
        if local:
            column = read_table(shard, columns=["id"]).column(0)
            ids.update({offsets[index] + i: column[i].as_py() for i in local})
    return ids


def run_batch_dedup(
    sources: list[Location], target: Location, step: MinHashDedup, context: CorpusContext
) -> CorpusResult:
    """All four phases. Rerunning after an interruption resumes."""
    started = time.perf_counter()
    shards, output, units = open_units(sources, target, step.settings, context)
    n = len(shards)
    sizes = units.map("minhash_dedup signatures", signatures_phase, [f"signatures_{i:05d}" for i in range(n)],
                      shards, range(n), [output] * n, [step] * n)  # fmt: skip
    cells = [(band, part) for band in range(step.bands) for part in range(step.hash_ranges)]
    pairs = sum(units.map("minhash_dedup buckets", buckets_phase, [f"buckets_{b:03d}_{p:03d}" for b, p in cells],
                          [b for b, _ in cells], [p for _, p in cells], [output] * len(cells)))  # fmt: skip
    found = units.call("minhash_dedup clusters", clusters_phase, "clusters", output, shards, sizes, context.progress)
    units.map("minhash_dedup filter", filter_phase, [f"filter_{i:05d}" for i in range(n)],
              shards, range(n), [output] * n, [step.removed] * n)  # fmt: skip
    if step.clusters_out:  # asked for by the user, on the machine the run was started on
        with atomic_path(Path(step.clusters_out)) as tmp, open(tmp, "w", encoding="utf-8") as f:
            for line in cluster_members(shards, sizes, output):
                f.write(json.dumps(line) + "\n")
    documents, removed = int(sum(sizes)), int(found["removed"])
    figures = {"documents": documents, "candidate_pairs": int(pairs), "removed": removed, "shards": n,
               "cluster_sizes": found["cluster_sizes"]}  # fmt: skip
    output.write_json("dedup_stats.json", figures)
    step.stats.documents_in, step.stats.kept = documents, documents - removed
    step.stats.dropped["near_duplicate"] = removed
    step.stats.time_s = time.perf_counter() - started
    data = output.url(run_folder.DATA)
    line = (
        f"minhash_dedup: {documents} documents in {n} shards, {figures['candidate_pairs']} "
        f"candidate pairs, removed {figures['removed']} -> {data}"
    )
    return CorpusResult(line, figures, data=data)

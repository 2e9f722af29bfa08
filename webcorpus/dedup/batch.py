"""Near-duplicate removal over a folder of Parquet shards, FineWeb style, in four phases.

Each phase works on units that fit in memory; every unit reads and writes the output folder (local or on
object storage) itself, on whichever worker runs it, and resumes by pipeline/units.py:

1. signatures (parallel over shards): MinHash each document and write, for every band, the band's
   hash and the document's number, split into `hash_ranges` ranges of the hash
   -> OUTPUT/.work/bands/BAND/RANGE/SHARD.npy
2. buckets (parallel over band x range; one unit holds 1/hash_ranges of a band): sort the entries;
   documents sharing a bucket become candidate pairs -> OUTPUT/.work/pairs/BAND_RANGE.npy
3. clusters (one unit): vectorised union-find over the pairs (one integer per document, never the signatures). In
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

import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

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
# Clusters phase: pairs held before they merge; None: one per 8 documents, at least 1 << 20. A merge makes one
# pass over all documents, so passes stay at most 8 per pair a document has (linear), while the pairs and
# their sort's temporaries stay a few bytes a document.
MERGE_PAIRS: int | None = None


class MinHashDedup(CorpusStep):
    """FineWeb's near-duplicate removal over a whole folder of shards, in four resumable phases, each on
    units that fit in memory: signatures (parallel over shards), candidate pairs (parallel over band and
    hash range), clusters (union-find over the pairs, one integer per document), filter (parallel over
    shards). In each cluster the document first in input order (shard name, then row) stays, with the
    cluster's size as `minhash_cluster_size` (1 outside clusters; `mix` rehydrates by it); the others go to
    `OUTPUT/removed/minhash_dedup/` with `duplicate_of` and `cluster`. Rerun to resume. docs/dedup.md."""

    name = "minhash_dedup"
    drop_reasons = {
        "near_duplicate": "A near-duplicate (MinHash) of a document that stays; metadata.duplicate_of names it.",
    }
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
    # An empty shard (a step before removed all its rows) has no signatures, but still its (empty) files.
    signatures = np.array(rows, dtype=np.uint64).reshape(count, settings.bands * settings.rows)
    keys = band_keys(signatures, settings.bands, settings.rows)
    with np.errstate(over="ignore"):
        keys ^= np.array(salts, dtype=np.uint64).reshape(count, 1)  # documents of two languages never share a key
    save_band_keys(output, shard_index, keys, settings.hash_ranges)
    return count


def save_band_keys(output: Folder, shard_index: int, keys: np.ndarray, hash_ranges: int) -> None:
    """Phase 1's files for one shard from its (rows, bands) band keys: per band and hash range, the
    (key, document number) pairs sorted by key. Apart so that bench/data/dedup_scale.py writes synthetic
    keys in exactly the format the later phases read."""
    count = len(keys)
    numbers = (np.uint64(shard_index) << np.uint64(ROW_BITS)) + np.arange(count, dtype=np.uint64)
    for band in range(keys.shape[1]):
        order = np.argsort(keys[:, band], kind="stable")
        entries = np.stack([keys[order, band], numbers[order]], axis=1) if count else np.zeros((0, 2), np.uint64)
        ranges = entries[:, 0] % np.uint64(hash_ranges)
        for part in range(hash_ranges):
            save_array(output, f"{BANDS}/{band:03d}/{part:03d}/{shard_index:05d}.npy", entries[ranges == part])


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
    """Phase 3: connected components over all pairs; writes the clusters and, for each shard with removed
    rows, what its filter unit needs (`drops/SHARD.json`: row, keeper's number, keeper's id). Returns how
    many documents are removed and the clusters' sizes.

    Every step is a numpy pass over arrays (no Python loop over documents or pairs), so that the phase
    stays linear in documents and pairs at any corpus size: the pairs are merged in batches of one per 8
    documents (`_merge_pairs`), removed rows are grouped by shard with one searchsorted, and the id
    column is read only from shards that hold keepers, once each."""
    offsets = np.cumsum([0, *shard_sizes], dtype=np.int64)
    keeper = np.arange(offsets[-1], dtype=np.int64)  # per document, the first document of its cluster
    batch_limit = max(len(keeper) // 8, 1 << 20) if MERGE_PAIRS is None else MERGE_PAIRS
    pending: list[np.ndarray] = []
    held = 0
    pair_files = sorted(output.names(PAIRS))
    with progress_bar(len(pair_files), "minhash_dedup clusters", "unit", progress) as bar:
        for name in pair_files:
            pairs = _dense(load_array(output.read_bytes(f"{PAIRS}/{name}")).reshape(-1, 2), offsets)
            pairs = pairs[keeper[pairs[:, 0]] != keeper[pairs[:, 1]]]  # already joined by an earlier merge
            pending.append(pairs)
            held += len(pairs)
            if held >= batch_limit:
                merged = np.concatenate(pending)
                pending.clear()  # the pairs are held once, not twice, while they merge
                keeper, held = _merge_pairs(keeper, merged), 0
            bar.update(1)
    if held:
        merged = np.concatenate(pending)
        pending.clear()
        keeper = _merge_pairs(keeper, merged)
        del merged
    removed = np.flatnonzero(keeper != np.arange(len(keeper)))
    clusters = np.stack([removed, keeper[removed]], axis=1) if len(removed) else np.zeros((0, 2), np.int64)
    del keeper
    save_array(output, CLUSTERS, clusters)
    _save_drops(output, shards, clusters, offsets)
    _save_keeper_sizes(output, clusters, offsets.tolist())
    return {"removed": len(removed), "cluster_sizes": cluster_sizes(clusters)}


def _dense(numbers: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Document numbers (shard_index << 32 | row) as positions in input order (0 .. documents - 1)."""
    shard = (numbers >> np.uint64(ROW_BITS)).astype(np.int64)
    return offsets[shard] + (numbers & np.uint64(0xFFFFFFFF)).astype(np.int64)


def _merge_pairs(keeper: np.ndarray, pairs: np.ndarray) -> np.ndarray:
    """`keeper` (per document, the smallest document of its cluster so far) after joining the clusters of
    each pair's two documents. Only the clusters the pairs touch are relabelled (`_smallest_connected`);
    one gather then points every document at its cluster's new smallest document."""
    a, b = keeper[pairs[:, 0]], keeper[pairs[:, 1]]
    apart = a != b
    if not apart.any():
        return keeper
    a, b = a[apart], b[apart]
    nodes, index = np.unique(np.concatenate([a, b]), return_inverse=True)
    index = index.reshape(-1)
    smallest = _smallest_connected(index[: len(a)], index[len(a) :], len(nodes))
    keeper[nodes] = nodes[smallest]  # nodes are clusters' smallest documents, sorted: index order = input order
    return keeper[keeper]


def _smallest_connected(u: np.ndarray, v: np.ndarray, count: int) -> np.ndarray:
    """For each of `count` nodes joined by the edges (u, v), the smallest node connected to it.

    Vectorised union-find: each round hooks the larger root of every edge whose ends differ to the
    smallest root it meets, then shortens every path to its root by pointer jumping; roots only ever
    point to smaller roots, so there are no cycles, and rounds end when no edge joins two roots."""
    label = np.arange(count, dtype=np.int64)
    while len(u):
        lu, lv = label[u], label[v]
        apart = lu != lv
        u, v, lu, lv = u[apart], v[apart], lu[apart], lv[apart]
        if not len(u):
            break
        np.minimum.at(label, np.maximum(lu, lv), np.minimum(lu, lv))
        while True:
            jumped = label[label]
            if np.array_equal(jumped, label):
                break
            label = jumped
    return label


def _save_drops(output: Folder, shards: list[str], clusters: np.ndarray, offsets: np.ndarray) -> None:
    """Per shard with removed rows, `drops/SHARD.json`: [row, keeper's number, keeper's id] in row order.
    `clusters` is sorted by removed document, so each shard's rows are one slice of it."""
    keepers = np.unique(clusters[:, 1])
    keeper_ids = _ids_of(shards, offsets, keepers)
    which = np.searchsorted(keepers, clusters[:, 1])
    bounds = np.searchsorted(clusters[:, 0], offsets)
    for shard_index in np.flatnonzero(bounds[1:] > bounds[:-1]).tolist():
        mine = slice(bounds[shard_index], bounds[shard_index + 1])
        rows = (clusters[mine, 0] - offsets[shard_index]).tolist()
        ids = [keeper_ids[i] for i in which[mine].tolist()]
        output.write_bytes(
            f"{DROPS}/{shard_index:05d}.json", json.dumps(list(zip(rows, clusters[mine, 1].tolist(), ids))).encode()
        )


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
    offsets = np.cumsum([0, *sizes], dtype=np.int64)
    clusters = load_array(output.read_bytes(CLUSTERS)).reshape(-1, 2)
    numbers = np.unique(clusters)
    ids = _ids_of(shards, offsets, numbers)
    order = np.argsort(clusters[:, 1], kind="stable")  # by keeper; members stay in input order
    members, keepers = clusters[order, 0], clusters[order, 1]
    starts = np.flatnonzero(np.r_[True, keepers[1:] != keepers[:-1]]) if len(keepers) else np.zeros(0, np.int64)
    member_ids = [ids[i] for i in np.searchsorted(numbers, members).tolist()]
    keeper_ids = [ids[i] for i in np.searchsorted(numbers, keepers[starts]).tolist()]
    bounds = [*starts.tolist(), len(members)]
    return [{"cluster": keeper, "kept": kept, "removed": member_ids[bounds[i] : bounds[i + 1]]}
            for i, (keeper, kept) in enumerate(zip(keepers[starts].tolist(), keeper_ids))]  # fmt: skip


def _ids_of(shards: list[str], offsets: np.ndarray, numbers: np.ndarray) -> list[str]:
    """The ids of the documents `numbers` (dense, sorted, unique), in that order: the id column is read
    only from the shards that hold one of them, once each, and only those rows become Python strings."""
    bounds = np.searchsorted(numbers, offsets)
    ids: list[str] = []
    for index in np.flatnonzero(bounds[1:] > bounds[:-1]).tolist():
        local = numbers[bounds[index] : bounds[index + 1]] - offsets[index]
        column = read_table(shards[index], columns=["id"]).column(0)
        ids += column.take(pa.array(local, type=pa.int64())).to_pylist()
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

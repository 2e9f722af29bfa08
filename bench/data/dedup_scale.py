"""Batch near-duplicate removal at scale: CPU seconds of the phases after signatures, per million documents.

    python bench/data/dedup_scale.py [--docs 200000,1000000,2000000,10000000] [--shard-rows 10000]

For each size, writes phase 1's output directly (no text is MinHashed): per shard, FineWeb's 14 band keys
per document in webcorpus/dedup/batch.py's own format (`save_band_keys`), with --clustered of the documents
(8%) in clusters of random sizes whose members lie in random shards and share each band's key with their
cluster at random (one band always), and Parquet shards of short documents for the filter phase. Then runs
buckets, clusters and filter, each in a fresh process, one core, and prints each phase's CPU seconds (user +
system of that process), CPU seconds per million documents (constant when a phase is linear) and peak
resident memory. Signature speed (MinHash of text) is measured by bench/data/dedup_signatures.py.
"""

from __future__ import annotations

import argparse
import importlib.util
import multiprocessing as mp
import os
import resource
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from webcorpus.dedup import batch as bd
from webcorpus.parquet import SCHEMA
from webcorpus.pipeline.run_folder import Folder


def synthetic_clusters(docs: int, clustered: float, rng: np.random.Generator) -> np.ndarray:
    """Per document, its cluster's number (-1 outside clusters): sizes 2 and up (geometric), members drawn
    from the whole corpus, so a cluster spans shards and its first document may be in any of them."""
    sizes: list[np.ndarray] = []
    total, target = 0, int(docs * clustered)
    while total < target:
        more = rng.geometric(0.4, size=max(1, (target - total) // 2)) + 1
        sizes.append(more)
        total += int(more.sum())
    size = np.concatenate(sizes)
    size = size[np.cumsum(size) <= target] if target else size[:0]
    cluster_of = np.full(docs, -1, dtype=np.int64)
    members = rng.permutation(docs)[: int(size.sum())]
    cluster_of[members] = np.repeat(np.arange(len(size)), size)
    return cluster_of


def mix64(values: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser: distinct uint64 inputs -> well spread keys."""
    x = values.astype(np.uint64)
    with np.errstate(over="ignore"):
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return x ^ (x >> np.uint64(31))


def write_phase_one(
    folder: Path, docs: int, shard_rows: int, clustered: float, bands: int, hash_ranges: int
) -> list[str]:
    """Phase 1's band files and the Parquet shards for `docs` documents; returns the shards' paths."""
    rng = np.random.default_rng(0)
    cluster_of = synthetic_clusters(docs, clustered, rng)
    output = Folder(folder / "out")
    shards: list[str] = []
    band = np.arange(bands, dtype=np.uint64)
    for index, start in enumerate(range(0, docs, shard_rows)):
        rows = np.arange(start, min(start + shard_rows, docs))
        own = mix64((rows.astype(np.uint64)[:, None] * np.uint64(bands) + band) | np.uint64(1 << 63))
        cluster = cluster_of[rows]
        shared = (rng.random((len(rows), bands)) < 0.5) | (band[None, :] == (rows % bands)[:, None].astype(np.uint64))
        shared &= (cluster >= 0)[:, None]
        cluster_key = mix64(cluster.astype(np.uint64)[:, None] * np.uint64(bands) + band)
        keys = np.where(shared, cluster_key, own)
        bd.save_band_keys(output, index, keys, hash_ranges)
        path = folder / "in" / f"{index:05d}.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        ids = [f"doc{i:09d}" for i in rows.tolist()]
        table = pa.table(
            {"id": ids, "url": [f"https://e.org/{i}" for i in ids], "text": [f"text of {i}" for i in ids],
             "date": [None] * len(ids), "language": ["en"] * len(ids), "language_score": [1.0] * len(ids),
             "metadata": ["{}"] * len(ids)},
            schema=SCHEMA,
        )  # fmt: skip
        pq.write_table(table, path, compression="zstd")
        shards.append(str(path))
    return shards


def _measured(queue: Any, phase: Callable[..., Any], args: tuple) -> None:
    start = time.process_time()
    result = phase(*args)
    queue.put((time.process_time() - start, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, result))


def in_fresh_process(phase: Callable[..., Any], *args: Any) -> tuple[float, int, Any]:
    """(CPU seconds, peak resident KiB, result) of `phase(*args)` in a process of its own."""
    context = mp.get_context("fork")
    queue = context.Queue()
    process = context.Process(target=_measured, args=(queue, phase, args))
    process.start()
    outcome = queue.get()
    process.join()
    return outcome


phases_of: ModuleType = bd  # the module whose phases run: --batch-module replaces it


def load_module(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location("batch_under_test", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def phase_buckets(output: Folder, bands: int, hash_ranges: int) -> int:
    return sum(phases_of.buckets_phase(band, part, output) for band in range(bands) for part in range(hash_ranges))


def phase_clusters(output: Folder, shards: list[str], sizes: list[int]) -> int:
    return phases_of.clusters_phase(output, shards, sizes)["removed"]


def phase_filter(output: Folder, shards: list[str]) -> int:
    return sum(phases_of.filter_phase(shard, index, output) for index, shard in enumerate(shards))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", default="200000,1000000,2000000,10000000", help="sizes, comma-separated")
    parser.add_argument("--shard-rows", type=int, default=10_000)
    parser.add_argument("--clustered", type=float, default=0.08, help="share of documents in clusters")
    parser.add_argument("--no-filter", action="store_true", help="buckets and clusters only")
    parser.add_argument("--tmp", type=Path, help="folder for the synthetic files (default: the system's)")
    parser.add_argument(
        "--batch-module", type=Path, help="run the phases of this copy of dedup/batch.py (an older one)"
    )
    args = parser.parse_args()
    if args.batch_module:
        global phases_of
        phases_of = load_module(args.batch_module)
    settings = bd.MinHashDedup()
    print(f"load average at start: {os.getloadavg()[0]:.2f} ({os.cpu_count()} cores)")
    print(f"{'documents':>11} {'phase':<9}{'CPU s':>9}{'CPU s / M docs':>16}{'peak MiB':>10}  result", flush=True)
    for docs in (int(d) for d in args.docs.split(",")):
        folder = Path(tempfile.mkdtemp(dir=args.tmp))
        try:
            start = time.process_time()
            shards = write_phase_one(
                folder, docs, args.shard_rows, args.clustered, settings.bands, settings.hash_ranges
            )
            made = time.process_time() - start
            sizes = [min(args.shard_rows, docs - i) for i in range(0, docs, args.shard_rows)]
            print(f"{docs:>11,} {'(made)':<9}{made:>9.1f}{made / docs * 1e6:>16.2f}{'':>10}  {len(shards)} shards",
                  flush=True)  # fmt: skip
            output = Folder(folder / "out")
            phases: list[tuple[str, Callable[..., Any], tuple, str]] = [
                ("buckets", phase_buckets, (output, settings.bands, settings.hash_ranges), "candidate pairs"),
                ("clusters", phase_clusters, (output, shards, sizes), "to remove"),
            ]
            if not args.no_filter:
                phases.append(("filter", phase_filter, (output, shards), "removed"))
            for name, phase, phase_args, what in phases:
                cpu, peak, result = in_fresh_process(phase, *phase_args)
                per_million = cpu / docs * 1e6
                print(f"{docs:>11,} {name:<9}{cpu:>9.1f}{per_million:>16.2f}{peak / 1024:>10.0f}  {result:,} {what}",
                      flush=True)  # fmt: skip
        finally:
            shutil.rmtree(folder, ignore_errors=True)
    print(f"load average at end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()

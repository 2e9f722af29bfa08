"""What corpus steps' units do to shards alike: small arrays kept under `.work/`, and a shard rewritten
without some of its rows, those rows kept under `removed/` with their reasons (minhash_dedup, url_dedup,
top_fraction)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from webcorpus.parquet import Location, read_table, row_to_document, shard_name
from webcorpus.pipeline import run_folder
from webcorpus.pipeline.exclusion import ExclusionWriter
from webcorpus.pipeline.run_folder import Folder


def save_array(folder: Folder, name: str, array: np.ndarray) -> None:
    buffer = io.BytesIO()
    np.save(buffer, array)
    folder.write_bytes(name, buffer.getvalue())


def load_array(data: bytes) -> np.ndarray:
    """An array `save_array` wrote (never a pickled object: allow_pickle is off)."""
    return np.load(io.BytesIO(data), allow_pickle=False)


def rewrite_shard(
    shard: Location, output: Folder, step: str, drops: dict[int, tuple[str, dict[str, Any]]], keep_removed: bool
) -> int:
    """Write `shard` to OUTPUT/data/ without the rows in `drops` (row -> (reason, metadata added to it)), and
    those rows, in row order, to OUTPUT/removed/STEP/ when `keep_removed`. Returns how many rows are kept."""
    name = shard_name(shard)
    table = read_table(shard)
    keep_mask = np.ones(table.num_rows, dtype=bool)
    keep_mask[list(drops)] = False
    removed = ExclusionWriter(output, run_folder.removed("", step, Path(name).stem))
    if keep_removed:
        for row_index in sorted(drops):
            document = row_to_document(table.slice(row_index, 1).to_pylist()[0])
            reason, metadata = drops[row_index]
            document.metadata.update(metadata)
            removed(document, f"{step}:{reason}")
    with output.writing(f"{run_folder.DATA}/{name}") as tmp:
        pq.write_table(table.filter(pa.array(keep_mask)), tmp, compression="zstd")
    removed.close()
    return int(keep_mask.sum())

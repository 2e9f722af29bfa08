"""What corpus steps' units do to shards alike: small arrays kept under `.work/`, and a shard rewritten
without some of its rows, those rows kept under `removed/` with their reasons (minhash_dedup, url_dedup,
top_fraction, mix), the others possibly written several times (mix) or with metadata added (minhash_dedup's
cluster sizes, mix's part and copy)."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from webcorpus.parquet import COLUMN_METADATA, Location, read_table, row_to_document, shard_name
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


# What a kept row gets added to its metadata: (row in the input shard, copy number) -> keys and values.
Annotate = Callable[[int, int], dict[str, Any]]


def rewrite_shard(
    shard: Location,
    output: Folder,
    step: str,
    drops: dict[int, tuple[str, dict[str, Any]]],
    keep_removed: bool,
    copies: np.ndarray | None = None,
    annotate: Annotate | None = None,
) -> int:
    """Write `shard` to OUTPUT/data/ without the rows in `drops` (row -> (reason, metadata added to it)), and
    those rows, in row order, to OUTPUT/removed/STEP/ when `keep_removed`. `copies` (per row, 0 for a dropped
    row) writes a kept row that many times, one after the other, so the output keeps the input's order;
    `annotate(row, copy)` gives metadata to add to each written row (never a Parquet column's key: those are
    columns). Returns how many rows are written."""
    name = shard_name(shard)
    table = read_table(shard)
    keep_mask = np.ones(table.num_rows, dtype=bool)
    keep_mask[list(drops)] = False
    if copies is None:
        copies = keep_mask.astype(np.int64)
    elif len(copies) != table.num_rows or bool(np.any((copies > 0) != keep_mask)):
        raise ValueError(f"{name}: copies must be 0 for exactly the dropped rows")
    removed = ExclusionWriter(output, run_folder.removed("", step, Path(name).stem))
    if keep_removed:
        for row_index in sorted(drops):
            document = row_to_document(table.slice(row_index, 1).to_pylist()[0])
            reason, metadata = drops[row_index]
            document.metadata.update(metadata)
            removed(document, f"{step}:{reason}")
    rows = np.repeat(np.arange(table.num_rows), copies)
    # A row written at most once: a filter, as before copies existed (the same bytes as then).
    many = bool(len(copies)) and int(copies.max()) > 1
    kept = table.take(pa.array(rows, type=pa.int64())) if many else table.filter(pa.array(keep_mask))
    if annotate is not None:
        kept = _annotated(kept, rows, annotate)
    with output.writing(f"{run_folder.DATA}/{name}") as tmp:
        pq.write_table(kept, tmp, compression="zstd")
    removed.close()
    return int(len(rows))


def _annotated(table: pa.Table, rows: np.ndarray, annotate: Annotate) -> pa.Table:
    """`table` (rows `rows` of a shard, a row's copies one after the other) with each row's metadata JSON
    extended by `annotate(row, copy)`, written as parquet.document_to_row writes it (sorted keys)."""
    texts = table.column("metadata").to_pylist()
    copy = np.zeros(len(rows), dtype=np.int64)
    if len(rows):
        starts = np.r_[True, rows[1:] != rows[:-1]]
        first = np.flatnonzero(starts)[np.cumsum(starts) - 1]
        copy = np.arange(len(rows)) - first
    updated = []
    for text, row, number in zip(texts, rows.tolist(), copy.tolist()):
        metadata = json.loads(text or "{}")
        added = annotate(row, number)
        if any(key in COLUMN_METADATA for key in added):
            raise ValueError(f"annotate cannot set a column's key: {sorted(added)}")
        metadata.update(added)
        updated.append(json.dumps(metadata, ensure_ascii=False, sort_keys=True))
    index = table.schema.get_field_index("metadata")
    return table.set_column(index, table.schema.field(index), pa.array(updated, type=pa.string()))

"""Our Parquet layout: one row per document, fixed columns, the rest of the metadata as JSON."""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from webcorpus import storage
from webcorpus.document import Document
from webcorpus.pipeline.step import NO_LANGUAGE

Location = str | Path  # a local path, or a URL (s3://...)

SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("url", pa.string()),
        ("text", pa.string()),
        ("date", pa.string()),
        ("language", pa.string()),
        ("language_score", pa.float64()),
        # Everything else a stage wrote (warc_file, charset_source, ...) as a JSON object,
        # so shards from different pipelines always share one schema.
        ("metadata", pa.string()),
    ]
)
COLUMN_METADATA = ("date", "language", "language_score")


def document_to_row(document: Document) -> dict[str, Any]:
    rest = {k: v for k, v in document.metadata.items() if k not in COLUMN_METADATA}
    row = {"id": document.id, "url": document.url, "text": document.text}
    for key in COLUMN_METADATA:
        row[key] = document.metadata.get(key)
    row["metadata"] = json.dumps(rest, ensure_ascii=False, sort_keys=True)
    return row


def row_to_document(row: dict[str, Any]) -> Document:
    metadata = json.loads(row.get("metadata") or "{}")
    for key in COLUMN_METADATA:
        if row.get(key) is not None:
            metadata[key] = row[key]
    return Document(id=row["id"], url=row["url"], text=row["text"], metadata=metadata)


def shard_paths(folder: str | Path) -> list[Path]:
    """The .parquet files of a local folder (or the file itself), sorted; names starting with a dot left out,
    and folders too, never entered (as Folder.files does remotely): a corpus step's `.work/`, or a `.venv`
    whose libraries' test data holds Parquet files when `webcorpus stats .` runs in a checkout."""
    folder = Path(folder)
    if folder.is_file():
        return [folder]
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: no such folder")
    found = []
    for root, folders, files in os.walk(folder, followlinks=True):  # as rglob did
        folders[:] = [name for name in folders if not name.startswith(".")]
        found += [Path(root, name) for name in files if name.endswith(".parquet") and not name.startswith(".")]
    return sorted(found)


def shard_locations(source: Location) -> list[str]:
    """`shard_paths` for a local path or a URL: the shards' locations as strings."""
    if not storage.is_remote(source):
        return [str(p) for p in shard_paths(source)]
    from webcorpus.pipeline.run_folder import Folder

    folder = Folder(str(source))
    if folder.is_file(""):
        return [folder.location]
    if not folder.exists(""):
        raise FileNotFoundError(f"{source}: no such folder")
    return [folder.url(name) for name in folder.files("", ".parquet")]


def shard_name(location: Location) -> str:
    return str(location).rstrip("/").rsplit("/", 1)[-1]


def parquet_file(location: Location) -> pq.ParquetFile:
    """A Parquet file to read, local or remote (read in ranges, as Parquet readers do)."""
    if storage.is_remote(location):
        fs, path = storage.filesystem(str(location))
        return pq.ParquetFile(path, filesystem=fs)
    return pq.ParquetFile(location)


def read_table(location: Location, columns: list[str] | None = None) -> pa.Table:
    if storage.is_remote(location):
        fs, path = storage.filesystem(str(location))
        return pq.read_table(path, columns=columns, filesystem=fs)
    return pq.read_table(location, columns=columns)


def input_shards(sources: Sequence[Location]) -> list[str]:
    """The shards of one or more folders (or files), local or remote, in file-name order. Names must be
    unique: outputs are named after their input shard, so two inputs of one name would overwrite each
    other (runs made with `--shard I/N` always have unique names)."""
    found: dict[str, str] = {}
    for source in sources:
        for location in shard_locations(source):
            name = shard_name(location)
            if name in found:
                raise ValueError(
                    f"two input shards are named {name}: {found[name]} and {location}; their outputs would "
                    "overwrite each other, so nothing was run (run the slices with --shard I/N, or rename one)"
                )
            found[name] = location
    if not found:
        raise FileNotFoundError(f"{', '.join(map(str, sources))}: no .parquet shards found")
    return [found[name] for name in sorted(found)]


def read_texts(sources: Sequence[Location]) -> Iterator[tuple[str, str]]:
    """(id, text) of every document, shard by shard in name order, streamed in batches."""
    for location in input_shards(sources):
        for batch in parquet_file(location).iter_batches(batch_size=1024, columns=["id", "text"]):
            yield from zip(batch.column("id").to_pylist(), batch.column("text").to_pylist())


def shard_languages(location: Location) -> Counter[str]:
    """Documents per `language` (NO_LANGUAGE for none) in one shard, from that column alone."""
    counts: Counter[str] = Counter()
    for entry in pc.value_counts(read_table(location, columns=["language"]).column(0)).to_pylist():
        counts[entry["values"] or NO_LANGUAGE] += entry["counts"]
    return counts


def read_documents(folder: Location, columns: list[str] | None = None) -> Iterator[Document]:
    for location in shard_locations(folder):
        parquet = parquet_file(location)
        for batch in parquet.iter_batches(batch_size=1024, columns=columns):
            for row in batch.to_pylist():
                yield row_to_document(row)

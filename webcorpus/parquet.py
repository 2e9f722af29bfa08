"""Our Parquet layout: one row per document, fixed columns, the rest of the metadata as JSON."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from webcorpus.document import Document
from webcorpus.pipeline.step import NO_LANGUAGE

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
    folder = Path(folder)
    if folder.is_file():
        return [folder]
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: no such folder")
    return sorted(p for p in folder.rglob("*.parquet") if not p.name.startswith("."))


def input_shards(sources: Sequence[str | Path]) -> list[Path]:
    """The shards of one or more folders (or files), in file-name order. Names must be unique: outputs are
    named after their input shard, so two inputs of one name would overwrite each other (runs made with
    `--shard I/N` always have unique names)."""
    found: dict[str, Path] = {}
    for source in sources:
        for path in shard_paths(source):
            if path.name in found:
                raise ValueError(
                    f"two input shards are named {path.name}: {found[path.name]} and {path}; their outputs would "
                    "overwrite each other, so nothing was run (run the slices with --shard I/N, or rename one)"
                )
            found[path.name] = path
    if not found:
        raise FileNotFoundError(f"{', '.join(map(str, sources))}: no .parquet shards found")
    return [found[name] for name in sorted(found)]


def read_texts(sources: Sequence[str | Path]) -> Iterator[tuple[str, str]]:
    """(id, text) of every document, shard by shard in name order, streamed in batches."""
    for path in input_shards(sources):
        for batch in pq.ParquetFile(path).iter_batches(batch_size=1024, columns=["id", "text"]):
            yield from zip(batch.column("id").to_pylist(), batch.column("text").to_pylist())


def language_counts(sources: Sequence[str | Path]) -> Counter[str]:
    """Documents per `language` (NO_LANGUAGE for none) over every shard of `sources`, from that column alone."""
    counts: Counter[str] = Counter()
    for path in input_shards(sources):
        column = pq.read_table(path, columns=["language"]).column(0)
        for entry in pc.value_counts(column).to_pylist():
            counts[entry["values"] or NO_LANGUAGE] += entry["counts"]
    return counts


def read_documents(folder: str | Path, columns: list[str] | None = None) -> Iterator[Document]:
    for path in shard_paths(folder):
        parquet = pq.ParquetFile(path)
        for batch in parquet.iter_batches(batch_size=1024, columns=columns):
            for row in batch.to_pylist():
                yield row_to_document(row)

"""Our Parquet layout: one row per document, fixed columns (FineWeb's, and ours), the rest of the metadata
as JSON. docs/parquet.md says what each column holds and why `metadata` is JSON and not a struct."""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterator, Sequence
from datetime import datetime, timezone
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
        # WARC-Date as a UTC instant, so that duckdb, polars and HF datasets compare and bucket it as a time.
        ("date", pa.timestamp("us", tz="UTC")),
        ("dump", pa.string()),  # the crawl, e.g. CC-MAIN-2024-10 (FineWeb's column)
        ("file_path", pa.string()),  # the WARC file, from `crawl-data/` on (FineWeb's column; metadata warc_file)
        ("language", pa.string()),
        ("language_score", pa.float64()),
        ("token_count", pa.int64()),  # write_parquet's `tokenizer` counts them; null without one
        # Everything else a stage wrote (charset_source, scores, drop details, ...) as a JSON object,
        # so shards from different pipelines always share one schema (docs/parquet.md).
        ("metadata", pa.string()),
    ]
)
# Parquet column -> the document metadata key it holds. A document keeps its key names whatever the column is
# called (`warc_file` is older than FineWeb's `file_path`), so every step reads metadata as before.
COLUMN_KEYS = {
    "date": "date",
    "dump": "dump",
    "file_path": "warc_file",
    "language": "language",
    "language_score": "language_score",
}
COLUMN_METADATA = tuple(COLUMN_KEYS.values())  # metadata keys that are columns, not in the JSON
KEY_COLUMNS = {key: column for column, key in COLUMN_KEYS.items()}
NEWER_STRING_COLUMNS = ("dump", "file_path")  # were JSON keys of any type before they were columns
TOKEN_COUNT = "token_count"  # a column of the text as written, never a document key: a later step may change the text


def parse_date(value: Any) -> datetime | None:
    """An ISO 8601 date as a UTC instant (one without a zone read as UTC, as WARC-Date is always UTC); None
    for anything else."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
        return parsed.replace(tzinfo=timezone.utc) if parsed.tzinfo is None else parsed.astimezone(timezone.utc)
    except (ValueError, OverflowError):  # not ISO 8601; or an offset that moves it out of years 1-9999
        return None


def date_text(value: Any) -> str | None:
    """A `date` cell as the string documents carry: a timestamp as WARC-Date writes it
    (2024-05-01T12:00:00Z, microseconds only where there are some); a string (an older shard's) as it is."""
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(timezone.utc).replace(tzinfo=None)
        return value.isoformat() + "Z"
    return value


def document_to_row(document: Document) -> dict[str, Any]:
    """A document as a row of SCHEMA (but `token_count`, which the writer fills). A date the timestamp does not
    give back to the letter (2022-06-01, an offset, or no date at all) is also kept, as written, in the JSON,
    so that `row_to_document` returns exactly the document written."""
    rest = {k: v for k, v in document.metadata.items() if k not in COLUMN_METADATA}
    row: dict[str, Any] = {"id": document.id, "url": document.url, "text": document.text}
    for column, key in COLUMN_KEYS.items():
        row[column] = document.metadata.get(key)
    for column in NEWER_STRING_COLUMNS:  # keys any step could always set to anything: a non-string stays JSON
        if row[column] is not None and not isinstance(row[column], str):
            rest[COLUMN_KEYS[column]], row[column] = row[column], None
    date = document.metadata.get("date")
    row["date"] = parse_date(date)
    if date is not None and date_text(row["date"]) != date:
        rest["date"] = date
    row["metadata"] = json.dumps(rest, ensure_ascii=False, sort_keys=True)
    return row


def row_metadata(row: dict[str, Any]) -> dict[str, Any]:
    """A row's document metadata: the JSON, and the columns that hold metadata keys (a shard of any version:
    older ones have fewer columns and a string `date`)."""
    metadata = json.loads(row.get("metadata") or "{}")
    for column, key in COLUMN_KEYS.items():
        value = row.get(column)
        if value is None or key in metadata:  # in the JSON: a date spelt otherwise than the timestamp gives
            continue
        metadata[key] = date_text(value) if column == "date" else value
    return metadata


def row_to_document(row: dict[str, Any]) -> Document:
    return Document(id=row["id"], url=row["url"], text=row["text"], metadata=row_metadata(row))


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

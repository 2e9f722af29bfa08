"""write-parquet: documents into zstd Parquet shards that appear only when complete."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Literal

import pyarrow as pa
import pyarrow.parquet as pq

from webcorpus.atomic import tmp_path
from webcorpus.document import Document
from webcorpus.parquet import SCHEMA, document_to_row
from webcorpus.pipeline.step import Writer

ROW_GROUP_ROWS = 2048


class ParquetWriter(Writer):
    """zstd Parquet shards of at most `rows_per_shard` rows or `bytes_per_shard` bytes of text, each
    appearing atomically. Columns: `id`, `url`, `text`, `date`, `language`, `language_score`, and
    `metadata`, a JSON object with the rest. In a pipeline run, `RUN_DIR/data/NNNNN_SSSSS.parquet`."""

    name = "write_parquet"
    summary = "Write documents to sharded Parquet files (zstd); each shard appears atomically."
    option_minimum = {"rows_per_shard": 1, "bytes_per_shard": 1}
    option_help = {
        "rows_per_shard": "Start a new shard after this many documents.",
        "bytes_per_shard": "Start a new shard once this many bytes of text are written.",
        "compression": "Parquet compression codec.",
    }

    def __init__(
        self,
        rows_per_shard: int = 100_000,
        bytes_per_shard: int = 1_000_000_000,
        compression: Literal["zstd", "snappy", "gzip", "brotli", "lz4", "none"] = "zstd",
    ) -> None:
        super().__init__()
        if rows_per_shard < 1 or bytes_per_shard < 1:
            raise ValueError("rows_per_shard and bytes_per_shard must be positive")
        self.rows_per_shard = rows_per_shard
        self.bytes_per_shard = bytes_per_shard
        self.compression = compression
        self.output_dir: Path | None = None
        self.shards: list[Path] = []

    def open(self, folder: Path, prefix: str) -> None:
        """Write the next shards as FOLDER/PREFIX_00000.parquet, PREFIX_00001.parquet, ..."""
        self.output_dir, self.prefix = Path(folder), prefix
        self.shards: list[Path] = []

    @property
    def written(self) -> list[Path]:
        return self.shards

    def run(self, documents: Iterable[Document]) -> Iterator[Document]:
        """Write every document into the folder given to `open`, passing each one on."""
        if self.output_dir is None:
            raise RuntimeError("write_parquet: open(folder, prefix) first")
        self.output_dir.mkdir(parents=True, exist_ok=True)
        shard = _Shard(self._next_path(), self.compression)
        try:
            for document in documents:
                self.stats.documents_in += 1
                if shard.rows >= self.rows_per_shard or shard.text_bytes >= self.bytes_per_shard:
                    self.shards.append(shard.close())
                    shard = _Shard(self._next_path(), self.compression)
                shard.add(document)
                self.stats.kept += 1
                yield document
            if shard.rows:
                self.shards.append(shard.close())
        finally:
            shard.abandon()

    def write(self, documents: Iterable[Document], folder: str | Path, prefix: str = "part") -> list[Path]:
        """Write all of `documents` as FOLDER/PREFIX_NNNNN.parquet; returns the shards."""
        self.open(Path(folder), prefix)
        for _ in self.run(documents):
            pass
        return self.shards

    def _next_path(self) -> Path:
        assert self.output_dir is not None
        return self.output_dir / f"{self.prefix}_{len(self.shards):05d}.parquet"


class _Shard:
    """One shard being written to its temporary name; `close` renames it into place."""

    def __init__(self, path: Path, compression: str) -> None:

        self.path = path
        self.tmp = tmp_path(path)
        self.compression = compression
        self.writer: pq.ParquetWriter | None = None
        self.pending: list[dict] = []
        self.rows = 0
        self.text_bytes = 0

    def add(self, document: Document) -> None:
        self.pending.append(document_to_row(document))
        self.rows += 1
        self.text_bytes += len(document.text.encode("utf-8"))
        if len(self.pending) >= ROW_GROUP_ROWS:
            self._flush()

    def _flush(self) -> None:
        if self.writer is None:
            self.writer = pq.ParquetWriter(self.tmp, SCHEMA, compression=self.compression)
        self.writer.write_table(pa.Table.from_pylist(self.pending, schema=SCHEMA))
        self.pending = []

    def close(self) -> Path:
        self._flush()
        assert self.writer is not None
        self.writer.close()
        self.writer: pq.ParquetWriter | None = None
        os.replace(self.tmp, self.path)
        return self.path

    def abandon(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer: pq.ParquetWriter | None = None
        self.tmp.unlink(missing_ok=True)

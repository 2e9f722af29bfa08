"""write-parquet: documents into zstd Parquet shards that appear only when complete."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, Literal

import pyarrow as pa
import pyarrow.parquet as pq

from webcorpus.document import Document
from webcorpus.parquet import SCHEMA, TOKEN_COUNT, document_to_row
from webcorpus.pipeline.run_folder import Folder
from webcorpus.pipeline.step import Writer

ROW_GROUP_ROWS = 2048


class ParquetWriter(Writer):
    """zstd Parquet shards of at most `rows_per_shard` rows or `bytes_per_shard` bytes of text, each
    appearing atomically. Columns: `id`, `url`, `text`, `date` (a UTC timestamp), `dump`, `file_path`,
    `language`, `language_score`, `token_count` (with `tokenizer`; null without), and `metadata`, a JSON object
    with the rest (docs/parquet.md). In a pipeline run, `RUN_DIR/data/NNNNN_SSSSS.parquet`."""

    name = "write_parquet"
    summary = "Write documents to sharded Parquet files (zstd); each shard appears atomically."
    option_minimum = {"rows_per_shard": 1, "bytes_per_shard": 1}
    option_help = {
        "rows_per_shard": "Start a new shard after this many documents.",
        "bytes_per_shard": "Start a new shard once this many bytes of text are written.",
        "compression": "Parquet compression codec.",
        "tokenizer": "A tokenizer.json (HF tokenizers) whose token count of each text fills the token_count "
        "column (special tokens not added; GPT-2's is the vocabulary FineWeb counted with). Unset: null.",
    }

    def __init__(
        self,
        rows_per_shard: int = 100_000,
        bytes_per_shard: int = 1_000_000_000,
        compression: Literal["zstd", "snappy", "gzip", "brotli", "lz4", "none"] = "zstd",
        tokenizer: str | None = None,
    ) -> None:
        super().__init__()
        if rows_per_shard < 1 or bytes_per_shard < 1:
            raise ValueError("rows_per_shard and bytes_per_shard must be positive")
        self.rows_per_shard = rows_per_shard
        self.bytes_per_shard = bytes_per_shard
        self.compression = compression
        self.tokenizer = tokenizer
        self._loaded: Any = None
        self.output_dir: Folder | None = None
        self.shards: list[str] = []

    def open(self, folder: Folder | Path | str, prefix: str) -> None:
        """Write the next shards as FOLDER/PREFIX_00000.parquet, PREFIX_00001.parquet, ... (a local folder or
        one on object storage)."""
        self.output_dir, self.prefix = folder if isinstance(folder, Folder) else Folder(folder), prefix
        self.shards: list[str] = []

    @property
    def written(self) -> list[str]:
        """The names of the shards written since `open`."""
        return self.shards

    def run(self, documents: Iterable[Document]) -> Iterator[Document]:
        """Write every document into the folder given to `open`, passing each one on."""
        if self.output_dir is None:
            raise RuntimeError("write_parquet: open(folder, prefix) first")
        self.output_dir.make()
        shard = _Shard(self.output_dir, self._next_name(), self.compression, self._counter())
        try:
            for document in documents:
                self.stats.documents_in += 1
                if shard.rows >= self.rows_per_shard or shard.text_bytes >= self.bytes_per_shard:
                    self.shards.append(shard.close())
                    shard = _Shard(self.output_dir, self._next_name(), self.compression, self._counter())
                shard.add(document)
                self.stats.kept += 1
                yield document
            if shard.rows:
                self.shards.append(shard.close())
        finally:
            shard.abandon()

    def write(self, documents: Iterable[Document], folder: Folder | str | Path, prefix: str = "part") -> list[str]:
        """Write all of `documents` as FOLDER/PREFIX_NNNNN.parquet; returns where the shards are (paths, or
        URLs for a folder on object storage)."""
        self.open(folder, prefix)
        for _ in self.run(documents):
            pass
        assert self.output_dir is not None
        return [self.output_dir.url(name) for name in self.shards]

    def _counter(self) -> Any:
        """The loaded `tokenizer` (None without one); loaded in the process that writes, once, as the writer
        itself travels to workers by pickling."""
        if self.tokenizer is None:
            return None
        if self._loaded is None:
            self._loaded = load_counter(self.tokenizer)
        return self._loaded

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_loaded": None}

    def _next_name(self) -> str:
        return f"{self.prefix}_{len(self.shards):05d}.parquet"


class _Shard:
    """One shard being written to a temporary file; `close` makes it appear whole under its name."""

    def __init__(self, folder: Folder, name: str, compression: str, counter: Any = None) -> None:
        self.name = name
        self.counter = counter
        self.destination: AbstractContextManager[Path] = folder.writing(name)
        self.tmp: Path | None = None
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
            self.tmp = self.destination.__enter__()
            self.writer = pq.ParquetWriter(self.tmp, SCHEMA, compression=self.compression)
        if self.counter is not None:
            encoded = self.counter.encode_batch([row["text"] for row in self.pending], add_special_tokens=False)
            for row, tokens in zip(self.pending, encoded):
                row[TOKEN_COUNT] = len(tokens.ids)
        self.writer.write_table(pa.Table.from_pylist(self.pending, schema=SCHEMA))
        self.pending = []

    def close(self) -> str:
        self._flush()
        assert self.writer is not None
        self.writer.close()
        self.writer: pq.ParquetWriter | None = None
        self.destination.__exit__(None, None, None)
        self.tmp = None
        return self.name

    def abandon(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer: pq.ParquetWriter | None = None
        if self.tmp is not None:  # begun and not closed: nothing appears
            self.destination.__exit__(RuntimeError, RuntimeError("abandoned"), None)
            self.tmp = None


def load_counter(path: str) -> Any:
    """A tokenizer.json (local or remote) to count tokens with; read from where it is, nothing downloaded."""
    from tokenizers import Tokenizer

    try:
        return Tokenizer.from_str(Folder(path).read_bytes("").decode("utf-8"))
    except Exception as error:  # tokenizers raises a bare Exception on a bad file
        raise ValueError(f"write_parquet: {path}: not a readable tokenizer.json ({error})") from None

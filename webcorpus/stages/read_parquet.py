"""read-parquet: documents back from Parquet shards that write_parquet (or a corpus step) wrote."""

from __future__ import annotations

import glob
from collections.abc import Iterable, Iterator
from pathlib import Path

from webcorpus.document import Document
from webcorpus.parquet import parquet_file, row_to_document, shard_paths
from webcorpus.pipeline.step import Reader
from webcorpus.stages.read_warc import InputError

BATCH_ROWS = 1024


class ParquetReader(Reader):
    """Documents back from webcorpus Parquet shards, in shard-name order. The runner uses it on its own to
    feed per-document steps that come after a corpus step; a shard that cannot be read is reported by path."""

    name = "read_parquet"
    summary = "Read documents from webcorpus Parquet shards (files, folders or globs), in shard-name order."
    option_help = {}

    def expand(self, patterns: Iterable[str]) -> list[Path | str]:
        files: list[Path] = []
        for pattern in patterns:
            matches = sorted(glob.glob(pattern)) if glob.has_magic(pattern) else [pattern]
            if not matches:
                raise InputError(f"{pattern}: no file matches")
            for match in matches:
                try:
                    found = shard_paths(match)
                except FileNotFoundError as error:
                    raise InputError(str(error)) from None
                if not found:
                    raise InputError(f"{match}: folder holds no .parquet file")
                files.extend(found)
        return files

    def read(self, path: Path | str) -> Iterator[Document]:
        """Every row of one shard (a local path or a URL); a shard that cannot be read is named and counted,
        and the run goes on."""
        try:
            batches = parquet_file(path).iter_batches(batch_size=BATCH_ROWS)
            for batch in batches:
                for row in batch.to_pylist():
                    self.stats.documents_in += 1
                    self.stats.kept += 1
                    yield row_to_document(row)
        except (OSError, ValueError, KeyError) as error:  # pyarrow's errors derive from OSError/ValueError
            self.stats.bad_file(f"{path}: {type(error).__name__}: {error}")

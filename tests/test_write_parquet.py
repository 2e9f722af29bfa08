from pathlib import Path

import pyarrow.parquet as pq
import pytest

from webcorpus.document import Document
from webcorpus.parquet import read_documents
from webcorpus.stages.write_parquet import ParquetWriter


def docs(n, text="some text"):
    return [
        Document(
            f"id{i}",
            f"https://e.org/{i}",
            f"{text} {i}",
            {"date": "2024", "language": "en", "language_score": 0.9, "warc_file": "f"},
        )
        for i in range(n)
    ]


def test_rows_per_shard_and_round_trip(tmp_path):
    shards = ParquetWriter(rows_per_shard=4).write(docs(10), tmp_path, prefix="t")
    assert [Path(p).name for p in shards] == ["t_00000.parquet", "t_00001.parquet", "t_00002.parquet"]
    assert [pq.ParquetFile(p).metadata.num_rows for p in shards] == [4, 4, 2]
    back = list(read_documents(tmp_path))
    assert back == docs(10)
    table = pq.read_table(shards[0])
    assert table.column_names == [
        "id", "url", "text", "date", "dump", "file_path", "language", "language_score", "token_count", "metadata"
    ]  # fmt: skip
    assert pq.ParquetFile(shards[0]).metadata.row_group(0).column(0).compression == "ZSTD"
    assert not list(tmp_path.glob(".*"))  # no temporary files left


def test_bytes_per_shard(tmp_path):
    shards = ParquetWriter(bytes_per_shard=100).write(docs(10, "x" * 60), tmp_path)
    assert len(shards) == 5


def test_a_failure_mid_shard_leaves_no_partial_file(tmp_path):
    def failing():
        yield from docs(3)
        raise RuntimeError("upstream broke")

    with pytest.raises(RuntimeError):
        ParquetWriter(rows_per_shard=2).write(failing(), tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == ["part_00000.parquet"]  # the complete shard only


def test_same_documents_give_identical_bytes(tmp_path):
    a = ParquetWriter().write(docs(50), tmp_path / "a")
    b = ParquetWriter().write(docs(50), tmp_path / "b")
    assert Path(a[0]).read_bytes() == Path(b[0]).read_bytes()

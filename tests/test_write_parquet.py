import pyarrow.parquet as pq
import pytest

from webcorpus.document import Document
from webcorpus.parquet import read_documents
from webcorpus.stages.write_parquet import ParquetShardWriter


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
    writer = ParquetShardWriter(str(tmp_path), rows_per_shard=4, prefix="t")
    shards = writer.write(docs(10))
    assert [p.name for p in shards] == ["t_00000.parquet", "t_00001.parquet", "t_00002.parquet"]
    assert [pq.ParquetFile(p).metadata.num_rows for p in shards] == [4, 4, 2]
    back = list(read_documents(tmp_path))
    assert back == docs(10)
    table = pq.read_table(shards[0])
    assert table.column_names == ["id", "url", "text", "date", "language", "language_score", "metadata"]
    assert pq.ParquetFile(shards[0]).metadata.row_group(0).column(0).compression == "ZSTD"
    assert not list(tmp_path.glob(".*"))  # no temporary files left


def test_bytes_per_shard(tmp_path):
    shards = ParquetShardWriter(str(tmp_path), bytes_per_shard=100).write(docs(10, "x" * 60))
    assert len(shards) == 5


def test_a_failure_mid_shard_leaves_no_partial_file(tmp_path):
    def failing():
        yield from docs(3)
        raise RuntimeError("upstream broke")

    writer = ParquetShardWriter(str(tmp_path), rows_per_shard=2)
    with pytest.raises(RuntimeError):
        writer.write(failing())
    assert [p.name for p in tmp_path.iterdir()] == ["part_00000.parquet"]  # the complete shard only


def test_same_documents_give_identical_bytes(tmp_path):
    a = ParquetShardWriter(str(tmp_path / "a")).write(docs(50))
    b = ParquetShardWriter(str(tmp_path / "b")).write(docs(50))
    assert a[0].read_bytes() == b[0].read_bytes()

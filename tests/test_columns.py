"""The Parquet columns FineWeb users expect (dump, file_path, token_count, date as a timestamp) and shards of the
layout before them still read (docs/parquet.md)."""

from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import run_corpus_step

from webcorpus.dedup.lines import write_shard
from webcorpus.dedup.urls import UrlDedup
from webcorpus.document import Document
from webcorpus.parquet import SCHEMA, date_text, read_documents, row_to_document
from webcorpus.pipeline.run_folder import Folder
from webcorpus.stages.mix import Mix
from webcorpus.stages.read_warc import WarcReader
from webcorpus.stages.top_fraction import TopFraction
from webcorpus.stages.write_parquet import ParquetWriter
from webcorpus.testing.sample_warc import sample_pages, write_warc

UTC = timezone.utc


def test_the_columns_and_their_types(tmp_path):
    shard = ParquetWriter().write([Document("a", "https://e.org/", "text", {"date": "2024-05-01T12:00:00Z"})], tmp_path)
    schema = pq.read_schema(shard[0])
    assert schema.names == [
        "id", "url", "text", "date", "dump", "file_path", "language", "language_score", "token_count", "metadata"
    ]  # fmt: skip
    assert schema.field("date").type == pa.timestamp("us", tz="UTC")
    assert schema.field("token_count").type == pa.int64()
    assert schema.field("dump").type == schema.field("file_path").type == schema.field("metadata").type == pa.string()
    assert pq.read_schema(shard[0]).remove_metadata() == SCHEMA


def warc_documents(path: Path) -> list[Document]:
    return list(WarcReader().read(path))


def test_dump_file_path_and_date_from_a_commoncrawl_warc(tmp_path):
    crawl = tmp_path / "mirror/crawl-data/CC-MAIN-2024-10/segments/1/warc/one.warc.gz"
    crawl.parent.mkdir(parents=True)
    write_warc(crawl, sample_pages()[0], crawl="CC-MAIN-2024-10")
    shards = ParquetWriter().write(warc_documents(crawl), tmp_path / "out")
    table = pq.read_table(shards[0])
    assert table.num_rows > 0
    assert set(table.column("dump").to_pylist()) == {"CC-MAIN-2024-10"}
    # From crawl-data/ on, wherever the mirror is (the same bytes from a disk, S3 or HTTPS).
    assert set(table.column("file_path").to_pylist()) == {"crawl-data/CC-MAIN-2024-10/segments/1/warc/one.warc.gz"}
    assert set(table.column("date").to_pylist()) == {datetime(2024, 5, 1, 12, tzinfo=UTC)}
    assert table.column("token_count").null_count == table.num_rows  # no tokenizer given
    back = list(read_documents(tmp_path / "out"))
    assert back == warc_documents(crawl)  # documents keep their keys: warc_file, dump, date as WARC-Date wrote it
    assert back[0].metadata["date"] == "2024-05-01T12:00:00Z"
    assert back[0].metadata["warc_file"] == "crawl-data/CC-MAIN-2024-10/segments/1/warc/one.warc.gz"
    assert '"warc_file"' not in table.column("metadata")[0].as_py()  # a column now, not in the JSON too


def test_the_warcinfo_names_the_crawl_before_the_path_and_no_crawl_is_null(tmp_path):
    named = tmp_path / "crawl-data/CC-MAIN-2023-50/one.warc.gz"
    named.parent.mkdir(parents=True)
    write_warc(named, sample_pages()[0], crawl="CC-MAIN-2024-10")
    assert {d.metadata["dump"] for d in warc_documents(named)} == {"CC-MAIN-2024-10"}
    by_path = tmp_path / "crawl-data/CC-MAIN-2023-50/two.warc.gz"
    write_warc(by_path, sample_pages()[0])  # a warcinfo without isPartOf
    assert {d.metadata["dump"] for d in warc_documents(by_path)} == {"CC-MAIN-2023-50"}
    plain = tmp_path / "plain.warc.gz"
    write_warc(plain, sample_pages()[0])
    documents = warc_documents(plain)
    assert documents and all("dump" not in d.metadata for d in documents)
    shards = ParquetWriter().write(documents, tmp_path / "out")
    assert pq.read_table(shards[0]).column("dump").null_count == len(documents)
    assert set(pq.read_table(shards[0]).column("file_path").to_pylist()) == {"plain.warc.gz"}


DATES = [
    ("2024-05-01T12:00:00Z", datetime(2024, 5, 1, 12, tzinfo=UTC)),
    ("2024-05-01T12:00:00.250000Z", datetime(2024, 5, 1, 12, 0, 0, 250000, tzinfo=UTC)),
    ("2024-05-01T14:00:00+02:00", datetime(2024, 5, 1, 12, tzinfo=UTC)),  # kept as spelt, in the JSON too
    ("2022-06-01", datetime(2022, 6, 1, tzinfo=UTC)),
    ("0001-01-01T00:00:00+01:00", None),  # before year 1 in UTC: not a timestamp, kept as a string
    ("yesterday", None),
    (20240501, None),
    (None, None),
]


def test_date_is_a_utc_timestamp_and_every_document_round_trips_exactly(tmp_path):
    documents = [
        Document(str(i), "https://e.org/", "t", {} if date is None else {"date": date, "nested": {"a": [1, 2.5, None]}})
        for i, (date, _) in enumerate(DATES)
    ]
    shards = ParquetWriter().write(documents, tmp_path)
    assert pq.read_table(shards[0]).column("date").to_pylist() == [instant for _, instant in DATES]
    assert list(read_documents(tmp_path)) == documents
    assert date_text(datetime(2024, 5, 1, 12, tzinfo=UTC)) == "2024-05-01T12:00:00Z"
    assert date_text("2024-05-01T12:00:00Z") == "2024-05-01T12:00:00Z"  # an older shard's string, as it is


OLD_SCHEMA = pa.schema(
    [("id", pa.string()), ("url", pa.string()), ("text", pa.string()), ("date", pa.string()),
     ("language", pa.string()), ("language_score", pa.float64()), ("metadata", pa.string())]
)  # fmt: skip


def test_a_dump_or_warc_file_that_is_no_string_stays_in_the_json(tmp_path):
    documents = [Document("a", "u", "t", {"dump": 7, "warc_file": ["x", 1]}), Document("b", "u", "t", {"dump": "d"})]
    shards = ParquetWriter().write(documents, tmp_path)
    assert pq.read_table(shards[0]).column("dump").to_pylist() == [None, "d"]
    assert list(read_documents(tmp_path)) == documents


def test_a_shard_of_the_older_layout_still_reads(tmp_path):
    row = {"id": "a", "url": "https://e.org/", "text": "t", "date": "2024-05-01T12:00:00Z", "language": "en",
           "language_score": 0.5, "metadata": '{"score": 1, "warc_file": "f.warc.gz"}'}  # fmt: skip
    pq.write_table(pa.Table.from_pylist([row], schema=OLD_SCHEMA), tmp_path / "old.parquet")
    expected = {"date": "2024-05-01T12:00:00Z", "language": "en", "language_score": 0.5, "score": 1}
    assert list(read_documents(tmp_path)) == [
        Document("a", "https://e.org/", "t", {**expected, "warc_file": "f.warc.gz"})
    ]
    # Written again, it takes the new layout and gives back the same document.
    ParquetWriter().write(read_documents(tmp_path), tmp_path / "new")
    table = pq.read_table(tmp_path / "new")
    assert table.column("file_path").to_pylist() == ["f.warc.gz"]
    assert row_to_document(table.to_pylist()[0]) == next(read_documents(tmp_path / "old.parquet"))


def word_tokenizer(path: Path) -> str:
    from tokenizers import Tokenizer, models, pre_tokenizers

    tokenizer = Tokenizer(models.WordLevel({"[UNK]": 0, "<|endoftext|>": 1}, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tokenizer.save(str(path))
    return str(path)


def test_token_count_is_counted_by_the_tokenizer_given_and_null_once_line_dedup_changes_the_text(tmp_path):
    texts = ["one two three", "four five", "six\nseven eight"]
    documents = [Document(str(i), "u", text) for i, text in enumerate(texts)]
    writer = ParquetWriter(tokenizer=word_tokenizer(tmp_path / "tokenizer.json"))
    shards = writer.write(documents, tmp_path / "out")
    table = pq.read_table(shards[0])
    assert table.column("token_count").to_pylist() == [3, 2, 3]
    assert list(read_documents(tmp_path / "out")) == documents  # a column of the text, never a document key
    # line_dedup removing a line: that row's count is no longer its text's
    keep = np.ones(3, dtype=bool)
    write_shard(shards[0], Folder(tmp_path / "dedup"), table, [*texts[:2], "eight"], [None] * 3, keep, {}, False)
    assert pq.read_table(tmp_path / "dedup/data" / Path(shards[0]).name).column("token_count").to_pylist() == [
        3,
        2,
        None,
    ]


def test_a_tokenizer_that_cannot_be_read_is_named(tmp_path):
    (tmp_path / "bad.json").write_text("{}")
    with pytest.raises(ValueError, match="bad.json"):
        ParquetWriter(tokenizer=str(tmp_path / "bad.json")).write([Document("a", "u", "t")], tmp_path / "out")


@pytest.fixture
def corpus(tmp_path) -> str:
    documents = [
        Document("a", "https://e.org/a", "x", {"date": "2024-05-01T12:00:00Z", "dump": "CC-MAIN-2024-18",
                                               "warc_file": "f.warc.gz", "fasttext_hq": 0.75})
    ]  # fmt: skip
    ParquetWriter().write(documents, tmp_path / "corpus")
    return str(tmp_path / "corpus" / "*.parquet")


def test_duckdb_queries_the_columns(corpus):
    duckdb = pytest.importorskip("duckdb")
    query = f"""select dump, file_path, year(date), metadata->>'fasttext_hq',
                json_extract(metadata, '$.fasttext_hq')::double from read_parquet('{corpus}')"""
    assert duckdb.sql(query).fetchall() == [("CC-MAIN-2024-18", "f.warc.gz", 2024, "0.75", 0.75)]


def test_polars_queries_the_columns(corpus):
    pl = pytest.importorskip("polars")
    frame = pl.read_parquet(corpus)
    assert frame.schema["date"] == pl.Datetime("us", "UTC")
    decoded = frame["metadata"].str.json_decode().struct.unnest()
    assert decoded["fasttext_hq"].to_list() == [0.75]
    picked = frame.select(pl.col("metadata").str.json_path_match("$.fasttext_hq").cast(pl.Float64))
    assert picked.to_series().to_list() == [0.75]


def test_corpus_steps_read_both_layouts(tmp_path):
    """url_dedup's newest date, mix's input glob and column, top_fraction's score: over an older shard and a
    new one in one folder (a corpus of both layouts)."""
    old_json = '{"score": 0.25, "warc_file": "crawl-data/CC-MAIN-2024-18/o.warc.gz"}'
    old = {"id": "old", "url": "https://e.org/a", "text": "older", "date": "2024-05-01T12:00:00Z",
           "language": "en", "language_score": 0.5, "metadata": old_json}  # fmt: skip
    (tmp_path / "in").mkdir()
    pq.write_table(pa.Table.from_pylist([old], schema=OLD_SCHEMA), tmp_path / "in/a.parquet")
    metadata = {"date": "2024-06-01T12:00:00Z", "language": "en", "warc_file": "crawl-data/CC-MAIN-2024-22/n.warc.gz",
                "dump": "CC-MAIN-2024-22", "score": 0.75}  # fmt: skip
    new = Document("new", "https://e.org/a", "newer", metadata)
    ParquetWriter().write([new], tmp_path / "in", prefix="b")
    run_corpus_step(UrlDedup(keep="newest"), tmp_path / "in", tmp_path / "dedup")
    assert [d.id for d in read_documents(tmp_path / "dedup/data")] == ["new"]
    parts = {"may": {"input": "crawl-data/CC-MAIN-2024-18/*", "weight": 1}, "rest": {"column": "dump",
             "values": ["CC-MAIN-2024-22"], "weight": 1}}  # fmt: skip
    run_corpus_step(Mix(parts=parts, other=0), tmp_path / "in", tmp_path / "mix")
    assert {d.id: d.metadata["mix_part"] for d in read_documents(tmp_path / "mix/data")} == {
        "old": "may",
        "new": "rest",
    }
    run_corpus_step(TopFraction(score="score", fraction=0.5), tmp_path / "in", tmp_path / "top")
    assert [d.id for d in read_documents(tmp_path / "top/data")] == ["new"]

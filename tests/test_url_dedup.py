import gzip
import json
import os
import subprocess

import pytest
from conftest import CLI, kill_run_when, output_files, run_corpus_step

from webcorpus.dedup.urls import UrlDedup, normalise_url, url_hash
from webcorpus.document import Document
from webcorpus.parquet import read_documents, shard_paths
from webcorpus.pipeline.config import load_pipeline
from webcorpus.pipeline.options import OptionError
from webcorpus.pipeline.runner import run_pipeline
from webcorpus.stages.write_parquet import ParquetWriter

# d0..d11 in input order over three shards of four rows. URL groups:
#   A = d0, d4, d5, d9 (http://example.com/a), B = d1, d6 (https://example.com/a), Q = d2, d7 (.../q?x=1);
#   d3 (other query), d8 (port 8080), d10 (path case), d11 stand alone.
ROWS = [
    ("HTTP://WWW.Example.com/a/", "aa", "2020-01-01"),
    ("https://example.com/a", "b", None),
    ("http://example.com/q?x=1", "ccc", "2021-01-01"),
    ("http://example.com/q?x=2", "dd", "2020-01-01"),
    ("http://example.com/a", "eeeee", "2022-06-01"),
    ("http://example.com:80/a#frag", "ffffff", "2022-01-01"),
    ("https://example.com:443/a/", "g", "2023-01-01"),
    ("http://example.com/q?x=1#top", "hh", None),
    ("http://example.com:8080/a", "iiiiiiiiii", "2030-01-01"),
    ("http://www.example.com/a", "ffffff", "2022-06-01"),
    ("http://example.com/Q?x=1", "x", None),
    ("https://example.com/", "y", None),
]
ALONE = {"d3": None, "d8": None, "d10": None, "d11": None}

# keep -> {kept id: None} | {removed id: keeper id}
EXPECTED = {
    "first": {"d4": "d0", "d5": "d0", "d9": "d0", "d6": "d1", "d7": "d2"},
    # A: d5 and d9 both 6 characters, d5 first; B: d1 and d6 one each, d1 first.
    "longest": {"d0": "d5", "d4": "d5", "d9": "d5", "d6": "d1", "d7": "d2"},
    # A: d4 and d9 both 2022-06-01, d4 first; B: d1 has no date (oldest); Q: d7 has none.
    "newest": {"d0": "d4", "d5": "d4", "d9": "d4", "d1": "d6", "d7": "d2"},
}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    folder = tmp_path_factory.mktemp("corpus") / "in"
    docs = []
    for i, (url, text, date) in enumerate(ROWS):
        metadata = {"source": "test"}
        if date is not None:
            metadata["date"] = date
        docs.append(Document(f"d{i}", url, text, metadata))
    ParquetWriter(rows_per_shard=4).write(docs, folder)
    assert len(shard_paths(folder)) == 3
    return folder


def run(source, target, workers=1, **options):
    step = UrlDedup(**options)
    return step, run_corpus_step(step, source, target, workers)


def kept_ids(target):
    return {d.id for d in read_documents(target / "data")}


def removed_rows(target):
    return {
        row["id"]: row["metadata"]
        for path in sorted((target / "removed" / "url_dedup").glob("*.jsonl.gz"))
        for row in map(json.loads, gzip.open(path, "rt"))
    }


def files(folder):
    return {
        p.relative_to(folder): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    }


def test_normalise_url():
    assert normalise_url("HTTP://WWW.Example.com/a/") == normalise_url("http://example.com/a") == "http://example.com/a"
    assert normalise_url("http://example.com/a#frag") == "http://example.com/a"
    assert normalise_url("http://example.com:80/a") == "http://example.com/a"
    assert normalise_url("https://example.com:443/") == "https://example.com/"
    assert normalise_url("http://example.com:443/a") == "http://example.com:443/a"  # not http's default
    assert normalise_url("http://example.com/a?B=1&a=2") == "http://example.com/a?B=1&a=2"  # query as is
    assert normalise_url("http://example.com/A/") == "http://example.com/A"  # path case kept
    assert normalise_url("http://user@WWW.Example.com/") == "http://user@example.com/"
    assert normalise_url("http://[::1]:8080/x/") == "http://[::1]:8080/x"
    assert normalise_url("http://example.com:99999/a/") == "http://example.com:99999/a/"  # bad port: as is
    assert normalise_url("http://[::1/a/") == "http://[::1/a/"  # does not parse: as is
    assert normalise_url(None) == normalise_url("") == ""
    assert url_hash("http://example.com/a") != url_hash("https://example.com/a")  # scheme kept


def test_normalise_url_across_scripts():
    # One Japanese page three ways: Unicode host and path, punycode host and escaped UTF-8, upper-case www.
    forms = ["http://例え.jp/日本", "http://xn--r8jz45g.jp/%E6%97%A5%E6%9C%AC", "http://WWW.例え.JP/%e6%97%a5本/"]
    assert {normalise_url(u) for u in forms} == {"http://xn--r8jz45g.jp/日本"}
    assert normalise_url("https://ไทย.th/%E0%B8%81?q=%ED%95%9C") == "https://xn--o3cw4h.th/ก?q=한"
    assert normalise_url("http://example.com/%7euser") == "http://example.com/~user"  # unreserved ASCII
    assert normalise_url("http://example.com/a%2fb") == "http://example.com/a%2Fb"  # an escaped / stays escaped
    assert normalise_url("http://example.com/a%2Fb") != normalise_url("http://example.com/a/b")
    assert normalise_url("http://example.com/%ff%e6") == "http://example.com/%FF%E6"  # not UTF-8: kept escaped
    long_label = "http://" + "a" * 70 + ".例.jp/"
    assert normalise_url(long_label) == long_label.lower()  # IDNA refuses a 70-character label: kept
    assert url_hash("HTTP://WWW.Example.com/a/") == url_hash("http://example.com/a")
    assert 0 <= url_hash("x") < 2**64


@pytest.mark.parametrize("keep", ["first", "longest", "newest"])
def test_keeps_one_document_per_url(corpus, tmp_path, keep):
    step, result = run(corpus, tmp_path / "out", keep=keep)
    expected = EXPECTED[keep]
    assert kept_ids(tmp_path / "out") == {f"d{i}" for i in range(12)} - set(expected)
    assert set(ALONE) <= kept_ids(tmp_path / "out")
    removed = removed_rows(tmp_path / "out")
    assert {i: m["duplicate_of"] for i, m in removed.items()} == expected
    assert {m["drop_reason"] for m in removed.values()} == {"url_dedup:duplicate_url"}
    assert step.stats.documents_in == 12 and step.stats.kept == 7
    assert step.stats.dropped == {"duplicate_url": 5}
    assert result.figures["documents"] == 12 and result.figures["kept"] == 7 and result.figures["removed"] == 5
    assert result.figures["urls"] == 7
    assert result.data == str(tmp_path / "out" / "data")
    assert "kept 7 of 12" in result.line


def test_kept_documents_keep_their_order_and_metadata(corpus, tmp_path):
    run(corpus, tmp_path / "out", keep="newest")
    docs = list(read_documents(tmp_path / "out" / "data"))
    assert [d.id for d in docs] == ["d2", "d3", "d4", "d6", "d8", "d10", "d11"]
    assert docs[2].metadata["date"] == "2022-06-01" and docs[2].metadata["source"] == "test"
    assert [p.name for p in sorted((tmp_path / "out" / "data").iterdir())] == [p.name for p in shard_paths(corpus)]


def test_removed_false_writes_no_removed_files(corpus, tmp_path):
    step, _ = run(corpus, tmp_path / "out", removed=False)
    assert not (tmp_path / "out" / "removed").exists()
    assert step.stats.dropped["duplicate_url"] == 5


@pytest.mark.parametrize("keep", ["first", "newest"])
def test_same_bytes_for_one_and_two_workers(corpus, tmp_path, keep):
    run(corpus, tmp_path / "a", workers=1, keep=keep)
    run(corpus, tmp_path / "b", workers=2, keep=keep)
    assert files(tmp_path / "a") == files(tmp_path / "b")
    assert any(p.parts[0] == "removed" for p in files(tmp_path / "a"))


def test_resume_after_a_lost_filter_unit(corpus, tmp_path):
    reference, out = tmp_path / "reference", tmp_path / "out"
    run(corpus, reference, keep="longest")
    run(corpus, out, keep="longest")
    (out / ".progress" / "filter_00001.json").unlink()
    (out / "data" / "part_00001.parquet").unlink()
    step, result = run(corpus, out, keep="longest")
    assert files(out) == files(reference)
    assert step.stats.kept == 7 and result.figures["removed"] == 5


def test_other_settings_are_refused_in_the_same_folder(corpus, tmp_path):
    run(corpus, tmp_path / "out", keep="first")
    with pytest.raises(ValueError, match="made from other input or settings"):
        run(corpus, tmp_path / "out", keep="longest")


def test_options_are_checked():
    with pytest.raises(OptionError):
        UrlDedup(keep="oldest")


def test_pipeline_run(corpus, tmp_path):
    job = tmp_path / "job.yaml"
    job.write_text(
        f"input: {corpus}\noutput: {tmp_path / 'run'}\nworkers: 1\n"
        "steps:\n  - read_parquet\n  - write_parquet\n  - url_dedup: {keep: longest}\n"
    )
    result = run_pipeline(load_pipeline(job), workers=1, progress=False)
    assert result.final_data == str(tmp_path / "run" / "url_dedup" / "data")
    expected = EXPECTED["longest"]
    assert kept_ids(tmp_path / "run" / "url_dedup") == {f"d{i}" for i in range(12)} - set(expected)
    stats = json.loads((tmp_path / "run" / "stats.json").read_text())
    step = [s for s in stats["steps"] if s["step"] == "url_dedup"][0]
    assert step["kept"] == 7 and step["dropped"] == {"duplicate_url": 5}
    removed = removed_rows(tmp_path / "run" / "url_dedup")
    assert {i: m["duplicate_of"] for i, m in removed.items()} == expected


def _job(tmp_path, source, name, workers=2):
    """A pipeline of both corpus-wide dedup steps over `source`: URLs first, then repeated lines."""
    path = tmp_path / f"{name}.yaml"
    path.write_text(
        f"input: {source}\noutput: {tmp_path / name}\nworkers: {workers}\n"
        "steps:\n  - read_parquet\n  - write_parquet: {rows_per_shard: 10}\n  - url_dedup: {keep: longest}\n"
        "  - line_dedup: {max_repeats: 20, min_words: 3}\n"
    )
    return path


@pytest.fixture(scope="module")
def many_shards(tmp_path_factory):
    """600 documents in 60 shards; every third one repeats an earlier URL (some in Japanese spellings), and
    each carries a footer line that 200 of them share."""
    folder = tmp_path_factory.mktemp("many") / "in"
    docs = []
    for i in range(600):
        url = f"https://例え.jp/記事/{i // 3}" if i % 3 else f"https://xn--r8jz45g.jp/%E8%A8%98%E4%BA%8B/{i // 3}"
        text = f"記事 {i} の本文です。" + " word" * (i % 11) + f"\nshared footer\nline {i}"
        docs.append(Document(f"d{i}", url, text, {"language": "ja" if i % 2 else "en"}))
    ParquetWriter(rows_per_shard=10).write(docs, folder)
    return folder


def test_killed_run_of_url_and_line_dedup_resumes_to_the_same_bytes(many_shards, tmp_path):
    subprocess.run([*CLI, "run", _job(tmp_path, many_shards, "reference"), "--no-progress"], check=True,
                   capture_output=True)  # fmt: skip
    markers = tmp_path / "killed" / "url_dedup" / ".progress"
    kill_run_when(["run", _job(tmp_path, many_shards, "killed"), "--no-progress"],
                  lambda: bool(list(markers.glob("hashes_*.json"))))  # fmt: skip
    assert not (markers / "filter_00059.json").exists()
    subprocess.run([*CLI, "run", _job(tmp_path, many_shards, "killed"), "--no-progress"], check=True,
                   capture_output=True)  # fmt: skip
    expected = output_files(tmp_path / "reference")
    assert output_files(tmp_path / "killed") == expected
    kept = list(read_documents(tmp_path / "killed" / "url_dedup" / "data"))
    assert len(kept) == 200  # one per article number: 例え.jp/記事/N in three spellings
    lines = list(read_documents(tmp_path / "killed" / "line_dedup" / "data"))
    assert not any("shared footer" in d.text for d in lines) and all("line " in d.text for d in lines)


def test_ray_gives_the_local_bytes_for_url_and_line_dedup(many_shards, tmp_path):
    pytest.importorskip("ray")
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}  # the run starts its own Ray
    for name, flags in (("local", []), ("ray", ["--executor", "ray"])):
        done = subprocess.run([*CLI, "run", _job(tmp_path, many_shards, name), "--no-progress", *flags],
                              capture_output=True, text=True, env=env)  # fmt: skip
        assert done.returncode == 0, done.stderr
    expected = output_files(tmp_path / "local")
    assert any(p.parts[:2] == ("url_dedup", "removed") for p in expected)
    assert any(p.parts[:2] == ("line_dedup", "data") for p in expected)
    assert output_files(tmp_path / "ray") == expected


def test_shards_emptied_by_url_dedup_pass_through_every_later_corpus_step(tmp_path):
    # Shard 2 holds only URLs that shard 1 already has: url_dedup leaves it empty, and every corpus step after
    # it must take an empty shard (minhash_dedup's signatures once failed on one).
    words = "the quick brown fox jumps over the lazy dog while a small cat watches from the garden wall".split()
    docs = [Document(f"d{i}", f"https://example.org/{i % 4}", " ".join(words[i % 5 :] + words[: i % 5]) + f" {i}",
                     {"language": "en"}) for i in range(8)]  # fmt: skip
    ParquetWriter(rows_per_shard=4).write(docs, tmp_path / "in")
    job = tmp_path / "job.yaml"
    job.write_text(
        f"input: {tmp_path / 'in'}\noutput: {tmp_path / 'run'}\nworkers: 1\nsteps:\n  - read_parquet\n"
        "  - write_parquet: {rows_per_shard: 4}\n  - url_dedup\n  - line_dedup: {min_words: 1}\n  - minhash_dedup\n"
        "  - mix: {parts: {all: {weight: 1}}}\n  - train_tokenizer: {vocab_size: 300}\n  - tokenize\n"
    )
    result = run_pipeline(load_pipeline(job), workers=1, progress=False)
    assert [len(list(read_documents(p))) for p in shard_paths(tmp_path / "run" / "url_dedup" / "data")] == [4, 0]
    kept = list(read_documents(tmp_path / "run" / "minhash_dedup" / "data"))
    assert 0 < len(kept) == len(list(read_documents(tmp_path / "run" / "mix" / "data")))
    assert result.final_data == str(tmp_path / "run" / "mix" / "data")
    assert list((tmp_path / "run" / "tokens").glob("*.bin"))

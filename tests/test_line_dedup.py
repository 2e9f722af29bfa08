import gzip
import json
import subprocess

import pytest
from conftest import CLI, kill_run_when, output_files, run_corpus_step

from webcorpus.dedup.lines import LineDedup, kept_lines, line_hash, normal_line, stated_false_positive_rate
from webcorpus.document import Document
from webcorpus.parquet import read_documents, shard_paths
from webcorpus.pipeline.config import load_pipeline
from webcorpus.pipeline.options import OptionError
from webcorpus.pipeline.runner import run_pipeline
from webcorpus.stages.write_parquet import ParquetWriter

COOKIE = "Accept cookies to continue."  # d0 d1 d3 d10: 4 documents
RIGHTS = "All rights reserved."  # d0 d3 d4 d5, spelt three ways: 4
THREE = "Shared by exactly three pages here."  # d1 d4 d5: 3, at the limit, kept
INSIDE = "Repeated inside one document only."  # five times in d2: 1
JA_BOILER = "このサイトはクッキーを使用しています。"  # d6 d7 d8 d9: 4
TOKYO = "東京は日本の首都で、人口がとても多い大きな都市です。"  # one "word" between spaces, thirteen by SudachiPy


def body(i):
    return f"Document {i} talks about its own subject in plain words."


# (text, language); max_repeats 3, min_words 5 in the tests.
ROWS = [
    (f"{body(0)}\n{COOKIE}\n\n{RIGHTS}", "en"),
    (f"{COOKIE}\n\n{body(1)}\n\n{THREE}", "en"),
    (f"{body(2)}\n" + f"{INSIDE}\n" * 5, "en"),
    (f"{COOKIE}\n  ALL  rights   reserved.\nThanks a lot!", "en"),  # three words left: removed
    (f"{body(4)}\n{THREE}\n  all RIGHTS reserved.  ", "en"),
    (f"{body(5)}\n{RIGHTS}\n{THREE}", "en"),
    (f"{TOKYO}\n{JA_BOILER}", "ja"),
    (f"{JA_BOILER}\nありがとう。", "ja"),  # one word left: removed
    (f"北京是中国的首都，也是一座历史悠久的城市。\n{JA_BOILER}", "zh"),
    (f"{JA_BOILER}\n上海是中国最大的城市之一，经济很发达。", "zh"),
    (f"{body(10)}\n{COOKIE}", "en"),
    ("Tiny.", "en"),  # short but unchanged: kept
]
EXPECTED_TEXT = {
    "d0": body(0),
    "d1": f"{body(1)}\n\n{THREE}",
    "d2": ROWS[2][0],
    "d4": f"{body(4)}\n{THREE}",
    "d5": f"{body(5)}\n{THREE}",
    "d6": TOKYO,
    "d8": "北京是中国的首都，也是一座历史悠久的城市。",
    "d9": "上海是中国最大的城市之一，经济很发达。",
    "d10": body(10),
    "d11": "Tiny.",
}
LINES_REMOVED = {"d0": 2, "d1": 1, "d3": 2, "d4": 1, "d5": 1, "d6": 1, "d7": 1, "d8": 1, "d9": 1, "d10": 1}
OPTIONS = {"max_repeats": 3, "min_words": 5}


def write_corpus(folder, rows, rows_per_shard=4):
    docs = [
        Document(f"d{i}", f"https://example.com/{i}", text, {"language": lang}) for i, (text, lang) in enumerate(rows)
    ]
    ParquetWriter(rows_per_shard=rows_per_shard).write(docs, folder)
    return folder


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    folder = write_corpus(tmp_path_factory.mktemp("corpus") / "in", ROWS)
    assert len(shard_paths(folder)) == 3
    return folder


def run(source, target, workers=1, **options):
    step = LineDedup(**options)
    return step, run_corpus_step(step, source, target, workers)


def kept(target):
    return {d.id: d for d in read_documents(target / "data")}


def removed_rows(target):
    return {
        row["id"]: row
        for path in sorted((target / "removed" / "line_dedup").glob("*.jsonl.gz"))
        for row in map(json.loads, gzip.open(path, "rt"))
    }


def test_normal_line_and_hash():
    assert normal_line("  ALL  rights\treserved. ") == normal_line("all rights reserved.") == "all rights reserved."
    assert line_hash(" \t ") == line_hash("") == 0
    assert line_hash("All Rights  Reserved.") == line_hash("all rights reserved.") != line_hash("all rights")
    assert 0 < line_hash("x") < 2**64


def test_kept_lines_leaves_no_doubled_or_edge_blank_lines():
    assert kept_lines(["a", "", "X", "", "b"], [False, False, True, False, False]) == "a\n\nb"
    assert kept_lines(["X", "", "a"], [True, False, False]) == "a"
    assert kept_lines(["a", "", "X"], [False, False, True]) == "a"
    assert kept_lines(["a", "X", "b"], [False, True, False]) == "a\nb"
    assert kept_lines(["a", "", "", "b"], [False] * 4) == "a\n\n\nb"  # no removal: as it was


@pytest.mark.parametrize("mode", ["exact", "bloom"])
def test_lines_over_the_limit_leave_every_document(corpus, tmp_path, mode):
    step, result = run(corpus, tmp_path / "out", mode=mode, **OPTIONS)
    docs = kept(tmp_path / "out")
    assert {i: d.text for i, d in docs.items()} == EXPECTED_TEXT
    assert {i: d.metadata.get("line_dedup_lines_removed") for i, d in docs.items() if i in LINES_REMOVED} == {
        i: n for i, n in LINES_REMOVED.items() if i in docs
    }
    assert "line_dedup_lines_removed" not in docs["d2"].metadata and docs["d6"].metadata["language"] == "ja"
    removed = removed_rows(tmp_path / "out")
    assert set(removed) == {"d3", "d7"}
    assert removed["d7"]["text"] == ROWS[7][0]  # the text as it was
    assert {r["metadata"]["drop_reason"] for r in removed.values()} == {"line_dedup:too_short_after_dedup"}
    assert removed["d3"]["metadata"]["line_dedup_lines_removed"] == 2
    assert step.stats.documents_in == 12 and step.stats.kept == 10
    assert step.stats.dropped == {"too_short_after_dedup": 2}
    figures = result.figures
    assert (figures["documents"], figures["kept"], figures["removed"], figures["changed"]) == (12, 10, 2, 8)
    assert figures["lines_removed"] == sum(LINES_REMOVED.values()) == 12
    before = sum(len(t.encode()) for t, _ in ROWS)
    assert figures["bytes_removed"] == before - sum(len(t.encode()) for t in EXPECTED_TEXT.values())
    assert figures["mode"] == mode and "kept 10 of 12" in result.line
    if mode == "exact":
        assert figures["distinct_lines"] == 17 and figures["repeated_lines"] == 3
    else:
        assert 0 < figures["false_positive_rate"] < 1e-20 and "false-positive rate" in result.line
        assert figures["distinct_lines_estimate"] == 17


def test_words_are_the_languages_not_whitespace_separated(corpus, tmp_path):
    # TOKYO is one whitespace-separated chunk: min_words 5 by spaces would drop d6 and d8 too.
    run(corpus, tmp_path / "out", **OPTIONS)
    assert len(TOKYO.split()) == 1 and {"d6", "d8", "d9"} <= set(kept(tmp_path / "out"))
    run(corpus, tmp_path / "strict", max_repeats=3, min_words=14)
    assert "d6" in removed_rows(tmp_path / "strict")  # thirteen words < 14


def test_max_repeats_is_a_count_of_documents(corpus, tmp_path):
    run(corpus, tmp_path / "out", max_repeats=2, min_words=0)
    docs = kept(tmp_path / "out")
    assert THREE not in docs["d1"].text and INSIDE in docs["d2"].text  # 3 documents > 2; 5 times in 1 document
    assert docs["d3"].text == "Thanks a lot!" and len(docs) == 12  # min_words 0 drops nothing


def test_lines_without_letters_and_short_lines(tmp_path):
    rows = [
        (f"{body(i)}\n| a | b |\n|---|---|\n| {i} | x |\n1.\n-\nShare\nRead more about it here.", "en")
        for i in range(5)
    ]
    source = write_corpus(tmp_path / "in", rows)
    run(source, tmp_path / "all", max_repeats=3, min_words=0)
    texts = [d.text for d in kept(tmp_path / "all").values()]
    assert texts == [f"{body(i)}\n|---|---|\n| {i} | x |\n1.\n-" for i in range(5)]  # no letter: kept
    run(source, tmp_path / "long", max_repeats=3, min_words=0, min_line_chars=10)
    texts = [d.text.split("\n") for d in kept(tmp_path / "long").values()]
    assert all("Share" in text and "| a | b |" in text and "Read more about it here." not in text for text in texts)


def test_removed_false_writes_no_removed_files(corpus, tmp_path):
    step, _ = run(corpus, tmp_path / "out", removed=False, **OPTIONS)
    assert not (tmp_path / "out" / "removed").exists()
    assert step.stats.dropped["too_short_after_dedup"] == 2


@pytest.mark.parametrize("mode", ["exact", "bloom"])
def test_same_bytes_for_one_and_two_workers(corpus, tmp_path, mode):
    options = {**OPTIONS, "mode": mode, "bloom_bytes": 1 << 16}
    run(corpus, tmp_path / "a", workers=1, **options)
    run(corpus, tmp_path / "b", workers=2, **options)
    assert output_files(tmp_path / "a") == output_files(tmp_path / "b")
    assert any(p.parts[0] == "removed" for p in output_files(tmp_path / "a"))
    run(corpus, tmp_path / "c", workers=2, **{**options, "hash_ranges": 3})  # other settings, the same documents
    assert output_files(tmp_path / "a") == output_files(tmp_path / "c")


def test_resume_after_a_lost_filter_unit(corpus, tmp_path):
    reference, out = tmp_path / "reference", tmp_path / "out"
    run(corpus, reference, **OPTIONS)
    run(corpus, out, **OPTIONS)
    (out / ".progress" / "filter_00001.json").unlink()
    (out / "data" / "part_00001.parquet").unlink()
    step, result = run(corpus, out, **OPTIONS)
    assert output_files(out) == output_files(reference)
    assert step.stats.kept == 10 and result.figures["lines_removed"] == 12


def test_other_settings_are_refused_in_the_same_folder(corpus, tmp_path):
    run(corpus, tmp_path / "out", **OPTIONS)
    with pytest.raises(ValueError, match="made from other input or settings"):
        run(corpus, tmp_path / "out", max_repeats=4, min_words=5)


def test_options_are_checked():
    with pytest.raises(OptionError):
        LineDedup(mode="approximate")
    with pytest.raises(OptionError):
        LineDedup(max_repeats=255)  # a uint8 counter could not tell 255 from more
    with pytest.raises(OptionError):
        LineDedup(max_repeats=0)


def test_bloom_removes_a_superset_at_most_at_its_stated_rate(tmp_path):
    # 300 lines in one document each, 100 in three (at the limit), 20 in six (over it); a sketch of 1024
    # counters, two a line, is crowded enough to remove some lines wrongly.
    rows = []
    for i in range(300):
        lines = [f"only here {i}", f"shared by three {i // 3}"] + ([f"shared by six {i // 6}"] if i < 120 else [])
        rows.append(("\n".join(lines), "en"))
    source = write_corpus(tmp_path / "in", rows, rows_per_shard=50)
    options = {"max_repeats": 3, "min_words": 0}
    run(source, tmp_path / "exact", **options)
    _, result = run(source, tmp_path / "bloom", mode="bloom", bloom_bytes=1024, bloom_hashes=2, **options)
    exact, bloom = kept(tmp_path / "exact"), kept(tmp_path / "bloom")
    assert set(exact) == set(bloom) == {f"d{i}" for i in range(300)}
    left = {i: set(d.text.split("\n")) - {""} for i, d in exact.items()}
    assert all(set(bloom[i].text.split("\n")) - {""} <= left[i] for i in exact)  # a superset removed
    assert not any(line.startswith("shared by six") for lines in left.values() for line in lines)
    under_limit = set().union(*left.values())
    assert len(under_limit) == 400
    wrongly = under_limit - set().union(*(set(d.text.split("\n")) for d in bloom.values()))
    measured, stated = len(wrongly) / len(under_limit), result.figures["false_positive_rate"]
    assert 0 < measured <= stated
    assert stated == pytest.approx(stated_false_positive_rate(420, 1024, 2), rel=0.2)


def test_pipeline_run(corpus, tmp_path):
    job = tmp_path / "job.yaml"
    job.write_text(
        f"input: {corpus}\noutput: {tmp_path / 'run'}\nworkers: 1\n"
        "steps:\n  - read_parquet\n  - write_parquet\n  - line_dedup: {max_repeats: 3, min_words: 5}\n"
    )
    result = run_pipeline(load_pipeline(job), workers=1, progress=False)
    assert result.final_data == str(tmp_path / "run" / "line_dedup" / "data")
    assert {i: d.text for i, d in kept(tmp_path / "run" / "line_dedup").items()} == EXPECTED_TEXT
    stats = json.loads((tmp_path / "run" / "stats.json").read_text())
    step = [s for s in stats["steps"] if s["step"] == "line_dedup"][0]
    assert step["kept"] == 10 and step["dropped"] == {"too_short_after_dedup": 2}


def test_killed_run_resumes_to_the_same_bytes(tmp_path):
    # 60 shards, so the run is still inside line_dedup's units when its first marker appears.
    rows = [(f"{body(i)}\n{COOKIE}\nLine {i % 10} of a footer that many pages share.", "en") for i in range(600)]
    source = write_corpus(tmp_path / "in", rows, rows_per_shard=10)

    def job(name):
        path = tmp_path / f"{name}.yaml"
        path.write_text(
            f"input: {source}\noutput: {tmp_path / name}\nworkers: 2\n"
            "steps:\n  - read_parquet\n  - write_parquet: {rows_per_shard: 10}\n"
            "  - line_dedup: {max_repeats: 80, min_words: 5}\n"
        )
        return path

    subprocess.run([*CLI, "run", job("reference"), "--no-progress"], check=True, capture_output=True)
    markers = tmp_path / "killed" / "line_dedup" / ".progress"
    kill_run_when(["run", job("killed"), "--no-progress"], lambda: bool(list(markers.glob("hashes_*.json"))))
    assert not (markers / "filter_00059.json").exists()
    subprocess.run([*CLI, "run", job("killed"), "--no-progress"], check=True, capture_output=True)
    expected = output_files(tmp_path / "reference" / "line_dedup")
    assert output_files(tmp_path / "killed" / "line_dedup") == expected
    assert sum(1 for p in expected if p.parts[0] == "data") == 60
    docs = list(read_documents(tmp_path / "killed" / "line_dedup" / "data"))
    assert len(docs) == 600 and not any(COOKIE in d.text for d in docs)
    assert all("footer" in d.text for d in docs)  # each footer line is on 60 pages, not over 80

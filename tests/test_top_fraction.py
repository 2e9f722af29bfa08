import gzip
import json

import pytest
from conftest import run_corpus_step

from webcorpus.document import Document
from webcorpus.parquet import read_documents, shard_paths
from webcorpus.pipeline.config import load_pipeline
from webcorpus.pipeline.options import OptionError
from webcorpus.pipeline.runner import run_pipeline
from webcorpus.stages.top_fraction import TopFraction, keep_count
from webcorpus.stages.write_parquet import ParquetWriter

# d0..d19 in input order over three shards (7, 7, 6 rows); even ids English, odd German. d2 and d13 have no
# score, d5 one that is not a number. Ties: 0.9 (d1, d4, d7) and 0.5 (d0, d6, d10, d16).
SCORES = [0.5, 0.9, None, 0.45, 0.9, "high", 0.5, 0.9, 0.1, 0.2,
          0.5, 0.6, 0.4, None, 0.8, 0.05, 0.5, 0.3, 0.95, 0.0]  # fmt: skip
NO_SCORE = {"d2", "d5", "d13"}


def ids(*numbers):
    return {f"d{n}" for n in numbers}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    folder = tmp_path_factory.mktemp("corpus") / "in"
    docs = []
    for i, score in enumerate(SCORES):
        metadata = {"language": "en" if i % 2 == 0 else "de", "source": "test"}
        if score is not None:
            metadata["quality_hq"] = score
        docs.append(Document(f"d{i}", f"https://e.org/{i}", f"document number {i}", metadata))
    ParquetWriter(rows_per_shard=7).write(docs, folder)
    assert len(shard_paths(folder)) == 3
    return folder


def run(source, target, workers=1, **options):
    step = TopFraction(**options)
    return step, run_corpus_step(step, source, target, workers)


def kept_ids(target):
    return {d.id for d in read_documents(target / "data")}


def removed_rows(target):
    return {
        row["id"]: row["metadata"]["drop_reason"]
        for path in sorted((target / "removed" / "top_fraction").glob("*.jsonl.gz"))
        for row in map(json.loads, gzip.open(path, "rt"))
    }


def files(folder):
    return {
        p.relative_to(folder): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    }


@pytest.mark.parametrize(
    ("fraction", "by_language", "expected"),
    [
        # 17 scored: ceil(1.7) = 2: d18, then d1 of the 0.9 ties (first in input order).
        (0.1, False, ids(18, 1)),
        # ceil(8.5) = 9: d18, d1, d4, d7, d14, d11, then d0, d6, d10 of the four at 0.5 (d16 is last).
        (0.5, False, ids(18, 1, 4, 7, 14, 11, 0, 6, 10)),
        # en: 9 scored -> 1 (d18); de: 8 scored -> 1 (d1 before d7).
        (0.1, True, ids(18, 1)),
        # en: ceil(4.5) = 5: d18, d4, d14, d0, d6; de: 4: d1, d7, d11, d3.
        (0.5, True, ids(18, 4, 14, 0, 6, 1, 7, 11, 3)),
        (1.0, False, {f"d{i}" for i in range(20)} - NO_SCORE),
    ],
)
def test_keeps_exactly_the_top_fraction(corpus, tmp_path, fraction, by_language, expected):
    step, result = run(corpus, tmp_path / "out", fraction=fraction, by_language=by_language)
    assert kept_ids(tmp_path / "out") == expected
    removed = removed_rows(tmp_path / "out")
    assert set(removed) == {f"d{i}" for i in range(20)} - expected
    assert {i for i, reason in removed.items() if reason == "top_fraction:no_score"} == NO_SCORE
    assert {reason for i, reason in removed.items() if i not in NO_SCORE} <= {"top_fraction:below_fraction"}
    assert step.stats.documents_in == 20 and step.stats.kept == len(expected)
    assert step.stats.dropped["no_score"] == 3
    assert step.stats.dropped["below_fraction"] == 17 - len(expected)
    assert result.figures["documents"] == 20 and result.figures["kept"] == len(expected)
    assert result.data == str(tmp_path / "out" / "data")
    groups = result.figures["groups"]
    assert sorted(groups) == (["de", "en"] if by_language else ["(all)"])
    assert sum(g["kept"] for g in groups.values()) == len(expected)


def test_thresholds_per_group(corpus, tmp_path):
    _, result = run(corpus, tmp_path / "a", fraction=0.5)
    assert result.figures["groups"] == {"(all)": {"scored": 17, "kept": 9, "threshold": 0.5}}
    assert "kept 9 of 20" in result.line
    _, result = run(corpus, tmp_path / "b", fraction=0.5, by_language=True)
    assert result.figures["groups"] == {
        "de": {"scored": 8, "kept": 4, "threshold": 0.45},
        "en": {"scored": 9, "kept": 5, "threshold": 0.5},
    }


def test_kept_documents_keep_their_metadata_and_order(corpus, tmp_path):
    run(corpus, tmp_path / "out", fraction=0.5)
    docs = list(read_documents(tmp_path / "out" / "data"))
    assert [d.id for d in docs] == ["d0", "d1", "d4", "d6", "d7", "d10", "d11", "d14", "d18"]
    assert docs[0].metadata["quality_hq"] == 0.5 and docs[0].metadata["language"] == "en"
    assert [p.name for p in sorted((tmp_path / "out" / "data").iterdir())] == [p.name for p in shard_paths(corpus)]


def test_removed_false_writes_no_removed_files(corpus, tmp_path):
    step, _ = run(corpus, tmp_path / "out", fraction=0.5, removed=False)
    assert not (tmp_path / "out" / "removed").exists()
    assert step.stats.dropped["below_fraction"] == 8


def test_same_bytes_for_one_and_two_workers(corpus, tmp_path):
    run(corpus, tmp_path / "a", workers=1, fraction=0.5, by_language=True)
    run(corpus, tmp_path / "b", workers=2, fraction=0.5, by_language=True)
    assert files(tmp_path / "a") == files(tmp_path / "b")
    assert any(p.parts[0] == "removed" for p in files(tmp_path / "a"))


def test_resume_after_a_lost_filter_unit(corpus, tmp_path):
    reference, out = tmp_path / "reference", tmp_path / "out"
    run(corpus, reference, fraction=0.5)
    run(corpus, out, fraction=0.5)
    (out / ".progress" / "filter_00001.json").unlink()
    (out / "data" / "part_00001.parquet").unlink()
    step, result = run(corpus, out, fraction=0.5)
    assert files(out) == files(reference)
    assert step.stats.kept == 9 and result.figures["kept"] == 9


def test_other_settings_are_refused_in_the_same_folder(corpus, tmp_path):
    run(corpus, tmp_path / "out", fraction=0.5)
    with pytest.raises(ValueError, match="made from other input or settings"):
        run(corpus, tmp_path / "out", fraction=0.1)


def test_options_are_checked():
    for fraction in (0, -0.1, 1.5):
        with pytest.raises(OptionError):
            TopFraction(fraction=fraction)
    assert keep_count(0.1, 30) == 3 and keep_count(0.1, 31) == 4 and keep_count(0.5, 0) == 0


def test_a_score_in_a_column(corpus, tmp_path):
    # language_score is a column of our Parquet layout, not part of the JSON metadata: no document has one.
    step, _ = run(corpus, tmp_path / "out", score="language_score")
    assert kept_ids(tmp_path / "out") == set() and step.stats.dropped["no_score"] == 20


def test_pipeline_run(corpus, tmp_path):
    job = tmp_path / "job.yaml"
    job.write_text(
        f"input: {corpus}\noutput: {tmp_path / 'run'}\nworkers: 1\n"
        "steps:\n  - read_parquet\n  - write_parquet\n  - top_fraction: {fraction: 0.5, by_language: true}\n"
    )
    result = run_pipeline(load_pipeline(job), workers=1, progress=False)
    assert result.final_data == str(tmp_path / "run" / "top_fraction" / "data")
    expected = ids(18, 4, 14, 0, 6, 1, 7, 11, 3)
    assert kept_ids(tmp_path / "run" / "top_fraction") == expected
    stats = json.loads((tmp_path / "run" / "stats.json").read_text())
    step = [s for s in stats["steps"] if s["step"] == "top_fraction"][0]
    assert step["kept"] == 9 and step["dropped"] == {"below_fraction": 8, "no_score": 3}
    assert set(removed_rows(tmp_path / "run" / "top_fraction")) == {f"d{i}" for i in range(20)} - expected

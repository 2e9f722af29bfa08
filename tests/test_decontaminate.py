"""decontaminate: n-gram matches against benchmark files, per language's words, in a pipeline and after kill -9."""

from __future__ import annotations

import gzip
import json
import os
import subprocess

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from conftest import CLI, kill_run_when, output_files
from multilingual_articles import ARTICLES

from webcorpus.cli import main
from webcorpus.document import Document
from webcorpus.parquet import read_documents
from webcorpus.pipeline.config import ConfigError, load_pipeline
from webcorpus.pipeline.options import OptionError
from webcorpus.pipeline.runner import run_pipeline
from webcorpus.report.html import build_report
from webcorpus.stages.decontaminate import MATCHED, TRIMMED, Decontaminate
from webcorpus.stages.write_parquet import ParquetWriter

QUESTION = "Which of the following gases do plants mainly absorb from the air during photosynthesis in daylight?"
FILLER = (
    "The garden club met on Tuesday to plan the spring planting. Members brought seeds, tools and a great "
    "deal of advice about tomatoes, and the meeting ran late into the evening as it always does."
)
JA_QUESTION = (
    "次のうち、光合成を行うときに植物が主に吸収する気体はどれですか。二酸化炭素、酸素、窒素、水素の中から選びなさい。"
)
ZH_QUESTION = "下列哪一种气体是植物进行光合作用时主要吸收的？请从二氧化碳、氧气、氮气和氢气中选择一个正确答案。"
KO_QUESTION = (
    "다음 중 식물이 광합성을 할 때 공기 중에서 주로 흡수하는 기체는 무엇입니까? "
    "이산화탄소, 산소, 질소, 수소 중에서 하나를 고르십시오."
)


def step(tmp_path, texts, name="quiz", **options):
    path = tmp_path / f"{name}.txt"
    path.write_text("\n".join(texts) + "\n")
    return Decontaminate(benchmarks={name: str(path)}, **options)


def doc(text, language="en", i=0):
    return Document(f"d{i}", f"https://example.org/{i}", text, {"language": language})


def test_an_english_13_gram_matches_and_12_shared_words_do_not(tmp_path):
    words = "one two three four five six seven eight nine ten eleven twelve thirteen".split()
    decontaminate = step(tmp_path, [" ".join(words)])
    assert decontaminate.filter(doc(f"{FILLER} {' '.join(words)} and more.")) == "contaminated:quiz"
    twelve = " ".join(words[:12])
    assert decontaminate.filter(doc(f"{FILLER} {twelve} fourteen {twelve}")) is None
    # A benchmark text shorter than n words has no n-gram: it matches nothing.
    short = step(tmp_path, ["one two three"], name="short")
    assert short.filter(doc("one two three")) is None


def test_case_punctuation_and_width_do_not_hide_a_match(tmp_path):
    decontaminate = step(tmp_path, [QUESTION])
    page = doc(
        f"{FILLER}\nQ: “WHICH of the following—gases, do plants mainly absorb (from the air) "
        "during ＰＨＯＴＯＳＹＮＴＨＥＳＩＳ…"
    )
    assert decontaminate.filter(page) == "contaminated:quiz"
    assert page.metadata["contaminated_by"] == ["quiz"] and page.metadata["contaminated_ngrams"] == 2


@pytest.mark.parametrize(
    "language,question,glue",
    [("ja", JA_QUESTION, ("今日の問題は", "だそうです")), ("zh", ZH_QUESTION, ("今天的题目是", "老师说"))],
    ids=["ja", "zh"],
)
def test_a_cjk_question_inside_a_page_matches_in_the_language_s_words(tmp_path, language, question, glue):
    decontaminate = step(tmp_path, [question])
    paragraphs = ARTICLES[language][1]
    # Glued to the prose around it, without punctuation: the segmenter must cut it as it cut the question.
    page = doc(paragraphs[0] + glue[0] + question.rstrip("。？") + glue[1] + paragraphs[1], language)
    assert decontaminate.filter(page) == "contaminated:quiz"
    assert page.metadata["contaminated_ngrams"] >= 5
    # The page without the question shares nothing with it.
    assert decontaminate.filter(doc("\n".join(paragraphs), language)) is None


def test_a_korean_question_matches_in_kiwi_s_words(tmp_path):
    decontaminate = step(tmp_path, [KO_QUESTION])
    paragraphs = ARTICLES["ko"][1]
    assert decontaminate.filter(doc(f"{paragraphs[0]}\n문제: {KO_QUESTION}\n{paragraphs[1]}", "ko")) is not None
    assert decontaminate.filter(doc("\n".join(paragraphs), "ko")) is None


def test_jsonl_and_parquet_benchmarks_with_and_without_fields(tmp_path):
    (tmp_path / "mmlu.jsonl").write_text(
        json.dumps({"question": QUESTION, "choices": ["carbon dioxide", "oxygen"], "id": "never matched"}) + "\n"
    )
    pq.write_table(pa.table({"question": ["What is the capital city of the small northern country we visited?"],
                             "answer": ["It is the old harbour town by the grey sea, famous for its fish market."],
                             "split": ["test"]}), tmp_path / "qa.parquet")  # fmt: skip
    decontaminate = Decontaminate(
        benchmarks={"mmlu": str(tmp_path / "*.jsonl"), "qa": {"paths": [str(tmp_path / "qa.parquet")]}}
    )
    # An n-gram running from the question into its first choice is one of the record's.
    hit = doc(f"{FILLER} during photosynthesis in daylight? carbon dioxide oxygen. {FILLER}")
    assert decontaminate.filter(doc(f"{FILLER} {QUESTION} {FILLER}")) == "contaminated:mmlu"
    assert decontaminate.filter(hit) is None  # 8 words only
    across = doc(f"we visited? It is the old harbour town by the grey sea, famous for {FILLER}")
    assert decontaminate.filter(across) == "contaminated:qa"  # question into answer, as a page would show them
    answers_only = Decontaminate(benchmark_files=[f"qa={tmp_path / 'qa.parquet'}"], fields=["answer"])
    assert answers_only.filter(doc(f"{FILLER} {QUESTION}")) is None
    assert answers_only.filter(doc("So: it is the old harbour town by the grey sea, famous for its fish.")) is not None
    stats = decontaminate.stats.count(MATCHED)
    assert stats == {"mmlu": 1, "qa": 1}


def test_trim_removes_the_matching_lines_and_drops_what_is_left_too_short(tmp_path):
    decontaminate = step(tmp_path, [QUESTION], mode="trim", min_words=10)
    first, _, rest = QUESTION.partition(" plants ")  # an n-gram runs over the line break: both lines go
    page = doc(f"{FILLER}\nQuestion 4. {first}\nplants {rest} (2 points)\n{FILLER}")
    assert decontaminate.filter(page) is None
    assert page.text == f"{FILLER}\n{FILLER}"
    assert decontaminate.stats.count(TRIMMED) == {"quiz": 1}
    short = doc(f"Only this:\n{QUESTION}")
    assert decontaminate.filter(short) == "contaminated:quiz"
    assert short.text == f"Only this:\n{QUESTION}"  # removed/ keeps what was dropped, whole


@pytest.mark.parametrize(
    "name,content,expected",
    [
        ("q.jsonl", '{"question": "fine"}\nnot json\n', r"q.jsonl: line 2 is not JSON"),
        ("q.csv", "a,b\n", r"q.csv: unknown benchmark format"),
        ("q.parquet", "PAR1 not really", r"q.parquet: not a Parquet file"),
        ("q.txt", "x" * 100, r"q.txt: larger than max_benchmark_bytes \(64 bytes\)"),
    ],
)
def test_a_bad_benchmark_file_is_one_error_naming_it(tmp_path, name, content, expected):
    (tmp_path / name).write_text(content)
    with pytest.raises(OptionError, match=expected):
        Decontaminate(benchmarks={"b": str(tmp_path / name)}, max_benchmark_bytes=64)
    with pytest.raises(OptionError, match="absent.txt: no such benchmark file"):
        Decontaminate(benchmarks={"b": str(tmp_path / "absent.txt")})
    with pytest.raises(OptionError, match="name 'a b' must be"):
        Decontaminate(benchmarks={"a b": str(tmp_path / name)})


def test_a_pipeline_with_a_missing_benchmark_fails_in_one_line_before_running(tmp_path):
    job = tmp_path / "p.yaml"
    job.write_text(
        f"input: {tmp_path}/*.parquet\noutput: {tmp_path / 'out'}\nsteps:\n  - read_parquet\n"
        f"  - decontaminate:\n      benchmarks: {{mmlu: {tmp_path / 'mmlu.jsonl'}}}\n  - write_parquet\n"
    )
    with pytest.raises(ConfigError, match=r"p.yaml:6: steps\[1\].decontaminate.benchmarks: .*mmlu.jsonl: no such"):
        load_pipeline(job)
    result = CliRunner().invoke(main, ["run", str(job)])
    assert result.exit_code == 1 and result.output.strip().count("\n") == 0 and "mmlu.jsonl" in result.output
    assert not (tmp_path / "out").exists()


def corpus(folder, files, per_file, questions=()):
    """Documents over `files` shards; document i quotes questions[i % 7] when there is one."""
    documents = []
    for i in range(files * per_file):
        quoted = f"\nAs asked in class: {questions[i % 7 % len(questions)]}" if questions and i % 7 < 2 else ""
        documents.append(doc(f"Page {i}. {FILLER}{quoted}\nThe end of page {i}.", "en", i))
    for f in range(files):
        ParquetWriter(rows_per_shard=per_file).write(documents[f * per_file : (f + 1) * per_file], folder / f"{f}")
    return f"{folder}/*/*.parquet"


def job(tmp_path, inputs, out, benchmarks, workers=1, extra=""):
    path = tmp_path / f"{out.name}.yaml"
    path.write_text(
        f"input: {inputs}\noutput: {out}\nworkers: {workers}\n{extra}steps:\n  - read_parquet\n"
        f"  - decontaminate:\n      benchmarks: {json.dumps(benchmarks)}\n  - write_parquet: {{rows_per_shard: 5}}\n"
    )
    return path


def test_pipeline_counts_reasons_per_benchmark_keeps_removed_rows_and_reports_them(tmp_path):
    (tmp_path / "mmlu.txt").write_text(QUESTION + "\n")
    river = "Name the river that runs through the old town and past the castle on the hill every spring."
    (tmp_path / "other.jsonl").write_text(json.dumps({"q": river}) + "\n")
    inputs = corpus(tmp_path / "in", 2, 14, [QUESTION])
    benchmarks = {"mmlu": str(tmp_path / "mmlu.txt"), "other": str(tmp_path / "other.jsonl")}
    config = job(tmp_path, inputs, tmp_path / "run", benchmarks)
    run_pipeline(load_pipeline(config), workers=1, progress=False)
    stats = json.loads((tmp_path / "run" / "stats.json").read_text())
    step = next(s for s in stats["steps"] if s["step"] == "decontaminate")
    assert step["documents_in"] == 28 and step["dropped"] == {"contaminated:mmlu": 8} and step["kept"] == 20
    assert step["distributions"][MATCHED] == {"mmlu": 8}
    assert len(list(read_documents(tmp_path / "run" / "data"))) == 20
    removed = [
        json.loads(line)
        for path in sorted((tmp_path / "run" / "removed" / "decontaminate").glob("*.jsonl.gz"))
        for line in gzip.open(path, "rt")
    ]
    assert len(removed) == 8
    assert {r["metadata"]["drop_reason"] for r in removed} == {"decontaminate:contaminated:mmlu"}
    assert all(r["metadata"]["contaminated_by"] == ["mmlu"] for r in removed)
    report = build_report(tmp_path / "run")
    assert "<h2>Decontamination</h2>" in report
    assert "<td>mmlu</td><td>8</td><td>8</td><td>0</td>" in report and "<td>other</td><td>0</td>" in report

    # A benchmark file changed under a finished run: resuming it is refused, not mixed.
    (tmp_path / "mmlu.txt").write_text(QUESTION + "\nAnother question of the same benchmark, long enough to count.\n")
    with pytest.raises(RuntimeError, match="different pipeline configuration"):
        run_pipeline(load_pipeline(config), workers=1, progress=False)


def test_killed_run_resumes_to_exactly_the_uninterrupted_output(tmp_path):
    (tmp_path / "mmlu.txt").write_text(QUESTION + "\n")
    inputs = corpus(tmp_path / "in", 6, 400, [QUESTION])
    benchmarks = {"mmlu": str(tmp_path / "mmlu.txt")}
    reference = tmp_path / "reference"
    subprocess.run(
        [*CLI, "run", job(tmp_path, inputs, reference, benchmarks, 2), "--no-progress"], check=True, capture_output=True
    )

    out = tmp_path / "killed"
    config = job(tmp_path, inputs, out, benchmarks, 2)

    def some_file_started_but_unfinished() -> bool:
        progress = {p.stem for p in (out / ".progress").glob("*.json")}
        started = {p.name[:5] for p in (out / "data").glob("*.parquet")} if (out / "data").exists() else set()
        return bool(started - progress)

    kill_run_when(["run", config, "--no-progress"], some_file_started_but_unfinished)
    assert len(list((out / ".progress").glob("*.json"))) < 6

    subprocess.run([*CLI, "run", config, "--no-progress"], check=True, capture_output=True)
    assert output_files(out) == output_files(reference)
    assert len(list(read_documents(out / "data"))) == sum(1 for i in range(6 * 400) if i % 7 >= 2)


def test_the_ray_executor_gives_the_local_output_byte_for_byte(tmp_path):
    pytest.importorskip("ray")
    (tmp_path / "mmlu.txt").write_text(QUESTION + "\n")
    inputs = corpus(tmp_path / "in", 3, 40, [QUESTION])
    benchmarks = {"mmlu": str(tmp_path / "mmlu.txt")}
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}  # the run starts a local Ray and stops it
    for name, flags in (("local", []), ("ray", ["--executor", "ray"])):
        config = job(tmp_path, inputs, tmp_path / name, benchmarks, 2)
        done = subprocess.run([*CLI, "run", config, "--no-progress", *flags], capture_output=True, text=True, env=env)
        assert done.returncode == 0, done.stderr
    expected = output_files(tmp_path / "local")
    assert any(p.parts[0] == "removed" for p in expected) and len(expected) > 10
    assert output_files(tmp_path / "ray") == expected


def test_a_json_array_file_is_read_and_other_pipelines_keep_their_fingerprints(tmp_path):
    import hashlib

    from webcorpus.pipeline.plan import PlannedStep, _fingerprint

    (tmp_path / "q.json").write_text(json.dumps([{"question": QUESTION}, {"question": "too short"}]))
    assert Decontaminate(benchmarks={"q": str(tmp_path / "q.json")}).filter(doc(QUESTION)) == "contaminated:q"
    steps = [PlannedStep("read_parquet", {}, "read_parquet"), PlannedStep("write_parquet", {}, "write_parquet")]
    old = json.dumps({"steps": [[s.name, s.options] for s in steps], "removed": True}, sort_keys=True)
    assert _fingerprint(steps, True) == hashlib.sha256(old.encode()).hexdigest()[:16]

"""A run that keeps nothing finishes: the table, stats.json and report.html, exit status 3, and one line
naming the step that dropped everything (with a hint for a language written without spaces)."""

import json
from pathlib import Path

from click.testing import CliRunner
from conftest import many_pages

from webcorpus.cli import EXIT_NOTHING_KEPT, main
from webcorpus.testing.sample_warc import Page, article, write_warc

KYOTO = [
    "秋の京都は紅葉がとても美しい季節です。朝早く出かけると、観光客が少なく、静かなお寺の庭をゆっくり楽しむことができます。",
    "昼ごろには小さな食堂で湯豆腐を食べました。温かくてやさしい味で、歩き疲れた体がほっとしました。",
    "午後は川沿いの道を歩いて、古い町家が並ぶ通りを見に行きました。店先には季節の和菓子が並んでいました。",
    "夕方になると空が赤く染まり、山の向こうに日が沈んでいきました。旅の最後に見た景色は忘れられません。",
]
AFTER_THE_FIRST_PASS = ["minhash_dedup", "read_parquet", "pii", "write_parquet", "train_tokenizer", "tokenize"]


def japanese_pages(count: int, start: int = 0) -> list[Page]:
    """Japanese articles that pass extraction and language ID (each with its own opening line)."""
    pages = []
    for i in range(start, start + count):
        paragraphs = [f"第{i}話。", *KYOTO[i % 4 :], *KYOTO[: i % 4]]
        html = article(f"site{i}.example.jp", f"京都の旅 {i}", paragraphs, lang="ja")
        pages.append(Page(f"https://site{i}.example.jp/article/{i}", html.encode("utf-8")))
    return pages


def pipeline(tmp_path: Path, steps: str, inputs: str = "*.warc.gz") -> Path:
    path = tmp_path / "pipeline.yaml"
    path.write_text(f"input: {tmp_path / inputs}\noutput: {tmp_path / 'out'}\nsteps:\n{steps}")
    return path


def run(*args) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["run", *map(str, args), "--no-progress"])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result.exit_code, result.output


# FineWeb's recipe with Japanese kept by language ID: Gopher counts each character as a word of one.
JAPANESE_THROUGH_FINEWEB = """\
  - read_warc: {}
  - extract: {}
  - langid: {languages: [ja]}
  - gopher_quality: {min_avg_word_length: 3}
  - write_parquet: {}
  - minhash_dedup: {}
  - pii: {}
  - train_tokenizer: {vocab_size: 300}
  - tokenize: {}
"""


def test_a_run_that_keeps_nothing_writes_everything_and_names_the_step(tmp_path):
    write_warc(tmp_path / "ja.warc.gz", japanese_pages(9))
    job, out = pipeline(tmp_path, JAPANESE_THROUGH_FINEWEB), tmp_path / "out"
    status, output = run(job)
    assert status == EXIT_NOTHING_KEPT == 3
    lines = output.strip().splitlines()
    assert lines[-2:] == [
        "nothing kept: gopher_quality dropped 9 of 9 as short_words",
        "for a language without spaces use the fineweb2 recipe (webcorpus run fineweb2)",
    ]
    table = {line.split()[0]: line for line in lines if line and line.split()[0] in AFTER_THE_FIRST_PASS}
    assert set(table) == set(AFTER_THE_FIRST_PASS)
    assert all(row.endswith("not run: no documents") for row in table.values())

    summary = json.loads((out / "stats.json").read_text())
    assert summary["documents_out"] == 0 and summary["nothing_kept"] == lines[-2:]
    steps = {s["step"]: s for s in summary["steps"]}
    assert steps["gopher_quality"]["dropped"] == {"short_words": 9}
    assert steps["gopher_quality"]["distributions"]["language_dropped"] == {"ja": 9}
    assert {s["step"] for s in summary["steps"] if s.get("not_run") == "no documents"} == set(AFTER_THE_FIRST_PASS)
    assert not (out / "minhash_dedup").exists() and not (out / "tokenizer.json").exists()
    html = (out / "report.html").read_text()
    assert "nothing kept: gopher_quality dropped 9 of 9 as short_words" in html and "not run: no documents" in html

    # A rerun does the same, and `webcorpus stats` counts the empty corpus.
    again_status, again = run(job)
    assert again_status == 3 and again.strip().splitlines()[-2:] == lines[-2:]
    rerun = json.loads((out / "stats.json").read_text())
    assert [(s["step"], s["kept"], s.get("not_run")) for s in rerun["steps"]] == [
        (s["step"], s["kept"], s.get("not_run")) for s in summary["steps"]
    ]
    counted = CliRunner().invoke(main, ["stats", str(out), "--json"])
    assert counted.exit_code == 0 and json.loads(counted.output)["documents"] == 0


def test_a_later_pass_that_drops_everything_skips_the_steps_after_it(tmp_path):
    write_warc(tmp_path / "ja.warc.gz", japanese_pages(4))
    steps = """\
  - read_warc: {}
  - extract: {}
  - langid: {languages: [ja]}
  - write_parquet: {}
  - minhash_dedup: {}
  - gopher_quality: {min_avg_word_length: 3}
  - train_tokenizer: {vocab_size: 300}
  - tokenize: {}
"""
    status, output = run(pipeline(tmp_path, steps))
    summary = json.loads((tmp_path / "out" / "stats.json").read_text())
    kept = {s["step"]: s["kept"] for s in summary["steps"] if not s.get("not_run")}
    assert status == 3 and kept["minhash_dedup"] > 0 and kept["gopher_quality"] == 0
    assert f"nothing kept: gopher_quality dropped {kept['minhash_dedup']} of {kept['minhash_dedup']}" in output
    assert [s["step"] for s in summary["steps"] if s.get("not_run")] == ["train_tokenizer", "tokenize"]
    assert (tmp_path / "out" / "report.html").is_file()


def test_slices_that_keep_nothing_merge_with_the_others(tmp_path):
    # Slice 0 holds Japanese pages (all dropped), slice 1 English ones, slice 2 no input file at all.
    write_warc(tmp_path / "a.warc.gz", japanese_pages(3))
    write_warc(tmp_path / "b.warc.gz", many_pages(4))
    steps = """\
  - read_warc: {}
  - extract: {}
  - langid: {languages: [en, ja]}
  - gopher_quality: {min_avg_word_length: 3}
  - write_parquet: {}
  - minhash_dedup: {}
"""
    job = pipeline(tmp_path, steps)
    slices = [run(job, "-o", tmp_path / "runs" / str(i), "--shard", f"{i}/3") for i in range(3)]
    assert [status for status, _ in slices] == [3, 0, 3]
    assert "4 documents from 1 files" in slices[1][1] and "not run: left for --merge" in slices[1][1]
    assert "nothing kept: read_warc read no documents" in slices[2][1]
    status, output = run(job, "-o", tmp_path / "merged", "--merge", tmp_path / "runs" / "*")
    assert status == 0, output
    summary = json.loads((tmp_path / "merged" / "stats.json").read_text())
    steps_by_name = {s["step"]: s for s in summary["steps"]}
    assert steps_by_name["gopher_quality"]["distributions"]["language_dropped"] == {"ja": 3}
    assert steps_by_name["minhash_dedup"]["documents_in"] == 4 == summary["documents_out"]

    # Every slice empty: the merge runs no corpus step and says so.
    empty = tmp_path / "empty"
    write_warc(empty / "a.warc.gz", japanese_pages(2))
    job = pipeline(empty, steps)
    assert [run(job, "-o", empty / "runs" / str(i), "--shard", f"{i}/2")[0] for i in range(2)] == [3, 3]
    status, output = run(job, "-o", empty / "merged", "--merge", empty / "runs" / "*")
    assert status == 3 and "nothing kept: gopher_quality dropped 2 of 2 as short_words" in output
    merged = json.loads((empty / "merged" / "stats.json").read_text())
    assert [s["step"] for s in merged["steps"] if s.get("not_run")] == ["minhash_dedup"]

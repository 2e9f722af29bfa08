"""Per language in a run's outputs: every step's kept and dropped documents, and tokenize's bytes per token."""

import gzip
import json
from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from conftest import many_pages
from test_empty_run import japanese_pages

from webcorpus.cli import main
from webcorpus.parquet import read_documents
from webcorpus.pipeline.executors import CorpusContext
from webcorpus.testing.sample_warc import FOREIGN, Page, article, write_warc
from webcorpus.tokens.bpe import load_tokenizer
from webcorpus.tokens.tokenize import Tokenize

STEPS = """\
  - read_warc: {}
  - extract: {}
  - langid: {languages: [en, ja]}
  - exact_dedup: {}
  - write_parquet: {}
  - minhash_dedup: {}
  - train_tokenizer: {vocab_size: 400}
  - tokenize: {}
"""


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    """English and Japanese kept, a German page dropped by langid, an exact copy (another URL) dropped by
    exact_dedup, and pages repeated in the second file for minhash_dedup."""
    root = tmp_path_factory.mktemp("languages")
    english, japanese = many_pages(4), japanese_pages(3)
    url, (language, title, paragraphs) = next(iter(FOREIGN.items()))
    german = Page(url, article(url.split("/")[2], title, paragraphs, lang=language).encode("utf-8"))
    copy = Page("https://mirror.example.net/copy", english[0].body)
    write_warc(root / "a.warc.gz", [*english[:3], copy, japanese[0], japanese[1], german])
    write_warc(root / "b.warc.gz", [english[3], english[1], japanese[2]])
    job = root / "job.yaml"
    job.write_text(f"input: {root}/*.warc.gz\noutput: {root / 'out'}\nsteps:\n{STEPS}")
    result = CliRunner().invoke(main, ["run", str(job), "--no-progress", "-w", "1"])
    assert result.exit_code == 0, result.output
    return root / "out"


def steps_of(run_dir: Path) -> dict[str, dict]:
    return {s["step"]: s for s in json.loads((run_dir / "stats.json").read_text())["steps"]}


def removed_languages(run_dir: Path, step: str) -> Counter:
    found: Counter = Counter()
    for path in (run_dir / step / "removed" / step).glob("*.jsonl.gz"):
        with gzip.open(path, "rt") as f:
            found.update(json.loads(line)["metadata"].get("language") for line in f)
    return found


def test_every_step_counts_kept_and_dropped_per_language(run_dir):
    steps = steps_of(run_dir)
    languages = {name: (s["distributions"].get("language_kept"), s["distributions"].get("language_dropped"))
                 for name, s in steps.items()}  # fmt: skip
    assert languages["extract"] == ({"(none)": 10}, {})  # before language ID: no language yet
    assert languages["langid"][1] == {"de": 1}  # counted with the language langid gave it
    assert languages["exact_dedup"] == ({"en": 5, "ja": 3}, {"en": 1})
    # Each filter's languages add up to its counts (langid's own kept count is the lead's to retire).
    for name in ("extract", "exact_dedup"):
        kept, dropped = languages[name]
        assert sum(kept.values()) == steps[name]["kept"]
        assert sum(dropped.values()) == sum(steps[name]["dropped"].values())
    # minhash_dedup, a corpus step: what it wrote and what it removed, by the Parquet language column.
    kept, dropped = languages["minhash_dedup"]
    assert kept == dict(Counter(d.metadata["language"] for d in read_documents(run_dir / "minhash_dedup" / "data")))
    # The repeated English page, and two of the three Japanese pages: the same paragraphs in another order,
    # near-duplicates by their Japanese words' 5-grams.
    assert dropped == dict(removed_languages(run_dir, "minhash_dedup")) == {"en": 1, "ja": 2}

    html = (run_dir / "report.html").read_text()
    table = html[html.index("<table id='languages-per-step'>") :]
    table = table[: table.index("</table>")]
    assert "<th>en</th><th>(none)</th><th>ja</th><th>de</th>" in table and "minhash_dedup" in table


def test_tokenize_records_bytes_per_token_per_language(run_dir, tmp_path):
    tokenize = steps_of(run_dir)["tokenize"]
    languages = tokenize["summary"]["languages"]
    # Against an independent count: every finished document encoded on its own.
    tokenizer, _ = load_tokenizer(run_dir / "tokenizer.json")
    expected: dict[str, Counter] = {}
    for document in read_documents(run_dir / "minhash_dedup" / "data"):
        row = expected.setdefault(document.metadata["language"], Counter())
        row.update(documents=1, bytes=len(document.text.encode("utf-8")),
                   tokens=len(tokenizer.encode(document.text, add_special_tokens=False).ids))  # fmt: skip
    assert set(languages) == {"en", "ja"}
    for language, row in expected.items():
        assert {k: languages[language][k] for k in row} == dict(row)
        assert languages[language]["bytes_per_token"] == round(row["bytes"] / row["tokens"], 3)
    # The tokens of text plus one separator per document are the tokens written.
    assert sum(r["tokens"] + r["documents"] for r in languages.values()) == tokenize["counts"]["tokens"]
    html = (run_dir / "report.html").read_text()
    assert "<table id='bytes-per-token'>" in html and f"<td>{languages['ja']['bytes_per_token']:.3f}</td>" in html

    # format parquet counts the same, also when it resumes over tables already written.
    step, context = Tokenize(tokenizer=str(run_dir / "tokenizer.json"), format="parquet"), CorpusContext.local()
    try:
        for _ in range(2):
            summary = step.run_corpus([run_dir / "minhash_dedup" / "data"], tmp_path / "tokens", context).figures
            assert summary["languages"] == languages
    finally:
        context.executor.close()
    finished = sum(1 for _ in read_documents(run_dir / "minhash_dedup" / "data"))
    assert sum(pq.read_metadata(p).num_rows for p in (tmp_path / "tokens").glob("*.parquet")) == finished == 5

"""Quality classifiers: train-classifier, fasttext_classifier and score_filter, with real fastText models."""

from __future__ import annotations

import functools
import http.server
import json
import random
import re
import threading
from pathlib import Path

import fasttext
import pytest
from click.testing import CliRunner

from webcorpus.cli import main
from webcorpus.document import Document
from webcorpus.parquet import read_documents
from webcorpus.pipeline.options import OptionError
from webcorpus.stages.fasttext_classifier import FastTextClassifier, load_model
from webcorpus.stages.score_filter import ScoreFilter

GOOD = "council library museum research river history science garden report study community archive".split()
SPAM = "buy cheap casino click free bonus winner offer discount deal loan now".split()
SMALL = ["--bucket", "20000", "--dim", "16"]  # a small model: the recipe's 2M n-gram rows would be 800 MB


def texts(words: list[str], count: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return [
        " ".join(rng.choice(words) for _ in range(rng.randint(6, 14))) + "\n" + " ".join(rng.choices(words, k=5))
        for _ in range(count)
    ]


def write_jsonl(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(json.dumps({"text": t}) + "\n" for t in lines))
    return path


@pytest.fixture(scope="module")
def model_path(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("model")
    positive = write_jsonl(folder / "good.jsonl", texts(GOOD, 300, 1))
    negative = write_jsonl(folder / "spam.jsonl", texts(SPAM, 300, 2))
    out = folder / "quality.bin"
    result = CliRunner().invoke(main, ["train-classifier", str(positive), str(negative), "-o", str(out), *SMALL])
    assert result.exit_code == 0, result.output
    figures = re.search(r"precision (\S+), recall (\S+)", result.output)
    assert figures and float(figures[1]) >= 0.95 and float(figures[2]) >= 0.95, result.output
    counts = re.search(r"hq: (\d+) trained, (\d+) held out, cc: (\d+) trained, (\d+) held out", result.output)
    assert counts and int(counts[1]) + int(counts[2]) == 300 and int(counts[3]) + int(counts[4]) == 300
    assert 0 < int(counts[2]) < 60  # about 10% held out
    assert not list(folder.glob(".*tmp"))  # written by rename
    return out


def test_training_is_deterministic(model_path, tmp_path):
    positive, negative = model_path.parent / "good.jsonl", model_path.parent / "spam.jsonl"
    again = tmp_path / "again.bin"
    result = CliRunner().invoke(main, ["train-classifier", str(positive), str(negative), "-o", str(again), *SMALL])
    assert result.exit_code == 0, result.output
    assert again.read_bytes() == model_path.read_bytes()


def test_scores_are_fasttexts_own_predictions(model_path):
    step = FastTextClassifier(model=str(model_path), lowercase=True)
    raw = fasttext.load_model(str(model_path))
    documents = [Document(str(i), "", t) for i, t in enumerate(texts(GOOD, 20, 3) + texts(SPAM, 20, 4))]
    documents.append(Document("upper", "", "CASINO Library\n\nRIVER"))
    list(step.run(documents))
    for document in documents:
        labels, scores = raw.predict(document.text.replace("\n", " ").lower(), k=-1)
        expected = {f"quality_{label.removeprefix('__label__')}": float(s) for label, s in zip(labels, scores)}
        assert {k: v for k, v in document.metadata.items() if k.startswith("quality_")} == expected
    assert documents[0].metadata["quality_hq"] > 0.5 > documents[-2].metadata["quality_hq"]
    assert step.stats.kept == len(documents)  # scoring is not keeping


def test_batched_and_one_at_a_time_agree(model_path, monkeypatch):
    batched = [Document(str(i), "", t) for i, t in enumerate(texts(GOOD + SPAM, 600, 5))]
    single = [Document(d.id, d.url, d.text) for d in batched]
    list(FastTextClassifier(model=str(model_path)).run(batched))
    monkeypatch.setattr(FastTextClassifier, "batch_size", 1)
    list(FastTextClassifier(model=str(model_path)).run(single))
    assert [d.metadata for d in batched] == [d.metadata for d in single]


def test_per_language_models_and_thresholds(model_path):
    step = FastTextClassifier(per_language={"en": {"model": str(model_path)}})
    english = Document("1", "", "library river", {"language": "en"})
    german = Document("2", "", "library river", {"language": "de"})
    list(step.run([english, german]))
    assert "quality_hq" in english.metadata and "quality_hq" not in german.metadata
    keep = ScoreFilter(threshold=0.99, per_language={"en": {"threshold": 0.5}}, missing="keep")
    assert [keep.filter(english), keep.filter(german)] == [None, None]
    assert ScoreFilter(threshold=0.5).filter(german) == "no_score"


def test_pipeline_keeps_exactly_the_documents_at_or_over_the_threshold(model_path, tmp_path):
    from webcorpus.stages.write_parquet import ParquetWriter

    documents = [Document(f"d{i}", f"https://x.org/{i}", t) for i, t in enumerate(texts(GOOD + SPAM, 60, 6))]
    writer = ParquetWriter()
    writer.open(tmp_path / "in", "part")
    list(writer.run(documents))
    raw = fasttext.load_model(str(model_path))
    score = {d.id: dict(zip(*raw.predict(d.text.replace("\n", " "), k=-1)))["__label__hq"] for d in documents}
    threshold = 0.5
    config = tmp_path / "quality.yaml"
    config.write_text(
        f"input: {tmp_path / 'in'}\noutput: {tmp_path / 'out'}\nsteps:\n  - read_parquet\n"
        f"  - fasttext_classifier: {{model: {model_path}}}\n"
        f"  - score_filter: {{score: quality_hq, threshold: {threshold}}}\n  - write_parquet\n"
    )
    result = CliRunner().invoke(main, ["run", str(config), "--no-progress", "--workers", "1"])
    assert result.exit_code == 0, result.output
    kept = {d.id: d for d in read_documents(tmp_path / "out" / "data")}
    assert set(kept) == {i for i, s in score.items() if s >= threshold}
    assert 0 < len(kept) < len(documents)
    assert all(d.metadata["quality_hq"] == pytest.approx(score[d.id]) for d in kept.values())
    stats = json.loads((tmp_path / "out" / "stats.json").read_text())
    text = json.dumps(stats)
    assert f'"below_threshold": {len(documents) - len(kept)}' in text


def test_a_missing_model_in_the_yaml_is_named_before_the_run(tmp_path):
    config = tmp_path / "bad.yaml"
    config.write_text(f"input: {tmp_path}\noutput: {tmp_path / 'out'}\nsteps:\n  - read_parquet\n"
                      "  - fasttext_classifier: {model: nowhere.bin}\n  - write_parquet\n")  # fmt: skip
    result = CliRunner().invoke(main, ["run", str(config), "--no-progress"])
    assert result.exit_code != 0 and "nowhere.bin: no such file" in result.output


@pytest.fixture
def served(model_path):
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(model_path.parent))
    handler.log_message = lambda *args: None  # type: ignore[attr-defined]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_a_model_from_a_url(served, model_path, tmp_path, monkeypatch):
    monkeypatch.setenv("WEBCORPUS_SCRATCH", str(tmp_path / "scratch"))
    load_model.cache_clear()
    document = Document("1", "", "library river museum")
    list(FastTextClassifier(model=f"{served}/{model_path.name}").run([document]))
    local = Document("1", "", "library river museum")
    list(FastTextClassifier(model=str(model_path)).run([local]))
    assert document.metadata == local.metadata
    assert not list((tmp_path / "scratch").iterdir())  # the copy is gone once loaded
    with pytest.raises(OptionError) as error:
        FastTextClassifier(model=f"{served}/{model_path.name}", max_model_bytes=1000)
    assert "larger than max_model_bytes" in str(error.value) and "\n" not in str(error.value)


def test_a_bad_model_file_is_one_line_naming_it(tmp_path):
    bad = tmp_path / "garbage.bin"
    bad.write_bytes(b"this is not a model" * 100)
    result = CliRunner().invoke(main, ["fasttext-classifier", "--model", str(bad)], input="")
    assert result.exit_code != 0
    assert f"model {bad}: not a fastText model" in result.output
    assert len(result.output.strip().splitlines()) == 1, result.output

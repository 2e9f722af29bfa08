import gzip
import json
import os
import random
import subprocess
from collections import Counter

import pytest
from conftest import CLI, kill_run_when, output_files, run_corpus_step

from webcorpus.dedup.batch import MinHashDedup
from webcorpus.document import Document
from webcorpus.parquet import read_documents, shard_paths
from webcorpus.pipeline.executors import CorpusContext
from webcorpus.pipeline.options import OptionError
from webcorpus.stages.mix import Mix, copies_of, draw
from webcorpus.stages.write_parquet import ParquetWriter

JAPANESE = "吾輩は猫である。名前はまだ無い。どこで生れたかとんと見当がつかぬ。"
CHINESE = "学而时习之，不亦说乎？有朋自远方来，不亦乐乎？"


def words(rng: random.Random, n: int) -> str:
    return " ".join("".join(rng.choice("abcdefghijklmnop") for _ in range(rng.randint(3, 8))) for _ in range(n))


def mixed_documents() -> list[Document]:
    """60 English (30 scored, a domain and two WARC files), 30 Japanese, 30 Chinese documents, interleaved."""
    rng = random.Random(7)
    docs = []
    for i in range(120):
        kind = ("en", "en", "ja", "zh")[i % 4]
        text = {"en": words(rng, 30), "ja": JAPANESE * (1 + i % 3), "zh": CHINESE * (1 + i % 2)}[kind]
        host = "news.example.jp" if i % 8 == 0 else f"site{i}.example.com"
        metadata = {"language": kind, "warc_file": f"CC-MAIN-2024-{10 + i % 2}/part-{i}.warc.gz"}
        if kind == "en" and i % 8 == 1:
            metadata["quality_hq"] = (i % 16) / 16  # 0.0625 or 0.5625
        docs.append(Document(f"doc{i:04d}", f"https://{host}/{i}", text, metadata))
    return docs


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    folder = tmp_path_factory.mktemp("mix") / "in"
    ParquetWriter(rows_per_shard=40).write(mixed_documents(), folder)
    assert len(shard_paths(folder)) == 3
    return folder


def run(source, target, workers=1, **options):
    step = Mix(**options)
    return step, run_corpus_step(step, source, target, workers)


def written(target):
    return list(read_documents(target / "data"))


def removed_rows(target):
    return [
        json.loads(line)
        for path in sorted((target / "removed" / "mix").glob("*.jsonl.gz"))
        for line in gzip.open(path, "rt")
    ]


PARTS = {"japanese": {"language": "ja", "weight": 2}, "chinese": {"language": ["zh"], "weight": 0.5}}


def test_weights_give_exactly_the_hashed_draws_copies(corpus, tmp_path):
    step, result = run(corpus, tmp_path / "out", parts=PARTS, seed=3)
    docs = written(tmp_path / "out")
    by_part = Counter(d.metadata["mix_part"] for d in docs)
    chinese = [d for d in mixed_documents() if d.metadata["language"] == "zh"]
    sampled = sum(draw(3, d.id) < 0.5 for d in chinese)
    assert 5 < sampled < 25  # about half of 30
    assert by_part == {"japanese": 60, "chinese": sampled, "other": 60}
    # Copies follow each other, with their document's id and mix_copy 0, 1.
    japanese = [(d.id, d.metadata["mix_copy"]) for d in docs if d.metadata["mix_part"] == "japanese"]
    assert japanese[:4] == [("doc0002", 0), ("doc0002", 1), ("doc0006", 0), ("doc0006", 1)]
    assert all(d.text in (JAPANESE, JAPANESE * 2, JAPANESE * 3) for d in docs if d.metadata["language"] == "ja")
    removed = removed_rows(tmp_path / "out")
    assert len(removed) == 30 - sampled
    assert {r["metadata"]["drop_reason"] for r in removed} == {"mix:not_sampled:chinese"}
    assert all(r["metadata"]["language"] == "zh" and r["metadata"]["mix_part"] == "chinese" for r in removed)
    parts = {part.pop("part"): part for part in result.figures["parts"]}
    assert list(parts) == ["japanese", "chinese", "other"]
    characters = 30 * 2 * len(JAPANESE)  # 1, 2 or 3 times the sentence, 2 on average
    assert parts["japanese"] == {"weight": 2.0, "documents_in": 30, "documents_out": 60,
                                 "characters_in": characters, "characters_out": 2 * characters}  # fmt: skip
    assert parts["chinese"]["documents_out"] == sampled and parts["other"]["documents_out"] == 60
    assert step.stats.documents_in == 120 and step.stats.kept == 120 + sampled
    assert step.stats.dropped == {"not_sampled:chinese": 30 - sampled}
    assert step.stats.counts["copies"] == 30
    assert f"120 documents in 3 shards -> {120 + sampled} written" in result.line


def test_a_part_sized_in_characters_gets_the_weight_that_size_needs(corpus, tmp_path):
    japanese = sum(len(d.text) for d in mixed_documents() if d.metadata["language"] == "ja")
    chinese = sum(len(d.text) for d in mixed_documents() if d.metadata["language"] == "zh")
    sized = {"japanese": {"language": "ja", "characters": 2 * japanese},
             "chinese": {"language": ["zh"], "characters": chinese // 2}}  # fmt: skip
    assert chinese % 2 == 0
    _, result = run(corpus, tmp_path / "sized", parts=sized, seed=3)
    run(corpus, tmp_path / "weighted", parts=PARTS, seed=3)
    assert output_files(tmp_path / "sized") == output_files(
        tmp_path / "weighted"
    )  # weights 2 and 0.5, found by counting
    assert [(p["part"], p["weight"], p.get("characters_target")) for p in result.figures["parts"]] == [
        ("japanese", 2.0, 2 * japanese),
        ("chinese", 0.5, chinese // 2),
        ("other", 1.0, None),
    ]
    assert len(list((tmp_path / "sized" / ".progress").glob("count_*.json"))) == 3
    with pytest.raises(OptionError, match=r"parts\.ja: give 'weight' or 'characters', not both"):
        Mix(parts={"ja": {"language": "ja", "weight": 1, "characters": 10}})


def test_a_fractional_weight_above_one(corpus, tmp_path):
    run(corpus, tmp_path / "out", parts={"all": {"weight": 1.5}}, seed=5)
    copies = Counter(d.id for d in written(tmp_path / "out"))
    expected = {d.id: copies_of(1.5, draw(5, d.id)) for d in mixed_documents()}
    assert copies == expected and set(copies.values()) == {1, 2}


def test_same_seed_same_bytes_on_any_worker_count_and_another_seed_differs(corpus, tmp_path):
    run(corpus, tmp_path / "a", workers=1, parts=PARTS, seed=1)
    run(corpus, tmp_path / "b", workers=2, parts=PARTS, seed=1)
    run(corpus, tmp_path / "c", workers=1, parts=PARTS, seed=2)
    assert output_files(tmp_path / "a") == output_files(tmp_path / "b")
    assert output_files(tmp_path / "a") != output_files(tmp_path / "c")


def test_selectors_first_part_wins_and_the_rest_can_be_dropped(corpus, tmp_path):
    parts = {
        "jp_news": {"domain": ".jp", "weight": 1},  # news.example.jp, any language
        "good": {"column": "quality_hq", "min": 0.5, "weight": 1},
        "march": {"input": "CC-MAIN-2024-11/*", "language": "en", "weight": 1},
        "cjk": {"column": "language", "values": ["ja", "zh"], "weight": 1},
    }
    step, result = run(corpus, tmp_path / "out", parts=parts, other=0)
    docs = {d.id: d.metadata["mix_part"] for d in written(tmp_path / "out")}
    for doc in mixed_documents():
        i, m = int(doc.id[3:]), doc.metadata
        if i % 8 == 0:
            assert docs[doc.id] == "jp_news"  # also English of 2024-10: the first part takes it
        elif m.get("quality_hq", 0) >= 0.5:
            assert docs[doc.id] == "good"
        elif m["language"] == "en" and i % 2 == 1:
            assert docs[doc.id] == "march"
        elif m["language"] in ("ja", "zh"):
            assert docs[doc.id] == "cjk"
        else:
            assert doc.id not in docs
    removed = removed_rows(tmp_path / "out")
    assert removed and {r["metadata"]["drop_reason"] for r in removed} == {"mix:not_in_mix"}
    assert len(docs) + len(removed) == 120 and step.stats.dropped == {"not_in_mix": len(removed)}
    assert result.figures["parts"][-1] == {"part": "other", "weight": 0.0, "documents_in": len(removed),
                                           "characters_in": sum(len(r["text"]) for r in removed),
                                           "documents_out": 0, "characters_out": 0}  # fmt: skip


def test_cli(corpus, tmp_path):
    from click.testing import CliRunner

    from webcorpus.cli import main

    result = CliRunner().invoke(main, ["mix", str(corpus), str(tmp_path / "out"), "--other", "0.5", "--seed", "4",
                                       "-w", "1", "--no-progress"])  # fmt: skip
    assert result.exit_code == 0, result.output
    expected = sum(draw(4, d.id) < 0.5 for d in mixed_documents())
    assert len(written(tmp_path / "out")) == expected and f"-> {expected} written" in result.output


def test_options_are_checked():
    with pytest.raises(OptionError, match=r"parts\.ja: unknown key 'lang'"):
        Mix(parts={"ja": {"lang": "ja"}})
    with pytest.raises(OptionError, match=r"parts\.ja: 'weight' must be at least 0"):
        Mix(parts={"ja": {"language": "ja", "weight": -1}})
    with pytest.raises(OptionError, match=r"parts\.q: 'min' needs 'column'"):
        Mix(parts={"q": {"min": 0.5}})
    with pytest.raises(OptionError, match=r"parts\.other"):
        Mix(parts={"other": {"weight": 2}})
    with pytest.raises(OptionError, match="'parts' must be a mapping"):
        Mix(parts=["ja"])
    with pytest.raises(OptionError, match="overlap at size 3"):
        Mix(rehydrate=True, rehydrate_weights={"1-3": 1, "3+": 2})
    with pytest.raises(OptionError, match=r"parts\.ja: 'rehydrate_weights' needs 'rehydrate: true'"):
        Mix(parts={"ja": {"language": "ja", "rehydrate_weights": {"1": 1}}})
    with pytest.raises(OptionError, match="bucket 'big'"):
        Mix(rehydrate=True, rehydrate_weights={"big": 1})


def near_duplicate_corpus() -> tuple[list[Document], dict[str, int]]:
    """Documents with 0, 1, 2 or 4 near-copies (one word changed at the end of 120), after their original."""
    rng = random.Random(11)
    docs, sizes = [], {}
    for group in range(24):
        base = words(rng, 120)
        copies = (0, 1, 2, 4)[group % 4]
        sizes[f"g{group:02d}c0"] = copies + 1
        for c in range(copies + 1):
            text = base if c == 0 else f"{base} extra{c}"
            docs.append(Document(f"g{group:02d}c{c}", f"https://e.org/{group}/{c}", text, {"language": "en"}))
    return docs, sizes


def test_rehydration_by_the_cluster_sizes_minhash_dedup_recorded(tmp_path):
    docs, sizes = near_duplicate_corpus()
    ParquetWriter(rows_per_shard=20).write(docs, tmp_path / "in")
    context = CorpusContext.local(1)
    MinHashDedup().run_corpus([tmp_path / "in"], tmp_path / "dedup", context)
    kept = {d.id: d.metadata["minhash_cluster_size"] for d in read_documents(tmp_path / "dedup" / "data")}
    assert kept == sizes  # every original kept, with its cluster's size
    table = {"1": 1, "2": 3, "3-4": 2, "5+": 0}
    step, result = run(tmp_path / "dedup" / "data", tmp_path / "out", rehydrate=True, rehydrate_weights=table)
    copies = Counter(d.id for d in written(tmp_path / "out"))
    multiplier = {1: 1, 2: 3, 3: 2, 5: 0}
    assert copies == {i: multiplier[size] for i, size in sizes.items() if multiplier[size]}
    assert result.figures["rehydrate"] == [["1", 1.0], ["2", 3.0], ["3-4", 2.0], ["5+", 0.0]]
    assert {r["metadata"]["drop_reason"] for r in removed_rows(tmp_path / "out")} == {"mix:not_sampled:other"}
    assert "warning" not in result.figures
    # A part's own table before the step's (FineWeb-2 tuned one per language).
    parts = {"en": {"language": "en", "rehydrate_weights": {"1": 0, "2-3": 4, "4+": 1}}}
    _, result = run(tmp_path / "dedup" / "data", tmp_path / "own", parts=parts, rehydrate=True, rehydrate_weights=table)
    copies = Counter(d.id for d in written(tmp_path / "own"))
    multiplier = {1: 0, 2: 4, 3: 4, 5: 1}
    assert copies == {i: multiplier[size] for i, size in sizes.items() if multiplier[size]}
    assert result.figures["parts"][0]["rehydrate_weights"] == [["1", 0.0], ["2-3", 4.0], ["4+", 1.0]]
    # Without a cluster size (no minhash_dedup before): the part's weight, and a warning.
    _, result = run(tmp_path / "in", tmp_path / "plain", rehydrate=True)
    assert result.figures["without_cluster_size"] == len(docs) and "put minhash_dedup before mix" in result.line
    assert len(written(tmp_path / "plain")) == len(docs)


def pipeline_yaml(corpus, out, workers=1, steps=""):
    return (
        f"input: {corpus}\noutput: {out}\nworkers: {workers}\n"
        "steps:\n  - read_parquet\n  - write_parquet: {rows_per_shard: 5}\n"
        "  - mix: {parts: {japanese: {language: ja, weight: 2}, chinese: {language: zh, weight: 0.5}}, seed: 3}\n"
        + steps
    )


def test_fineweb2_s_published_table_of_each_language(tmp_path):
    # FineWeb-2's up_to_10 table for Italian: 1 -> 1, 2 -> 3, 17-25 -> 10, 145+ -> 1; Japanese: 3 -> 3;
    # English has none (FineWeb-2 left English to FineWeb): the step's own table, here 2 -> 2.
    sizes = {"it": [1, 2, 20, 200], "ja": [1, 3], "en": [2]}
    docs = [
        Document(
            f"{language}{size}", f"https://x.org/{size}", "text", {"language": language, "minhash_cluster_size": size}
        )
        for language, values in sizes.items()
        for size in values
    ]
    ParquetWriter().write(docs, tmp_path / "in")
    run(tmp_path / "in", tmp_path / "out", rehydrate=True, rehydrate_fineweb2=10, rehydrate_weights={1: 1, 2: 2})
    copies = Counter(d.id for d in read_documents(tmp_path / "out" / "data"))
    assert copies == {"it1": 1, "it2": 3, "it20": 10, "it200": 1, "ja1": 1, "ja3": 3, "en2": 2}
    with pytest.raises(OptionError, match="needs 'rehydrate: true'"):
        Mix(rehydrate_fineweb2=10)
    with pytest.raises(OptionError):
        Mix(rehydrate=True, rehydrate_fineweb2=11)


def test_pipeline_reports_tokens_per_part(tmp_path):
    docs, _ = near_duplicate_corpus()
    mixed = mixed_documents()[:40] + docs[:30]
    ParquetWriter(rows_per_shard=25).write(mixed, tmp_path / "in")
    job = tmp_path / "job.yaml"
    job.write_text(
        f"input: {tmp_path / 'in'}\noutput: {tmp_path / 'run'}\nworkers: 1\n"
        "steps:\n  - read_parquet\n  - write_parquet\n  - minhash_dedup\n"
        "  - mix: {parts: {japanese: {language: ja, weight: 2}, chinese: {language: zh, weight: 0.5}}, "
        "rehydrate: true, seed: 3}\n"
        "  - train_tokenizer: {vocab_size: 400}\n  - tokenize: {val_tokens: 0}\n"
    )
    done = subprocess.run([*CLI, "run", str(job), "--no-progress"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    steps = {s["step"]: s for s in json.loads((tmp_path / "run" / "stats.json").read_text())["steps"]}
    parts = {part["part"]: part for part in steps["mix"]["summary"]["parts"]}
    tokens = steps["tokenize"]["summary"]["parts"]
    assert set(parts) == set(tokens) == {"japanese", "chinese", "other"}
    for name, part in parts.items():
        assert tokens[name]["documents"] == part["documents_out"] > 0
        assert tokens[name]["tokens"] > 0
    assert sum(t["tokens"] + t["documents"] for t in tokens.values()) == steps["tokenize"]["summary"]["train"]["tokens"]
    # Rehydration by the default table (1: 1, 2: 2, 3-4: 3, 5-100: 5): integer weights give exact counts.
    multiplier = {1: 1, 2: 2, 3: 3, 4: 3, 5: 5, 6: 5, 7: 5, 8: 5, 9: 5, 10: 5}
    deduplicated = list(read_documents(tmp_path / "run" / "minhash_dedup" / "data"))
    for name, language, weight in (("japanese", "ja", 2), ("other", "en", 1)):
        sizes = [d.metadata["minhash_cluster_size"] for d in deduplicated if d.metadata["language"] == language]
        assert parts[name]["documents_out"] == sum(weight * multiplier[size] for size in sizes)
        assert max(sizes) > 1
    report = (tmp_path / "run" / "report.html").read_text()
    assert "<h2>Mix</h2>" in report and "<table id='mix'>" in report
    assert f"<td>japanese</td><td>2</td><td>{parts['japanese']['documents_in']:,}</td>" in report
    assert f"<td>{tokens['chinese']['tokens']:,}</td></tr>" in report


def test_killed_mix_resumes_to_the_same_bytes(corpus, tmp_path):
    reference, out = tmp_path / "reference", tmp_path / "killed"
    (tmp_path / "ref.yaml").write_text(pipeline_yaml(corpus, reference))
    subprocess.run([*CLI, "run", str(tmp_path / "ref.yaml"), "--no-progress"], check=True, capture_output=True)
    config = tmp_path / "job.yaml"
    config.write_text(pipeline_yaml(corpus, tmp_path / "elsewhere"))
    markers = out / "mix" / ".progress"
    kill_run_when(["run", config, "-o", out, "--no-progress"], lambda: bool(list(markers.glob("mix_*.json"))))
    assert 0 < len(list(markers.glob("mix_*.json"))) < 24
    subprocess.run([*CLI, "run", str(config), "-o", str(out), "--no-progress"], check=True, capture_output=True)
    assert output_files(out / "mix") == output_files(reference / "mix")
    assert len(output_files(out / "mix")) > 24


def test_ray_gives_the_local_bytes(corpus, tmp_path):
    pytest.importorskip("ray")
    for name, executor in (("local", []), ("ray", ["--executor", "ray"])):
        (tmp_path / f"{name}.yaml").write_text(pipeline_yaml(corpus, tmp_path / name, workers=2))
        env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}  # the run starts its own Ray
        done = subprocess.run([*CLI, "run", str(tmp_path / f"{name}.yaml"), "--no-progress", *executor],
                              capture_output=True, text=True, env=env)  # fmt: skip
        assert done.returncode == 0, done.stderr
    assert output_files(tmp_path / "ray" / "mix") == output_files(tmp_path / "local" / "mix")

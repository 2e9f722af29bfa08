import gzip
import json

import pytest
from click.testing import CliRunner

from webcorpus.cli import main
from webcorpus.dedup.batch import MinHashDedup, buckets_phase, signatures_phase
from webcorpus.document import Document
from webcorpus.parquet import read_documents, shard_paths
from webcorpus.pipeline.executors import CorpusContext
from webcorpus.pipeline.run_folder import Folder
from webcorpus.pipeline.units import run_unit
from webcorpus.stages.write_parquet import ParquetWriter
from webcorpus.testing.dedup_truth import make_corpus


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    texts, pairs = make_corpus(docs=200)
    folder = tmp_path_factory.mktemp("corpus") / "in"
    docs = [Document(f"doc{i:05d}", f"https://e.org/{i}", text, {"language": "en"}) for i, text in enumerate(texts)]
    ParquetWriter(rows_per_shard=90).write(docs, folder)
    return folder, pairs


def run_batch_dedup(source, target, step=None, workers=1):
    result = (step or MinHashDedup()).run_corpus([source], target, CorpusContext.local(workers))
    return {**result.figures, "line": result.line, "data": result.data}


def files(folder):
    return {
        p.relative_to(folder): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    }


def test_keeps_one_per_cluster_and_points_to_it(corpus, tmp_path):
    folder, pairs = corpus
    step = MinHashDedup(clusters_out=str(tmp_path / "clusters.jsonl"))
    summary = run_batch_dedup(folder, tmp_path / "out", step, workers=2)
    kept = {d.id for d in read_documents(tmp_path / "out" / "data")}
    removed = [json.loads(line) for p in (tmp_path / "out" / "removed").rglob("*.gz") for line in gzip.open(p, "rt")]
    assert len(kept) + len(removed) == summary["documents"] == 400
    assert summary["removed"] == len(removed)
    assert all(r["metadata"]["duplicate_of"] in kept for r in removed)
    assert all(r["metadata"]["drop_reason"] == "minhash_dedup:near_duplicate" for r in removed)

    similar = [p for p in pairs if p.jaccard >= 0.8]
    caught = sum(not (f"doc{p.a:05d}" in kept and f"doc{p.b:05d}" in kept) for p in similar)
    assert caught / len(similar) >= 0.95
    # The base document comes first in input order, so it is the one kept.
    assert all(f"doc{p.a:05d}" in kept for p in similar)
    unrelated = [p for p in pairs if p.jaccard < 0.5]
    wrongly = sum(f"doc{p.a:05d}" not in kept or f"doc{p.b:05d}" not in kept for p in unrelated if p.edit_rate < 0)
    assert wrongly <= 0.01 * len(unrelated)

    clusters = [json.loads(line) for line in open(tmp_path / "clusters.jsonl")]
    assert sum(len(c["removed"]) for c in clusters) == len(removed)
    assert all(c["kept"] in kept for c in clusters)

    # Each kept document carries its cluster's size (FineWeb-2's minhash_cluster_size), 1 outside clusters.
    sizes = {d.id: d.metadata["minhash_cluster_size"] for d in read_documents(tmp_path / "out" / "data")}
    expected = dict.fromkeys(kept, 1) | {c["kept"]: len(c["removed"]) + 1 for c in clusters}
    assert sizes == expected
    assert max(sizes.values()) > 1 and sum(size - 1 for size in sizes.values()) == len(removed)
    assert sorted(summary["cluster_sizes"].items()) == sorted(
        (str(size), sum(1 for s in sizes.values() if s == size)) for size in set(sizes.values()) - {1}
    )
    assert all("minhash_cluster_size" not in r["metadata"] for r in removed)


def test_same_input_gives_identical_output(corpus, tmp_path):
    folder, _ = corpus
    run_batch_dedup(folder, tmp_path / "a", workers=1)
    run_batch_dedup(folder, tmp_path / "b", workers=2)
    assert files(tmp_path / "a") == files(tmp_path / "b")


def test_interrupted_phases_resume_to_the_same_output(corpus, tmp_path):
    folder, _ = corpus
    settings = MinHashDedup()
    reference = tmp_path / "reference"
    run_batch_dedup(folder, reference, settings, workers=1)

    shards = shard_paths(folder)
    # Killed during phase 1: one shard signed (its marker not yet written), a half-written file of another.
    out = tmp_path / "killed_in_phase_1"
    signatures_phase(shards[0], 0, Folder(out), settings)
    (out / ".work" / "bands" / "001" / "000" / ".00001.npy.999.tmp").write_bytes(b"half")
    run_batch_dedup(folder, out, settings, workers=1)
    assert files(out) == files(reference)

    # Killed during phase 2 (which starts once every shard is signed): one unit bucketed.
    out = tmp_path / "killed_in_phase_2"
    for index, shard in enumerate(shards):
        run_unit(signatures_phase, Folder(out), f"signatures_{index:05d}", shard, index, Folder(out), settings)
    buckets_phase(0, 0, Folder(out))
    run_batch_dedup(folder, out, settings, workers=1)
    assert files(out) == files(reference)

    # Killed during phase 3: the clusters were never marked done.
    (out / ".progress" / "clusters.json").unlink()
    (out / ".work" / "clusters.npy").unlink()
    run_batch_dedup(folder, out, settings, workers=1)
    assert files(out) == files(reference)

    # Killed during phase 4: one output shard and its marker gone.
    first = sorted((out / "data").iterdir())[0]
    first.unlink()
    (out / ".progress" / "filter_00000.json").unlink()
    run_batch_dedup(folder, out, settings, workers=1)
    assert files(out) == files(reference)


def test_cli(corpus, tmp_path):
    folder, _ = corpus
    result = CliRunner().invoke(main, ["minhash-dedup", str(folder), str(tmp_path / "out"), "-w", "1"])
    assert result.exit_code == 0, result.output
    assert "400 documents in 5 shards" in result.output
    missing = CliRunner().invoke(main, ["minhash-dedup", str(tmp_path / "out" / "removed"), str(tmp_path / "x")])
    assert missing.exit_code == 1 and "no .parquet shards" in missing.output


@pytest.mark.parametrize("removed", [True, False])
def test_a_pipeline_runs_removed_setting_holds_for_minhash_dedup(corpus, tmp_path, removed):
    folder, _ = corpus
    job = tmp_path / "job.yaml"
    job.write_text(
        f"input: {folder}\noutput: {tmp_path / 'out'}\nworkers: 1\nremoved: {str(removed).lower()}\n"
        "steps:\n  - read_parquet\n  - write_parquet\n  - minhash_dedup\n"
    )
    result = CliRunner().invoke(main, ["run", str(job), "--no-progress"])
    assert result.exit_code == 0, result.output
    stats = json.loads((tmp_path / "out" / "stats.json").read_text())
    assert [s["dropped"] for s in stats["steps"] if s["step"] == "minhash_dedup"][0]["near_duplicate"] > 0
    assert (tmp_path / "out" / "minhash_dedup" / "removed").exists() == removed

import gzip
import io
import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from webcorpus.cli import main
from webcorpus.dedup import batch
from webcorpus.dedup.batch import MinHashDedup, buckets_phase, signatures_phase
from webcorpus.document import Document
from webcorpus.parquet import read_documents, shard_paths
from webcorpus.pipeline.corpus_shards import load_array
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


@pytest.mark.parametrize("merge_pairs", [None, 0])  # 0: a merge after every pair file
def test_clusters_across_shards_map_rows_keepers_and_ids(tmp_path, monkeypatch, merge_pairs):
    """Clusters phase alone on pair files written by hand: chains that reach across shards (an empty shard
    among them), joined only through a later file, checked against a plain union-find: each removed row is
    listed in its own shard's drops file with its cluster's first document and that document's id, and
    each keeper's size is in its own shard's file."""
    monkeypatch.setattr(batch, "MERGE_PAIRS", merge_pairs)
    rng = np.random.default_rng(7)
    sizes = [6, 0, 9, 4, 11, 7]
    shards = []
    for index, size in enumerate(sizes):
        path = tmp_path / "in" / f"{index:05d}.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.table({"id": pa.array([f"s{index}-r{row}" for row in range(size)], pa.string())}), path)
        shards.append(str(path))
    places = [(index, row) for index, size in enumerate(sizes) for row in range(size)]  # dense number -> place
    number = {place: (place[0] << 32) | place[1] for place in places}
    output = Folder(tmp_path / "out")
    parent = list(range(len(places)))

    def root(i):
        while parent[i] != i:
            i = parent[i]
        return i

    for name in ("000_000", "001_000", "002_000"):
        edges = rng.integers(0, len(places), (12, 2))
        if name == "001_000":  # a document of the last shard joins one of the first: its keeper is there
            edges[0] = (len(places) - 1, 2)
        for a, b in edges.tolist():
            ra, rb = root(a), root(b)
            parent[max(ra, rb)] = min(ra, rb)
        pairs = np.array([[number[places[a]], number[places[b]]] for a, b in edges.tolist()], dtype=np.uint64)
        output.write_bytes(f"{batch.PAIRS}/{name}.npy", _npy(pairs))

    found = batch.clusters_phase(output, shards, sizes)

    keeper_of = [root(i) for i in range(len(places))]
    assert keeper_of[-1] == keeper_of[2] < len(places) - 1
    removed = [i for i, keeper in enumerate(keeper_of) if keeper != i]
    assert found["removed"] == len(removed)
    for index in range(len(sizes)):
        drops = f"{batch.DROPS}/{index:05d}.json"
        expected = [
            [places[i][1], keeper_of[i], "s{}-r{}".format(*places[keeper_of[i]])]
            for i in removed
            if places[i][0] == index
        ]
        assert (json.loads(output.read_bytes(drops)) if output.exists(drops) else []) == expected
        keepers = sorted({keeper_of[i] for i in removed if places[keeper_of[i]][0] == index})
        cluster_size = [[places[k][1], keeper_of.count(k)] for k in keepers]
        assert load_array(output.read_bytes(f"{batch.SIZES}/{index:05d}.npy")).tolist() == cluster_size
    members = batch.cluster_members(shards, sizes, output)
    assert [m["kept"] for m in members] == [
        "s{}-r{}".format(*places[k]) for k in sorted(set(keeper_of[i] for i in removed))
    ]


def _npy(array):
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()

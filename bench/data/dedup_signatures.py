"""Batch near-duplicate removal on text: time and peak memory of all four phases, signature throughput.

    python bench/data/dedup_signatures.py [--docs 1000000] [--workers 2] [--datatrove-venv DIR]

Makes a synthetic corpus (words drawn from the standard library's docstrings; a share of documents
are lightly edited copies of earlier ones), writes it as Parquet shards, then runs the four phases of
webcorpus/dedup/batch.py, each in a fresh process so its peak memory is its own. Signature
throughput is also measured side by side with datatrove's MinhashDedupSignature (installed into a
throw-away virtualenv, or --datatrove-venv) on the first --compare-docs documents, one core each.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import random
import resource
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from webcorpus.dedup import batch as bd
from webcorpus.document import Document
from webcorpus.parquet import shard_paths
from webcorpus.pipeline.run_folder import Folder
from webcorpus.stages.write_parquet import ParquetWriter
from webcorpus.testing.dedup_truth import edit, prose_words

REPO = Path(__file__).resolve().parents[2]


def synthetic_corpus(folder: Path, docs: int, words: int, dup_rate: float, shard_rows: int) -> None:
    rng = random.Random(0)
    vocabulary = sorted(set(prose_words()))
    kept_texts: list[list[str]] = []

    def documents():
        for i in range(docs):
            if kept_texts and rng.random() < dup_rate:
                text = edit(rng.choice(kept_texts), 0.02, vocabulary, rng)
            else:
                text = rng.choices(vocabulary, k=words)
                if len(kept_texts) < 10_000:
                    kept_texts.append(text)
            yield Document(f"doc{i:08d}", f"https://e.org/{i}", " ".join(text), {})

    ParquetWriter(rows_per_shard=shard_rows).write(documents(), folder)


def _measured(queue, phase, *args):
    start = time.perf_counter()
    result = phase(*args)
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    workers = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    queue.put((time.perf_counter() - start, own, workers, result))


def in_fresh_process(phase, *args):
    context = mp.get_context("fork")
    queue = context.Queue()
    process = context.Process(target=_measured, args=(queue, phase, *args))
    process.start()
    outcome = queue.get()
    process.join()
    return outcome


def phase_signatures(shards, work, settings, workers):
    with ProcessPoolExecutor(workers) as pool:
        return list(
            pool.map(bd.signatures_phase, shards, range(len(shards)), [work] * len(shards), [settings] * len(shards))
        )


def phase_buckets(work, settings, workers):
    units = [(band, part) for band in range(settings.bands) for part in range(settings.hash_ranges)]
    with ProcessPoolExecutor(workers) as pool:
        return sum(pool.map(bd.buckets_phase, *zip(*units), [work] * len(units)))


def phase_clusters(output, shards, sizes):
    return bd.clusters_phase(output, shards, sizes)["removed"]


def phase_filter(shards, output, workers):
    n = len(shards)
    with ProcessPoolExecutor(workers) as pool:
        return sum(pool.map(bd.filter_phase, shards, range(n), [output] * n))


def compare_signatures(shards: list[Path], count: int, venv: Path | None, tmp: Path) -> None:
    texts: list[str] = []
    import pyarrow.parquet as pq

    for shard in shards:
        texts += pq.read_table(shard, columns=["text"]).column(0).to_pylist()
        if len(texts) >= count:
            break
    texts = texts[:count]
    signer = bd.MinHashDedup().signer()
    start = time.perf_counter()
    for text in texts:
        signer.signature(text)
    ours = len(texts) / (time.perf_counter() - start)
    python = (venv or tmp / "venv") / "bin" / "python"
    if not python.exists():
        print("installing datatrove[processing]==0.10.1 and spacy into a throw-away venv ...", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(python.parent.parent)], check=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", "datatrove[processing]==0.10.1", "spacy"], check=True
        )
    docs_path = tmp / "compare.jsonl"
    docs_path.write_text("".join(json.dumps({"text": t}) + "\n" for t in texts), encoding="utf-8")
    side = Path(__file__).with_name("datatrove_minhash_side.py")
    line = subprocess.run([str(python), str(side), str(docs_path), str(tmp / "dt_sigs")], check=True,
                          capture_output=True, text=True).stdout.strip().splitlines()[-1]  # fmt: skip
    theirs = json.loads(line)
    theirs_rate = theirs["documents"] / theirs["seconds"]
    print(f"\nsignatures, one core, {len(texts)} documents: webcorpus {ours:,.0f} docs/s, "
          f"datatrove MinhashDedupSignature {theirs_rate:,.0f} docs/s, ratio {ours / theirs_rate:.1f}x")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=1_000_000)
    parser.add_argument("--words", type=int, default=100, help="words per synthetic document")
    parser.add_argument("--dup-rate", type=float, default=0.1, help="share of documents that copy an earlier one")
    parser.add_argument("--shard-rows", type=int, default=50_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--compare-docs", type=int, default=5_000)
    parser.add_argument("--datatrove-venv", type=Path)
    parser.add_argument("--skip-datatrove", action="store_true")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        start = time.perf_counter()
        synthetic_corpus(tmp / "in", args.docs, args.words, args.dup_rate, args.shard_rows)
        shards = shard_paths(tmp / "in")
        print(f"corpus: {args.docs:,} documents of {args.words} words in {len(shards)} shards, "
              f"made in {time.perf_counter() - start:.0f} s")  # fmt: skip
        output, settings = Folder(tmp / "out"), bd.MinHashDedup()
        work = output  # every phase reads and writes the step's output folder (its .work/ inside)
        print(f"\n{'phase':<12}{'seconds':>9}{'peak MiB (main)':>17}{'peak MiB (worker)':>19}  result")
        rows = []
        seconds, own, workers, sizes = in_fresh_process(phase_signatures, shards, work, settings, args.workers)
        rows.append(("signatures", seconds, own, workers, f"{sum(sizes):,} docs, {sum(sizes) / seconds:,.0f} docs/s"))
        seconds, own, workers, pairs = in_fresh_process(phase_buckets, work, settings, args.workers)
        rows.append(("buckets", seconds, own, workers, f"{pairs:,} candidate pairs"))
        seconds, own, workers, removed = in_fresh_process(phase_clusters, work, [str(s) for s in shards], sizes)
        rows.append(("clusters", seconds, own, workers, f"{removed:,} to remove"))
        seconds, own, workers, dropped = in_fresh_process(phase_filter, shards, output, args.workers)
        rows.append(("filter", seconds, own, workers, f"{dropped:,} removed"))
        for name, seconds, own, workers, note in rows:
            print(f"{name:<12}{seconds:>9.1f}{own / 1024:>17.0f}{workers / 1024:>19.0f}  {note}")
        print(
            f"(signatures: {sum(sizes) / rows[0][1] / args.workers:,.0f} docs/s per core with {args.workers} workers)"
        )
        if not args.skip_datatrove:
            compare_signatures(shards, args.compare_docs, args.datatrove_venv, tmp)


if __name__ == "__main__":
    main()

"""Tokenization speed per core: the `tokenize` step against raw tiktoken on the same BPE and text.

    python bench/data/tokenize_speed.py [--vocab-size 8192] [--repeat 38] [--rounds 2] [--threads 1 0] [WARC ...]

1. extracts the pages of ../shared/data/warc/dev-*.warc.gz (read_warc + extract) and trains our
   byte-level BPE on them (`train_tokenizer`, the same code as `webcorpus train-tokenizer`; its time is printed);
2. writes `--repeat` copies of the pages as one Parquet shard (each copy's ids made distinct, so the copies
   spread over the validation and train splits as different documents would); 38 copies of the dev pages
   are ~200 MB of UTF-8;
3. alternates, `--rounds` times, in this one process:
   - raw tiktoken: `encode_ordinary` per document on one thread, over the texts already in memory
     (the `tiktoken.Encoding` that `webcorpus.tokens.tiktoken_bridge.as_tiktoken` builds from our vocabulary),
     read from the shard as Python strings before the round's clock starts: one string per document, as
     in any corpus (a list of the 38 copies as the same 945 strings would stay hot in the CPU caches, and
     CPython keeps each string's UTF-8 form after the first call that asks for it);
   - webcorpus: the whole `tokenize` step (`Tokenize.run_corpus`, one worker process: read the Parquet
     text, encode, <|endoftext|> before each document, count, write the uint16 shards), its encoder
     loaded anew each round, once per `--threads` setting (`Tokenize.threads`, encoding threads per worker
     process; 0: the step's default, `encoding_threads`: here 1 worker with 1 shard, so one per core), the
     shards of each setting checked to be the same bytes;
   and prints tokens of text per CPU second for each (the CPU time of this process and of the step's
   worker, all their threads: per core, whatever the machine's other load), wall clock beside it, and
   where the CPU went: user and kernel time of the raw loop, and of the step's worker process (waited
   for when the step ends; its start-up included, so its sum is a little more than the step's units), and
   the huge pages the machine faulted in while the step ran (Linux; 2 MB each, zeroed by the kernel);
4. checks that every document in the shards holds <|endoftext|> then exactly the ids tiktoken's
   `encode_ordinary` gives its text, in order, in the split its id's hash puts it in, and prints each
   round's ratio of tokens per CPU second, webcorpus / raw tiktoken.

`PYTHONPATH=OTHER_CHECKOUT python bench/data/tokenize_speed.py --threads 0` measures other code (the step
before `Tokenize.threads` included) with this script.
"""

from __future__ import annotations

import argparse
import dataclasses
import glob
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from webcorpus.document import Document  # first: webcorpus sets Arrow's memory pool before pyarrow loads
from webcorpus.parquet import read_table
from webcorpus.pipeline.executors import CorpusContext
from webcorpus.stages.extract import TrafilaturaExtractor
from webcorpus.stages.read_warc import WarcReader
from webcorpus.stages.write_parquet import ParquetWriter
from webcorpus.tokens.bpe import TrainTokenizer, bucket, load_tokenizer
from webcorpus.tokens.shards import TokenShards
from webcorpus.tokens.tiktoken_bridge import as_tiktoken
from webcorpus.tokens.tokenize import Tokenize

REPO = Path(__file__).resolve().parents[2]


def run_step(tokenizer: str, docs: str, out: str, threads: int) -> tuple[float, float, str, str]:
    """The tokenize step once, into `out`: (CPU seconds here and in its worker's units, wall seconds, its
    line, the worker process's user and kernel CPU seconds (its start-up included) and the machine's huge page
    faults while it ran)."""
    context = CorpusContext.local(workers=1)
    wall, cpu = time.perf_counter(), time.process_time()
    workers, huge_pages = resource.getrusage(resource.RUSAGE_CHILDREN), huge_page_faults()
    try:
        step = Tokenize(tokenizer=tokenizer)
        step.threads = threads  # code without it (81f5deb) runs this script too, with --threads 0: one per core
        result = step.run_corpus([Path(docs)], Path(out), context)
    finally:
        context.executor.close()  # the worker process goes (and is waited for): each round loads the encoder anew
    done = resource.getrusage(resource.RUSAGE_CHILDREN)
    split = f"worker {done.ru_utime - workers.ru_utime:.2f} user + {done.ru_stime - workers.ru_stime:.2f} kernel"
    if huge_pages is not None:
        split += f", {huge_page_faults() - huge_pages} huge pages faulted in"
    return time.process_time() - cpu + context.cpu_s, time.perf_counter() - wall, result.line, split


def huge_page_faults() -> int | None:
    """Transparent huge pages faulted in on this machine so far (Linux's /proc/vmstat), None elsewhere: each
    one is 2 MB the kernel zeroed, which a virtual machine may first have to get back from its host."""
    try:
        with open("/proc/vmstat") as counters:
            return next((int(line.split()[1]) for line in counters if line.startswith("thp_fault_alloc ")), None)
    except OSError:
        return None


def read_texts(docs: str) -> list[str]:
    """The documents' texts as Python strings, one per document, read from their Parquet shard."""
    return read_table(next(Path(docs).glob("*.parquet")), columns=["text"]).column("text").to_pylist()


def check_same(first: str, other: str) -> None:
    """Stop unless two tokenize outputs hold the same shards and indexes, byte for byte."""
    names = sorted(p.name for p in Path(first).glob("*_*.*") if p.suffix in (".bin", ".idx"))
    if names != sorted(p.name for p in Path(other).glob("*_*.*") if p.suffix in (".bin", ".idx")) or any(
        (Path(first) / n).read_bytes() != (Path(other) / n).read_bytes() for n in names
    ):
        sys.exit(f"{other}: not the same shards as {first}")
    shutil.rmtree(other)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    dev_warcs = sorted(glob.glob(str(REPO.parent / "shared/data/warc/dev-*.warc.gz")))
    parser.add_argument("warcs", nargs="*", default=dev_warcs)
    parser.add_argument("--vocab-size", type=int, default=8192)
    parser.add_argument("--repeat", type=int, default=38, help="Encode this many copies of the corpus.")
    parser.add_argument("--rounds", type=int, default=2, help="Times each path runs, alternating.")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 0],
                        help="Encoding threads per worker, each round (0: the step's default).")  # fmt: skip
    args = parser.parse_args()
    if not args.warcs:
        sys.exit("no WARC files given and none under ../shared/data/warc")
    reader, extractor = WarcReader(), TrafilaturaExtractor()
    extractor.start_task()
    pages = [Document(d.id, d.url, d.text) for d in extractor.run(reader.run(args.warcs))]
    with tempfile.TemporaryDirectory() as tmp:
        ParquetWriter().write(pages, f"{tmp}/pages")
        step = TrainTokenizer(vocab_size=args.vocab_size)
        summary = step.run_corpus([Path(f"{tmp}/pages")], Path(f"{tmp}/tokenizer.json"), CorpusContext.local())
        print(summary.line)
        tokenizer, end = load_tokenizer(f"{tmp}/tokenizer.json")
        encoding = as_tiktoken(tokenizer)
        documents = [dataclasses.replace(d, id=f"{d.id}/{copy}") for copy in range(args.repeat) for d in pages]
        ParquetWriter(rows_per_shard=len(documents) + 1).write(documents, f"{tmp}/docs")
        texts = read_texts(f"{tmp}/docs")
        megabytes = sum(len(t.encode()) for t in texts) / 1e6
        pool = sys.modules["pyarrow"].default_memory_pool().backend_name  # what webcorpus set: see its __init__
        print(f"{len(texts)} documents ({args.repeat} copies of {len(pages)} pages), {megabytes:.1f} MB of UTF-8, "
              f"{os.cpu_count()} cores, Arrow memory pool {pool}")  # fmt: skip

        rates: dict[str, list[float]] = {"raw": [], **{f"threads {t}": [] for t in args.threads}}
        tokens, out, line = 0, "", ""
        for round_ in range(1, args.rounds + 1):
            texts = read_texts(f"{tmp}/docs")  # new strings each round: none has its UTF-8 form yet
            wall, cpu = time.perf_counter(), time.process_time()
            before = resource.getrusage(resource.RUSAGE_SELF)
            tokens = 0
            for text in texts:
                tokens += len(encoding.encode_ordinary(text))
            after = resource.getrusage(resource.RUSAGE_SELF)
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
            rates["raw"].append(tokens / cpu)
            name = "raw tiktoken encode_ordinary, 1 thread"
            split = f"{after.ru_utime - before.ru_utime:.2f} user + {after.ru_stime - before.ru_stime:.2f} kernel"
            print(f"  round {round_}: {name:<43} {tokens / cpu:>12,.0f} tokens/CPU s "
                  f"({cpu:.2f} CPU s: {split}; {wall:.2f} s wall)")  # fmt: skip
            for threads in args.threads:
                out = f"{tmp}/tokens{round_}-{threads}"
                cpu, wall, line, split = run_step(f"{tmp}/tokenizer.json", f"{tmp}/docs", out, threads)
                rates[f"threads {threads}"].append(tokens / cpu)
                name = f"webcorpus tokenize, 1 worker, threads {threads}"
                print(f"  round {round_}: {name:<43} {tokens / cpu:>12,.0f} tokens/CPU s ({cpu:.2f} CPU s: "
                      f"{split}; {wall:.2f} s wall)")  # fmt: skip
                if out != f"{tmp}/tokens1-{args.threads[0]}":  # the first shards are kept to be checked; others
                    check_same(f"{tmp}/tokens1-{args.threads[0]}", out)  # must be the same, byte for byte
        print(line.replace(tmp, "TMP"))
        out = f"{tmp}/tokens1-{args.threads[0]}"

        # Identical ids: each document is <|endoftext|> + encode_ordinary(its text), in input order, in the
        # split its id's hash bucket puts it in (the val documents are those of the lowest buckets).
        written = {split: TokenShards(out, split).documents() for split in ("val", "train")}
        val_documents = len(TokenShards(out, "val").document_starts())
        buckets = np.array([bucket(d.id) for d in documents])
        bound = int(np.sort(buckets)[val_documents - 1]) + 1 if val_documents else 0
        same = 0
        for text, document_bucket in zip(texts, buckets.tolist()):
            got = next(written["val" if document_bucket < bound else "train"], None)
            expected = encoding.encode_ordinary(text)
            same += got is not None and len(got) == len(expected) + 1 and got[0] == end and got[1:].tolist() == expected
        left = sum(1 for split in written.values() for _ in split)
        print(f"{tokens:,} tokens of text; identical ids (<|endoftext|> + encode_ordinary, in order and split): "
              f"{same}/{len(texts)} documents, {left} more in the shards")  # fmt: skip
        for threads in args.threads:
            ratios = [ours / raw for ours, raw in zip(rates[f"threads {threads}"], rates["raw"])]
            print(f"per core, webcorpus tokenize (threads {threads}) / raw tiktoken, each round: "
                  + ", ".join(f"{r:.2f}x" for r in ratios))  # fmt: skip


if __name__ == "__main__":
    main()

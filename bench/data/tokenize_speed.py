"""Tokenization speed: our batched path, a per-document `Tokenizer.encode` loop, and tiktoken on our vocabulary.

    python bench/data/tokenize_speed.py [--vocab-size 8192] [--repeat 4] [WARC ...]

1. extracts the pages of ../shared/data/warc/dev-*.warc.gz (read_warc + extract) and trains our
   byte-level BPE on them (`train_tokenizer`, the same code as `webcorpus train-tokenizer`);
2. builds a `tiktoken.Encoding` from the same vocabulary (`webcorpus.tokens.tiktoken_bridge.as_tiktoken`: byte-level
   tokens turned back into bytes, ranks = our ids, GPT-2's split pattern);
3. encodes the same texts (`--repeat` copies of the corpus) three ways, in this process:
   - webcorpus: `BatchEncoder` over batches of 1024 documents, as `webcorpus tokenize` does (all cores;
     tiktoken's threads once the first batch matched `tokenizers`, else `encode_batch`),
   - a plain loop of `Tokenizer.encode` per document (one core),
   - tiktoken `encode_ordinary` per document (one core);
4. checks that all three give identical ids for every document, and prints tokens/s and tokens/s per
   core for each, with the ratios.
"""

from __future__ import annotations

import argparse
import glob
import os
import sys
import tempfile
import time
from pathlib import Path

from webcorpus.document import Document
from webcorpus.pipeline.executors import CorpusContext
from webcorpus.stages.extract import TrafilaturaExtractor
from webcorpus.stages.read_warc import WarcReader
from webcorpus.stages.write_parquet import ParquetWriter
from webcorpus.tokens.bpe import TrainTokenizer, load_tokenizer
from webcorpus.tokens.tiktoken_bridge import BatchEncoder, as_tiktoken

REPO = Path(__file__).resolve().parents[2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    dev_warcs = sorted(glob.glob(str(REPO.parent / "shared/data/warc/dev-*.warc.gz")))
    parser.add_argument("warcs", nargs="*", default=dev_warcs)
    parser.add_argument("--vocab-size", type=int, default=8192)
    parser.add_argument("--repeat", type=int, default=4, help="Encode this many copies of the corpus.")
    args = parser.parse_args()
    if not args.warcs:
        sys.exit("no WARC files given and none under ../shared/data/warc")
    reader, extractor = WarcReader(), TrafilaturaExtractor()
    extractor.start_task()
    documents = [Document(d.id, d.url, d.text) for d in extractor.run(reader.run(args.warcs))]
    with tempfile.TemporaryDirectory() as tmp:
        ParquetWriter().write(documents, f"{tmp}/docs")
        step = TrainTokenizer(vocab_size=args.vocab_size)
        summary = step.run_corpus([Path(f"{tmp}/docs")], Path(f"{tmp}/tokenizer.json"), CorpusContext.local())
        print(summary.line)
        tokenizer, _ = load_tokenizer(f"{tmp}/tokenizer.json")
    encoding = as_tiktoken(tokenizer)
    texts = [d.text for d in documents] * args.repeat
    megabytes = sum(len(t.encode()) for t in texts) / 1e6
    cores = os.cpu_count() or 1
    print(f"{len(texts)} documents, {megabytes:.1f} MB of UTF-8, {cores} cores")

    encoder = BatchEncoder(tokenizer)
    start = time.perf_counter()
    ours = []
    for i in range(0, len(texts), 1024):
        ours.extend(encoder.encode(texts[i : i + 1024]))
    ours_s = time.perf_counter() - start
    print(f"webcorpus encoded with {encoder.engine} (after checking 256 documents against tokenizers)")

    start = time.perf_counter()
    plain = [tokenizer.encode(text, add_special_tokens=False).ids for text in texts]
    plain_s = time.perf_counter() - start

    start = time.perf_counter()
    tik = [encoding.encode_ordinary(text) for text in texts]
    tik_s = time.perf_counter() - start

    tokens = sum(map(len, ours))
    same_plain = sum(a == b for a, b in zip(ours, plain))
    same_tik = sum(a == b for a, b in zip(ours, tik))
    print(f"{tokens:,} tokens; identical ids: plain loop {same_plain}/{len(texts)}, tiktoken {same_tik}/{len(texts)}")
    rows = [("webcorpus (batches, all cores)", ours_s, cores), ("Tokenizer.encode loop", plain_s, 1),
            ("tiktoken encode_ordinary", tik_s, 1)]  # fmt: skip
    for name, seconds, used in rows:
        rate = tokens / seconds
        print(f"  {name:<38} {rate:>12,.0f} tokens/s {rate / used:>12,.0f} per core ({seconds:.2f} s)")
    per_core_plain, per_core_tik = plain_s / (ours_s * cores), tik_s / (ours_s * cores)
    print(f"  per core: webcorpus / plain loop {per_core_plain:.2f}x, webcorpus / tiktoken {per_core_tik:.2f}x")
    print(f"  wall clock: webcorpus / plain loop {plain_s / ours_s:.2f}x, webcorpus / tiktoken {tik_s / ours_s:.2f}x")


if __name__ == "__main__":
    main()

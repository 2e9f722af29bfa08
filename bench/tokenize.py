"""Tokenization speed: our batched path, a per-document `Tokenizer.encode` loop, and tiktoken on our vocabulary.

    python bench/tokenize.py [--vocab-size 8192] [--repeat 4] [WARC ...]

1. extracts the pages of ../shared/data/warc/dev-*.warc.gz (read_warc + extract) and trains our
   byte-level BPE on them (`train_tokenizer`, the same code as `webcorpus train-tokenizer`);
2. builds a `tiktoken.Encoding` from the same vocabulary (`webcorpus.tokenizer.as_tiktoken`: byte-level
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

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
# Python puts this file's folder first on sys.path, where this file would shadow the standard
# library's `tokenize` module (imported by linecache, inspect...): put the repository there instead.
sys.path[0] = str(REPO)

import argparse  # noqa: E402
import glob  # noqa: E402
import os  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

from webcorpus.tokenizer import (  # noqa: E402
    BatchEncoder,
    TokenizerSettings,
    as_tiktoken,
    load_tokenizer,
    train_tokenizer,
)

from webcorpus.document import Document  # noqa: E402
from webcorpus.stages.extract import TrafilaturaExtractor  # noqa: E402
from webcorpus.stages.read_warc import WarcReader  # noqa: E402
from webcorpus.stages.write_parquet import ParquetShardWriter  # noqa: E402


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
        ParquetShardWriter(f"{tmp}/docs").write(documents)
        summary = train_tokenizer(f"{tmp}/docs", f"{tmp}/tokenizer.json", TokenizerSettings(args.vocab_size))
        print(summary["line"])
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

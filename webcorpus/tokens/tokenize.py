"""tokenize: Parquet documents into uint16 token shards in llm.c's layout (or Parquet with a tokens column).

Every document gets `<|endoftext|>` before it. The validation split is sized in tokens: documents go to
it in order of their id's hash bucket (bpe.py) until it holds `val_tokens` (one llm.c batch, 64 x 1024 + 1,
by default: llm.c's loader needs that much), never more than half the documents. Encoding is
deterministic, so a rerun after an interruption encodes again from the start but writes only the shards
that are missing: no document is duplicated or lost.

Per language (the Parquet `language` column) it counts documents, UTF-8 bytes of text and tokens of text
(the <|endoftext|> before each document aside) where the ids are made, so the summary's `languages` shows
which languages a tokenizer trained on a mix compresses badly, at no extra encoding.
"""

from __future__ import annotations

import functools
import json
import time
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from webcorpus.atomic import atomic_open, atomic_path, remove_stale_tmp
from webcorpus.parquet import input_shards
from webcorpus.pipeline import run_folder
from webcorpus.pipeline.executors import CorpusContext
from webcorpus.pipeline.progress import progress_bar
from webcorpus.pipeline.step import LANGUAGE_TOP, NO_LANGUAGE, CorpusStep
from webcorpus.tokens.bpe import (
    BUCKETS,
    END_OF_TEXT,
    bucket,
    input_fingerprint,
    load_tokenizer,
    write_transformers_files,
)
from webcorpus.tokens.shards import write_shard
from webcorpus.tokens.tiktoken_bridge import BatchEncoder

VAL_TOKENS = 64 * 1024 + 1  # one batch of llm.c's default B x T, plus the target of the last position
SPLITS = ("val", "train", "parquet")  # the summary's per-split figures ("parquet": format parquet's one table)
OTHER_LANGUAGES = "other"  # the languages beyond the summary's LANGUAGE_TOP, summed
# Per language: documents, UTF-8 bytes of text, tokens of text (no <|endoftext|>).
LanguageCounts = dict[str, list[int]]


class Tokenize(CorpusStep):
    """Shards in llm.c's layout: a 256 int32 header (magic 20240520, version 1, token count), then uint16
    tokens; `NAME.idx` (int64 .npy) lists where documents start. Documents run on across shard boundaries,
    as in llm.c. Also writes `tokens.json` and a copy of `tokenizer.json`. Resumable: a rerun writes only
    the missing shards; a folder made with other input or settings is refused."""

    name = "tokenize"
    summary = (
        "Encode Parquet documents into uint16 token shards in llm.c's layout (<|endoftext|> before each "
        "document; PREFIX_val_000000.bin first, then PREFIX_train_NNNNNN.bin, each with a .idx). Resumable."
    )
    output_name = "tokens"
    option_minimum = {"shard_tokens": 1, "val_tokens": 0, "batch_documents": 1}
    option_help = {
        "tokenizer": "tokenizer.json to use (in a pipeline, default: the one train_tokenizer wrote).",
        "shard_tokens": "Tokens per .bin shard (the last shard of each split is shorter).",
        "val_tokens": "Tokens in the validation split (documents taken in order of their id's hash; at most half "
        "the documents, with a warning when that is fewer; 0: none). Default: one llm.c batch, 64 x 1024 + 1.",
        "format": "'bin' for llm.c shards, 'parquet' for id + tokens columns.",
        "prefix": "Shard file name prefix (PREFIX_val_000000.bin).",
        "batch_documents": "Documents encoded per parallel batch.",
        "end_of_text": "The tokenizer's token that goes before each document (e.g. </s> for a Llama tokenizer).",
    }

    def __init__(
        self,
        tokenizer: str | None = None,
        shard_tokens: int = 100_000_000,
        val_tokens: int = VAL_TOKENS,
        format: Literal["bin", "parquet"] = "bin",
        prefix: str = "webcorpus",
        batch_documents: int = 1024,
        end_of_text: str = END_OF_TEXT,
    ) -> None:
        super().__init__()
        if shard_tokens < 1 or batch_documents < 1:
            raise ValueError("shard_tokens and batch_documents must be at least 1")
        if val_tokens < 0:
            raise ValueError("val_tokens must be at least 0")
        self.tokenizer, self.shard_tokens, self.val_tokens = tokenizer, shard_tokens, val_tokens
        self.format, self.prefix, self.batch_documents = format, prefix, batch_documents
        self.end_of_text = end_of_text

    def run_corpus(self, sources: list[Path], target: Path, context: CorpusContext) -> dict[str, Any]:
        tokenizer = self.tokenizer or context.made.get("tokenizer")
        if tokenizer is None:
            raise ValueError("tokenize needs a tokenizer: set its tokenizer option, or put train_tokenizer before it")
        summary = tokenize_corpus(sources, target, tokenizer, self, context)
        splits = [summary[split] for split in SPLITS if split in summary]
        self.stats.documents_in = self.stats.kept = sum(s["documents"] for s in splits)
        self.stats.counts["tokens"] = sum(s["tokens"] for s in splits)
        self.stats.time_s = summary["seconds"]
        return summary


class _SplitWriter:
    """Packs one split's documents into fixed-size shards; a shard already written (resume) is skipped."""

    def __init__(self, folder: Path, prefix: str, split: str, size: int, done: set[str]) -> None:
        self.folder, self.prefix, self.split, self.size, self.done = folder, prefix, split, size, done
        self.buffer = np.empty(size, dtype=np.uint16)
        self.filled = 0
        self.starts: list[int] = []
        self.number = 0
        self.tokens = self.documents = 0
        self.written: list[str] = []

    def add(self, ids: list[int]) -> None:
        self.starts.append(self.filled)
        self.documents += 1
        ids_array = np.asarray(ids, dtype=np.uint16)
        while len(ids_array):
            room = self.size - self.filled
            take = ids_array[:room]
            self.buffer[self.filled : self.filled + len(take)] = take
            self.filled += len(take)
            ids_array = ids_array[room:]
            if self.filled == self.size:
                self.flush()

    def flush(self) -> None:
        if self.filled == 0:
            return
        name = f"{self.prefix}_{self.split}_{self.number:06d}.bin"
        if name not in self.done:
            write_shard(self.folder / name, self.buffer[: self.filled], np.asarray(self.starts, dtype=np.int64))
            with atomic_open(run_folder.marker(self.folder, f"{name}.json")) as f:
                json.dump({"tokens": self.filled}, f)
        self.written.append(name)
        self.tokens += self.filled
        self.number += 1
        self.filled = 0
        self.starts = []


def tokenize_corpus(
    sources: list[Path], out: str | Path, tokenizer_path: str | Path, settings: Tokenize, context: CorpusContext
) -> dict[str, Any]:
    """Encode every document (<|endoftext|> first) into shards under `out`; resumable.

    Input shards are encoded in parallel on the executor's workers (`encode_shard`) and packed here in
    input order. Encoding is deterministic, so a rerun after an interruption encodes again from the start
    but writes only the shards that are missing: no document is duplicated or lost.
    """
    out, tokenizer_path = Path(out), Path(tokenizer_path)
    tokenizer, end = load_tokenizer(tokenizer_path, settings.end_of_text)
    # The tokenizer counts by its contents, not by the path it was given.
    names = ("shard_tokens", "val_tokens", "format", "prefix", "batch_documents", "end_of_text")
    options = {k: getattr(settings, k) for k in names}
    fingerprint = input_fingerprint(sources, options, tokenizer_path.read_bytes())
    marker = run_folder.marker(out, "settings.json")
    if marker.exists():
        if json.loads(marker.read_text())["fingerprint"] != fingerprint:
            raise ValueError(f"{out}: holds tokens made from other input or settings; use a new folder or delete it")
    elif out.exists() and any(out.iterdir()):
        raise ValueError(f"{out}: not empty and not a tokenize output; use a new folder")
    with atomic_open(marker) as f:
        json.dump({"fingerprint": fingerprint}, f)
    remove_stale_tmp(out)  # half-written shards of an interrupted run
    done = {p.name.removesuffix(".json") for p in run_folder.progress(out).glob("*.bin.json")}

    start = time.perf_counter()
    engines: set[str] = set()
    languages: LanguageCounts = {}
    val_buckets = validation_buckets(sources, tokenizer_path, settings, context)
    if settings.format == "parquet":
        encoder = BatchEncoder(tokenizer)
        summary = _tokenize_to_parquet(sources, out, encoder, end, val_buckets, languages)
        engines.add(encoder.engine)
    else:
        writers = {
            split: _SplitWriter(out, settings.prefix, split, settings.shard_tokens, done) for split in ("val", "train")
        }
        shards = input_shards(sources)
        n = len(shards)
        encoded = context.map(encode_shard, shards, [str(tokenizer_path)] * n, [settings.end_of_text] * n,
                              [val_buckets] * n, [settings.batch_documents] * n)  # fmt: skip
        with progress_bar(n, "tokenize", "shard", context.progress) as bar:
            for engine, documents, shard_languages in encoded:
                engines.add(engine)
                for is_val, ids in documents:
                    writers["val" if is_val else "train"].add(ids)
                _add_languages(languages, shard_languages)
                bar.update(1)
        for writer in writers.values():
            writer.flush()
        summary = {
            split: {"shards": len(w.written), "tokens": w.tokens, "documents": w.documents}
            for split, w in writers.items()
        }
    with atomic_path(out / run_folder.TOKENIZER) as tmp:
        tmp.write_bytes(tokenizer_path.read_bytes())
    write_transformers_files(out / run_folder.TOKENIZER, settings.end_of_text)
    with atomic_open(out / "tokens.json") as f:  # no timings in it: reruns give identical files
        json.dump({"end_of_text": end, "vocab_size": tokenizer.get_vocab_size(), **summary}, f, indent=2)
    summary["seconds"] = round(time.perf_counter() - start, 2)
    summary["engine"] = "+".join(sorted(engines)) or "none"
    parts = [
        f"{name}: {summary[name]['documents']} documents, {summary[name]['tokens']:,} tokens in "
        f"{summary[name]['shards']} shards"
        for name in SPLITS
        if name in summary
    ]
    summary["languages"] = language_summary(languages)  # after tokens.json: that file stays as it was
    summary["line"] = f"tokenize: {'; '.join(parts)} in {summary['seconds']}s ({summary['engine']}) -> {out}"
    val = summary.get("val", {}).get("tokens", 0)
    if settings.format == "bin" and val < settings.val_tokens:
        summary["warning"] = (
            f"the validation split has {val:,} tokens, fewer than val_tokens ({settings.val_tokens:,}): the corpus "
            "is too small to give more without taking over half its documents; llm.c's loader needs "
            "batch x context + 1 tokens"
        )
        summary["line"] += f"\nwarning: {summary['warning']}"
    return summary


def _count_languages(counts: LanguageCounts, languages: Any, texts: Any, token_counts: list[int]) -> None:
    """Add documents (Arrow `language` and `text` columns) and their tokens of text to `counts`; summed by
    Arrow, so a batch costs a few calls, not a Python loop over its documents."""
    table = pa.table({"language": languages, "bytes": pc.binary_length(texts), "tokens": pa.array(token_counts)})
    sums = table.group_by("language").aggregate([("bytes", "count"), ("bytes", "sum"), ("tokens", "sum")])
    names = ("language", "bytes_count", "bytes_sum", "tokens_sum")
    for language, documents, size, tokens in zip(*(sums.column(name).to_pylist() for name in names)):
        row = counts.setdefault(language or NO_LANGUAGE, [0, 0, 0])
        row[0] += documents
        row[1] += size
        row[2] += tokens


def _add_languages(total: LanguageCounts, counts: LanguageCounts) -> None:
    for language, row in counts.items():
        total[language] = [a + b for a, b in zip(total.get(language, [0, 0, 0]), row)]


def language_summary(counts: LanguageCounts) -> dict[str, dict[str, Any]]:
    """Documents, bytes, tokens and bytes per token per language, most documents first; the languages after
    the first LANGUAGE_TOP summed as OTHER_LANGUAGES."""
    ranked = sorted(counts.items(), key=lambda item: (-item[1][0], item[0]))
    bounded = dict(ranked[:LANGUAGE_TOP])
    if len(ranked) > LANGUAGE_TOP:
        bounded[OTHER_LANGUAGES] = [sum(column) for column in zip(*(row for _, row in ranked[LANGUAGE_TOP:]))]
    return {
        language: {
            "documents": documents,
            "bytes": size,
            "tokens": tokens,
            "bytes_per_token": round(size / tokens, 3) if tokens else None,
        }
        for language, (documents, size, tokens) in bounded.items()
    }


def validation_buckets(sources: list[Path], tokenizer_path: Path, settings: Tokenize, context: CorpusContext) -> int:
    """The hash-bucket bound B such that documents with bucket(id) < B hold at least `val_tokens` tokens
    (the smallest such B), or hold half the documents if the corpus has too few tokens for that.

    Only documents below a bound are encoded to count their tokens, starting at a small bound and widening
    it, so a big corpus pays for encoding a fraction of a percent of it twice."""
    if settings.val_tokens == 0:
        return 0
    shards = input_shards(sources)
    bound, n = 64, len(shards)
    while True:
        found = context.map(count_low_buckets, shards, [str(tokenizer_path)] * n, [settings.end_of_text] * n,
                            [bound] * n, [settings.batch_documents] * n)  # fmt: skip
        documents_per_bucket = np.zeros(BUCKETS, dtype=np.int64)
        tokens_per_bucket = np.zeros(BUCKETS, dtype=np.int64)
        for per_bucket, tokens in found:
            documents_per_bucket += per_bucket
            tokens_per_bucket += tokens
        enough = np.flatnonzero(np.cumsum(tokens_per_bucket[:bound]) >= settings.val_tokens)
        half = np.flatnonzero(np.cumsum(documents_per_bucket) <= documents_per_bucket.sum() // 2)
        most = int(half[-1]) + 1 if len(half) else 0  # the widest bound holding at most half the documents
        if len(enough):
            return min(int(enough[0]) + 1, most)
        if bound >= BUCKETS or bound >= most:
            return most
        bound = min(bound * 4, BUCKETS)


def count_low_buckets(
    path: Path, tokenizer_path: str, end_of_text: str, bound: int, batch_documents: int
) -> tuple[np.ndarray, np.ndarray]:
    """One shard's documents per hash bucket, and tokens per bucket for the buckets below `bound`
    (<|endoftext|> included, as in the shards). Runs on any worker."""
    stat = Path(tokenizer_path).stat()
    encoder, _ = _encoder(tokenizer_path, end_of_text, stat.st_size, stat.st_mtime_ns)
    documents = np.zeros(BUCKETS, dtype=np.int64)
    tokens = np.zeros(BUCKETS, dtype=np.int64)
    for batch in pq.ParquetFile(path).iter_batches(batch_size=batch_documents, columns=["id", "text"]):
        buckets = [bucket(document_id) for document_id in batch.column("id").to_pylist()]
        np.add.at(documents, buckets, 1)
        low = [i for i, b in enumerate(buckets) if b < bound]
        if low:
            texts = batch.column("text").to_pylist()
            for i, ids in zip(low, encoder.encode([texts[i] for i in low])):
                tokens[buckets[i]] += len(ids) + 1
    return documents, tokens


def encode_shard(
    path: Path, tokenizer_path: str, end_of_text: str, val_buckets: int, batch_documents: int
) -> tuple[str, list, LanguageCounts]:
    """One input shard's documents encoded in order, each as (in the validation split?, uint16 ids with
    <|endoftext|> first); the engine that encoded them; and the shard's counts per language. Runs on any
    worker."""
    stat = Path(tokenizer_path).stat()
    encoder, end = _encoder(tokenizer_path, end_of_text, stat.st_size, stat.st_mtime_ns)
    documents: list[tuple[bool, np.ndarray]] = []
    languages: LanguageCounts = {}
    columns = ["id", "text", "language"]
    for batch in pq.ParquetFile(path).iter_batches(batch_size=batch_documents, columns=columns):
        document_ids = batch.column("id").to_pylist()
        encoded = encoder.encode(batch.column("text").to_pylist())
        for document_id, ids in zip(document_ids, encoded):
            documents.append((bucket(document_id) < val_buckets, np.asarray([end, *ids], dtype=np.uint16)))
        _count_languages(languages, batch.column("language"), batch.column("text"), [len(ids) for ids in encoded])
    return encoder.engine, documents, languages


@functools.lru_cache(maxsize=2)
def _encoder(tokenizer_path: str, end_of_text: str, size: int, mtime_ns: int) -> tuple[BatchEncoder, int]:
    """One encoder per worker process and tokenizer file (as it is now), kept for the next shard."""
    tokenizer, end = load_tokenizer(tokenizer_path, end_of_text)
    return BatchEncoder(tokenizer), end


def _tokenize_to_parquet(
    sources: list[Path], out: Path, encoder: BatchEncoder, end: int, val_buckets: int, languages: LanguageCounts
) -> dict:
    """Format parquet: one output table per input shard; adds each shard's counts per language to `languages`."""
    schema = pa.schema([("id", pa.string()), ("split", pa.string()), ("tokens", pa.list_(pa.uint16()))])
    totals = {"shards": 0, "tokens": 0, "documents": 0}
    for path in input_shards(sources):
        target = out / path.name
        if target.exists():  # written by an interrupted run: count it, do not encode it again
            lengths = pq.read_table(target, columns=["tokens"]).column("tokens").combine_chunks().value_lengths()
            token_counts = lengths.to_numpy(zero_copy_only=False).tolist()
            table = pq.read_table(path, columns=["text", "language"])
        else:
            table = pq.read_table(path, columns=["id", "text", "language"])
            document_ids = table.column("id").to_pylist()
            tokens = [[end, *ids] for ids in encoder.encode(table.column("text").to_pylist())]
            splits = ["val" if bucket(i) < val_buckets else "train" for i in document_ids]
            with atomic_path(target) as tmp:
                pq.write_table(pa.table({"id": document_ids, "split": splits, "tokens": tokens}, schema=schema), tmp)
            token_counts = [len(t) for t in tokens]
        # Each document's tokens begin with <|endoftext|>, which is not a token of its text.
        _count_languages(languages, table.column("language"), table.column("text"), [n - 1 for n in token_counts])
        totals["shards"] += 1
        totals["documents"] += len(token_counts)
        totals["tokens"] += sum(token_counts)
    return {"parquet": totals}

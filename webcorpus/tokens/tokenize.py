"""tokenize: Parquet documents into uint16 token shards in llm.c's layout (or Parquet with a tokens column).

Every document gets `<|endoftext|>` before it. The validation split is sized in tokens: documents go to
it in order of their id's hash bucket (bpe.py) until it holds `val_tokens` (one llm.c batch, 64 x 1024 + 1,
by default: llm.c's loader needs that much), never more than half the documents.

Two phases of units (pipeline/units.py), each on any worker, reading and writing the output folder itself
(local or on object storage), so no token passes through the driver:

1. encode (one unit per input shard): the shard's documents, in order, as one piece
   -> OUTPUT/.work/pieces/NNNNN.bin (uint16 tokens) and NNNNN.documents.npz (each document's tokens and id
   hash bucket); the unit's result is its figures (tokens and documents per bucket, languages). The text
   is read and encoded once: which documents make the validation split is decided after, by the driver,
   from every piece's tokens per bucket.
2. pack (one unit per output shard): the driver lays each split's documents end to end, piece after
   piece, from those figures alone; each output shard's unit copies the byte ranges of the pieces it
   covers and writes PREFIX_SPLIT_NNNNNN.bin and .idx. Names and contents depend only on the input, never
   on workers.

With `format: parquet` the split is written beside each document's tokens, so it is decided first, by a
pass that encodes only the documents of the lowest buckets (`validation_buckets`).

Per language (the Parquet `language` column) it counts documents, UTF-8 bytes of text and tokens of text
(the <|endoftext|> before each document aside) where the ids are made, so the summary's `languages` shows
which languages a tokenizer trained on a mix compresses badly, at no extra encoding. The same per part of a
`mix` step (metadata `mix_part`, copies counted each time) gives the summary's `parts`: the tokens each part
of the mix really holds.
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
import os
import time
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from webcorpus.parquet import Location, input_shards, parquet_file, read_table, shard_name
from webcorpus.pipeline import run_folder
from webcorpus.pipeline.executors import CorpusContext
from webcorpus.pipeline.run_folder import Folder
from webcorpus.pipeline.step import LANGUAGE_TOP, NO_LANGUAGE, CorpusResult, CorpusStep
from webcorpus.pipeline.units import Units, fingerprint
from webcorpus.tokens.bpe import BUCKETS, END_OF_TEXT, bucket, load_tokenizer, write_transformers_files
from webcorpus.tokens.shards import HEADER_BYTES, shard_header, write_index, write_shard, write_tokens
from webcorpus.tokens.tiktoken_bridge import BatchEncoder

VAL_TOKENS = 64 * 1024 + 1  # one batch of llm.c's default B x T, plus the target of the last position
SPLITS = ("val", "train", "parquet")  # the summary's per-split figures ("parquet": format parquet's one table)
OTHER_LANGUAGES = "other"  # the languages beyond the summary's LANGUAGE_TOP, summed
MIX_PART = "mix_part"  # the metadata key a mix step writes
# Per language: documents, UTF-8 bytes of text, tokens of text (no <|endoftext|>).
LanguageCounts = dict[str, list[int]]
# What a worker builds its encoder from: tokenizer path, end_of_text, the tokenizer's digest, threads.
Coder = tuple[str, str, str, int]


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
    # Encoding threads per worker process (0: the cores each busy worker can have, `encoding_threads`); not an
    # option of the step (the shards do not depend on it): benchmarks and tests set it on an instance.
    threads = 0
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

    def run_corpus(self, sources: list[Location], target: Location, context: CorpusContext) -> CorpusResult:
        tokenizer = self.tokenizer or context.made.get("tokenizer")
        if tokenizer is None:
            raise ValueError("tokenize needs a tokenizer: set its tokenizer option, or put train_tokenizer before it")
        summary = tokenize_corpus(sources, target, tokenizer, self, context)
        splits = [summary[split] for split in SPLITS if split in summary]
        self.stats.documents_in = self.stats.kept = sum(s["documents"] for s in splits)
        self.stats.counts["tokens"] = sum(s["tokens"] for s in splits)
        self.stats.time_s = summary["seconds"]
        line = summary.pop("line")
        return CorpusResult(line, summary)


PIECES = f"{run_folder.WORK}/pieces"
SPLIT_NAMES = ("val", "train")


def tokenize_corpus(
    sources: list[Location], out: Location, tokenizer: Location, settings: Tokenize, context: CorpusContext
) -> dict[str, Any]:
    """Encode every document (<|endoftext|> first) into shards under `out`; resumable. Returns the figures
    and a `line` for the terminal."""
    output = Folder(out)
    output.make()
    tokenizer_bytes = Folder(tokenizer).read_bytes("")
    loaded, end = load_tokenizer(tokenizer, settings.end_of_text)
    vocabulary = loaded.get_vocab_size()
    # The tokenizer counts by its contents, not by the path it was given.
    names = ("shard_tokens", "val_tokens", "format", "prefix", "batch_documents", "end_of_text")
    options = {k: getattr(settings, k) for k in names}
    shards = input_shards(sources)
    units = Units(output, fingerprint(shards, options, tokenizer_bytes), context)
    # Not in the fingerprint: `threads` changes no byte of the output.
    n = len(shards)
    threads = settings.threads or encoding_threads(n, context)
    coder = (str(tokenizer), settings.end_of_text, hashlib.sha256(tokenizer_bytes).hexdigest(), threads)

    start = time.perf_counter()
    if settings.format == "parquet":
        if not units.done("validation"):
            units.record("validation", validation_buckets(shards, coder, settings, context))
        val_buckets = units.result("validation")
        pieces = units.map("tokenize", encode_to_parquet, [f"parquet_{i:05d}" for i in range(n)],
                           shards, [output] * n, [coder] * n, [val_buckets] * n)  # fmt: skip
        summary: dict[str, Any] = {"parquet": {
            "shards": n, "tokens": sum(p["tokens"] for p in pieces), "documents": sum(p["documents"] for p in pieces)
        }}  # fmt: skip
    else:
        pieces = units.map("tokenize encode", encode_piece, [f"piece_{i:05d}" for i in range(n)],
                           shards, range(n), [output] * n, [coder] * n, [settings.batch_documents] * n)  # fmt: skip
        tokens_per_bucket, documents_per_bucket = np.zeros(BUCKETS, np.int64), np.zeros(BUCKETS, np.int64)
        for piece in pieces:
            np.add.at(tokens_per_bucket, piece["buckets"], piece["tokens_per_bucket"])
            np.add.at(documents_per_bucket, piece["buckets"], piece["documents_per_bucket"])
        val_buckets = (
            0
            if settings.val_tokens == 0
            else validation_bound(tokens_per_bucket, documents_per_bucket, settings.val_tokens, BUCKETS)
        )
        splits_of = [split_figures(piece, val_buckets) for piece in pieces]
        summary = {}
        for split in SPLIT_NAMES:
            plans = pack_plans(split, [p[split]["tokens"] for p in splits_of], settings.shard_tokens, settings.prefix)
            names_of = [plan["name"] for plan in plans]
            units.map(f"tokenize {split} shards", pack_shard, names_of, plans, [output] * len(plans),
                      [val_buckets] * len(plans))  # fmt: skip
            summary[split] = {"shards": len(plans), "tokens": sum(p[split]["tokens"] for p in splits_of),
                              "documents": sum(p[split]["documents"] for p in splits_of)}  # fmt: skip
    languages: LanguageCounts = {}
    mix_parts: LanguageCounts = {}
    for piece in pieces:
        _add_languages(languages, piece["languages"])
        _add_languages(mix_parts, piece.get("parts", {}))
    engines = {piece["engine"] for piece in pieces}
    output.write_bytes(run_folder.TOKENIZER, tokenizer_bytes)
    write_transformers_files(output, settings.end_of_text)
    # No timings in it: reruns give identical files.
    tokens_json = {"end_of_text": end, "vocab_size": vocabulary, **summary}
    output.write_bytes("tokens.json", json.dumps(tokens_json, indent=2).encode())
    output.delete(PIECES)  # every output shard is written: the pieces are not needed again
    summary["seconds"] = round(time.perf_counter() - start, 2)
    summary["engine"] = "+".join(sorted(engines)) or "none"
    parts = [
        f"{name}: {summary[name]['documents']} documents, {summary[name]['tokens']:,} tokens in "
        f"{summary[name]['shards']} shards"
        for name in SPLITS
        if name in summary
    ]
    summary["languages"] = language_summary(languages)  # after tokens.json: that file stays as it was
    if mix_parts:
        summary["parts"] = language_summary(mix_parts)  # per mix part; copies count each time
    summary["line"] = f"tokenize: {'; '.join(parts)} in {summary['seconds']}s ({summary['engine']}) -> {output}"
    val = summary.get("val", {}).get("tokens", 0)
    if settings.format == "bin" and val < settings.val_tokens:
        summary["warning"] = (
            f"the validation split has {val:,} tokens, fewer than val_tokens ({settings.val_tokens:,}): the corpus "
            "is too small to give more without taking over half its documents; llm.c's loader needs "
            "batch x context + 1 tokens"
        )
        summary["line"] += f"\nwarning: {summary['warning']}"
    return summary


def encoding_threads(units: int, context: CorpusContext) -> int:
    """Encoding threads per worker: this machine's cores shared among the workers that have a unit at once
    (one each when there are at least as many input shards as workers: more threads would only contend for
    the same cores; more when there are fewer shards than cores)."""
    cores = os.cpu_count() or 1
    busy = max(1, min(units, getattr(context.executor, "workers", cores)))
    return max(1, cores // busy)


def pack_plans(split: str, piece_tokens: list[int], shard_tokens: int, prefix: str) -> list[dict[str, Any]]:
    """The output shards of one split, from each input shard's piece size alone: shard k holds tokens
    [k * shard_tokens, (k + 1) * shard_tokens) of the pieces laid end to end (the last one shorter), and
    lists the (piece, first token in the piece, tokens, where that lands in the shard) it takes."""
    offsets = np.cumsum([0, *piece_tokens]).tolist()
    total = offsets[-1]
    plans = []
    for number, begin in enumerate(range(0, total, shard_tokens)):
        end = min(begin + shard_tokens, total)
        parts = []
        for piece, (first, last) in enumerate(zip(offsets, offsets[1:])):
            if last > begin and first < end:
                take_from, take_to = max(first, begin), min(last, end)
                parts.append((piece, take_from - first, take_to - take_from, take_from - begin))
        plans.append({"name": f"{prefix}_{split}_{number:06d}.bin", "split": split, "tokens": end - begin,
                      "parts": parts})  # fmt: skip
    return plans


def encode_piece(shard: Location, index: int, output: Folder, coder: Coder, batch_documents: int) -> dict[str, Any]:
    """Phase 1 for one input shard: its documents' tokens (<|endoftext|> first), in order, as one piece, and
    each document's token count and id hash bucket; returns the figures the driver lays the shards out by."""
    encoder, _ = _encoder(*coder)
    counts_of, buckets_of = [], []
    tokens_per_bucket, documents_per_bucket = np.zeros(BUCKETS, np.int64), np.zeros(BUCKETS, np.int64)
    languages: LanguageCounts = {}
    parts: LanguageCounts = {}
    columns = ["id", "text", "language", "metadata"]
    with output.writing(f"{PIECES}/{index:05d}.bin") as path, open(path, "wb") as piece:
        # No Arrow decoding threads: the units are the parallelism, and those threads only cost CPU here.
        for batch in parquet_file(shard).iter_batches(batch_size=batch_documents, columns=columns, use_threads=False):
            # The batch as one stream (<|endoftext|> before each document), written as it comes: no copy of the
            # whole piece in memory, and no Python per document beyond its id's hash.
            stream, counts = encoder.encode_documents(batch.column("text"))
            buckets = np.fromiter(map(bucket, batch.column("id").to_pylist()), np.int64, batch.num_rows)
            write_tokens(piece, stream)
            counts_of.append(counts)
            buckets_of.append(buckets)
            np.add.at(tokens_per_bucket, buckets, counts)
            documents_per_bucket += np.bincount(buckets, minlength=BUCKETS)
            _count_languages(languages, batch.column("language"), batch.column("text"), counts - 1)
            _count_parts(parts, batch.column("metadata"), batch.column("text"), counts - 1)
    counts = np.concatenate(counts_of).astype(np.int64) if counts_of else np.zeros(0, np.int64)
    buckets = np.concatenate(buckets_of).astype(np.int64) if buckets_of else np.zeros(0, np.int64)
    buffer = io.BytesIO()
    np.savez(buffer, counts=counts, buckets=buckets)
    output.write_bytes(f"{PIECES}/{index:05d}.documents.npz", buffer.getvalue())
    used = np.flatnonzero(documents_per_bucket)  # only the buckets this shard has, to keep the result small
    return {
        "engine": encoder.engine, "languages": languages, "parts": parts, "buckets": used.tolist(),
        "tokens_per_bucket": tokens_per_bucket[used].tolist(),
        "documents_per_bucket": documents_per_bucket[used].tolist(),
    }  # fmt: skip


def split_figures(piece: dict[str, Any], val_buckets: int) -> dict[str, dict[str, int]]:
    """Tokens and documents of one piece in each split: the validation split is the buckets below `val_buckets`."""
    low = np.asarray(piece["buckets"], np.int64) < val_buckets
    tokens, documents = (
        np.asarray(piece["tokens_per_bucket"], np.int64),
        np.asarray(piece["documents_per_bucket"], np.int64),
    )
    return {
        "val": {"tokens": int(tokens[low].sum()), "documents": int(documents[low].sum())},
        "train": {"tokens": int(tokens[~low].sum()), "documents": int(documents[~low].sum())},
    }


def piece_layout(output: Folder, piece: int, split: str, val_buckets: int) -> tuple[np.ndarray, np.ndarray]:
    """Where one split's documents lie in a piece: their starts in the split's own coordinates (the split's
    documents of this piece end to end), and the runs of them that are contiguous in the piece, as rows of
    (start in the split, start in the piece, tokens)."""
    with np.load(io.BytesIO(output.read_bytes(f"{PIECES}/{piece:05d}.documents.npz")), allow_pickle=False) as saved:
        counts, buckets = saved["counts"], saved["buckets"]
    chosen = np.flatnonzero(buckets < val_buckets if split == "val" else buckets >= val_buckets)
    lengths = counts[chosen]
    in_piece = (np.cumsum(counts) - counts)[chosen]
    in_split = np.cumsum(lengths) - lengths
    if not len(chosen):
        return in_split, np.zeros((0, 3), np.int64)
    first_of_run = np.flatnonzero(np.concatenate(([True], np.diff(chosen) != 1)))
    runs = np.stack([in_split[first_of_run], in_piece[first_of_run], np.add.reduceat(lengths, first_of_run)], axis=1)
    return in_split, runs


def pack_shard(plan: dict[str, Any], output: Folder, val_buckets: int) -> dict[str, int]:
    """Phase 2 for one output shard: its tokens from the pieces it covers (the byte ranges of its split's
    documents in each), and the documents that start in it. In a local folder the byte ranges are copied file
    to file by the kernel (copy_file_range), never through this process's memory."""
    starts, ranges = [], []  # ranges: (piece, first token in the piece, tokens, where they land in the shard)
    for piece, first, count, at in plan["parts"]:
        document_starts, runs = piece_layout(output, piece, plan["split"], val_buckets)
        inside = document_starts[(document_starts >= first) & (document_starts < first + count)]
        starts.append(inside - first + at)
        for run_start, piece_start, length in runs.tolist():
            begin, end = max(first, run_start), min(first + count, run_start + length)
            if begin < end:
                ranges.append((piece, piece_start + begin - run_start, end - begin, at + begin - first))
    document_starts = np.concatenate(starts) if starts else np.zeros(0, np.int64)
    if output.remote or not hasattr(os, "copy_file_range"):
        tokens = np.empty(plan["tokens"], dtype="<u2")
        for piece, first, count, at in ranges:
            with output.open(f"{PIECES}/{piece:05d}.bin") as f:
                f.seek(2 * first)
                tokens[at : at + count] = np.frombuffer(f.read(2 * count), dtype="<u2")
        write_shard(output, plan["name"], tokens, document_starts)
        return {"tokens": int(plan["tokens"])}
    with output.writing(plan["name"]) as tmp, open(tmp, "wb") as shard:
        shard.write(shard_header(plan["tokens"]))
        shard.flush()
        for piece, first, count, at in ranges:
            with open(output.path(f"{PIECES}/{piece:05d}.bin"), "rb") as f:
                offset, end, into = 2 * first, 2 * (first + count), HEADER_BYTES + 2 * at
                while offset < end:
                    copied = os.copy_file_range(f.fileno(), shard.fileno(), end - offset, offset, into)
                    if not copied:
                        raise ValueError(f"{f.name}: shorter than the encode phase said")
                    offset, into = offset + copied, into + copied
    write_index(output, plan["name"], document_starts)
    return {"tokens": int(plan["tokens"])}


def encode_to_parquet(shard: Location, output: Folder, coder: Coder, val_buckets: int) -> dict[str, Any]:
    """Format parquet, one input shard: one output table of (id, split, tokens); returns its figures."""
    encoder, _ = _encoder(*coder)
    schema = pa.schema([("id", pa.string()), ("split", pa.string()), ("tokens", pa.list_(pa.uint16()))])
    table = read_table(shard, columns=["id", "text", "language", "metadata"])
    document_ids = table.column("id").to_pylist()
    stream, counts = encoder.encode_documents(table.column("text"))
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int32)
    tokens = pa.ListArray.from_arrays(pa.array(offsets), pa.array(stream.astype(np.uint16)))
    splits = ["val" if bucket(i) < val_buckets else "train" for i in document_ids]
    with output.writing(shard_name(shard)) as tmp:
        pq.write_table(pa.table({"id": document_ids, "split": splits, "tokens": tokens}, schema=schema), tmp)
    languages: LanguageCounts = {}
    # Each document's tokens begin with <|endoftext|>, which is not a token of its text.
    _count_languages(languages, table.column("language"), table.column("text"), counts - 1)
    parts: LanguageCounts = {}
    _count_parts(parts, table.column("metadata"), table.column("text"), counts - 1)
    return {"engine": encoder.engine, "languages": languages, "parts": parts, "tokens": int(counts.sum()),
            "documents": len(counts)}  # fmt: skip


def _count_languages(counts: LanguageCounts, languages: Any, texts: Any, token_counts: np.ndarray) -> None:
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


def _count_parts(counts: LanguageCounts, metadata: Any, texts: Any, token_counts: np.ndarray) -> None:
    """As `_count_languages`, per `mix_part` (documents without one as NO_LANGUAGE); a batch with no
    `mix_part` anywhere costs one substring search, no JSON parsing."""
    if not pc.any(pc.match_substring(metadata, f'"{MIX_PART}"')).as_py():
        return
    names = [json.loads(text or "{}").get(MIX_PART) for text in metadata.to_pylist()]
    _count_languages(counts, pa.array([str(n) if n is not None else None for n in names], pa.string()), texts,
                     token_counts)  # fmt: skip


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


def validation_buckets(shards: list[str], coder: Coder, settings: Tokenize, context: CorpusContext) -> int:
    """The hash-bucket bound B such that documents with bucket(id) < B hold at least `val_tokens` tokens
    (the smallest such B), or hold half the documents if the corpus has too few tokens for that.

    Only documents below a bound are encoded to count their tokens, starting at a small bound and widening
    it, so a big corpus pays for encoding a fraction of a percent of it twice."""
    if settings.val_tokens == 0:
        return 0
    bound, n = 64, len(shards)
    while True:
        found = context.map(count_low_buckets, shards, [coder] * n, [bound] * n, [settings.batch_documents] * n)
        documents_per_bucket = np.zeros(BUCKETS, dtype=np.int64)
        tokens_per_bucket = np.zeros(BUCKETS, dtype=np.int64)
        for per_bucket, tokens in found:
            documents_per_bucket += per_bucket
            tokens_per_bucket += tokens
        chosen = validation_bound(tokens_per_bucket, documents_per_bucket, settings.val_tokens, bound)
        if chosen is not None:
            return chosen
        bound = min(bound * 4, BUCKETS)


def validation_bound(
    tokens_per_bucket: np.ndarray, documents_per_bucket: np.ndarray, val_tokens: int, known: int
) -> int | None:
    """The smallest bucket bound B whose documents (bucket < B) hold `val_tokens` tokens, but never more than
    half the documents; from tokens counted for the buckets below `known` (all of them: BUCKETS). None when
    the buckets counted so far do not settle it."""
    enough = np.flatnonzero(np.cumsum(tokens_per_bucket[:known]) >= val_tokens)
    half = np.flatnonzero(np.cumsum(documents_per_bucket) <= documents_per_bucket.sum() // 2)
    most = int(half[-1]) + 1 if len(half) else 0  # the widest bound holding at most half the documents
    if len(enough):
        return min(int(enough[0]) + 1, most)
    if known >= BUCKETS or known >= most:
        return most
    return None


def count_low_buckets(shard: Location, coder: Coder, bound: int, batch_documents: int) -> tuple[np.ndarray, np.ndarray]:
    """One shard's documents per hash bucket, and tokens per bucket for the buckets below `bound`
    (<|endoftext|> included, as in the shards). Runs on any worker."""
    encoder, _ = _encoder(*coder)
    documents = np.zeros(BUCKETS, dtype=np.int64)
    tokens = np.zeros(BUCKETS, dtype=np.int64)
    for batch in parquet_file(shard).iter_batches(
        batch_size=batch_documents, columns=["id", "text"], use_threads=False
    ):
        ids = batch.column("id").to_pylist()
        buckets = np.fromiter(map(bucket, ids), np.int64, len(ids))
        documents += np.bincount(buckets, minlength=BUCKETS)
        low = np.flatnonzero(buckets < bound)
        if len(low):
            _, counts = encoder.encode_documents(batch.column("text").take(pa.array(low)))
            np.add.at(tokens, buckets[low], counts)
    return documents, tokens


@functools.lru_cache(maxsize=2)
def _encoder(tokenizer: str, end_of_text: str, digest: str, threads: int = 0) -> tuple[BatchEncoder, int]:
    """One encoder per worker process and tokenizer (by its contents' digest), kept for the next unit."""
    loaded, end = load_tokenizer(tokenizer, end_of_text)
    return BatchEncoder(loaded, threads=threads or None, end_of_text=end_of_text), end

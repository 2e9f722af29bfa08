"""Byte-level BPE: train a tokenizer on the corpus, then turn Parquet shards into uint16 token shards.

No GPT-2 vocabulary is available offline, so `train_tokenizer` learns one with HF `tokenizers`
(GPT-2's byte-level pre-tokenisation, `<|endoftext|>` as id 0); any `tokenizer.json` a user brings works
too, as long as its ids fit in uint16. Which documents train the tokenizer, which are held out to
measure it, and which go to the validation shards is decided by a hash of the document id, so it never
depends on file order or worker count:

    bucket = blake2b(id) mod 10,000
    bucket < 100        held out from tokenizer training (compression is measured on these)
    bucket < val_bucket the validation split of the token shards (default 50, i.e. 0.5%)
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from webcorpus.atomic import atomic_open, atomic_path, remove_stale_tmp
from webcorpus.parquet import read_texts, shard_paths
from webcorpus.token_shards import shard_files, write_shard

END_OF_TEXT = "<|endoftext|>"
MAX_VOCAB = 65_536  # ids must fit in uint16
BUCKETS = 10_000
HELD_OUT_BUCKETS = 100


def input_fingerprint(folder: str | Path, settings: Any, *extra: bytes) -> str:
    """What a step's output depends on: its settings, any extra bytes (a tokenizer file) and the input
    shards (names and sizes). A rerun with the same fingerprint may reuse what is there."""
    digest = hashlib.sha256(json.dumps(asdict(settings), sort_keys=True).encode())
    for part in extra:
        digest.update(part)
    for path in shard_paths(folder):
        digest.update(f"{path.name}:{path.stat().st_size}".encode())
    return digest.hexdigest()[:16]


def bucket(document_id: str) -> int:
    return int.from_bytes(hashlib.blake2b(document_id.encode(), digest_size=8).digest(), "little") % BUCKETS


# ---- training ------------------------------------------------------------------------------------


@dataclass
class TokenizerSettings:
    """Options of `webcorpus train-tokenizer` (and `after: - train_tokenizer: {...}` in a pipeline)."""

    name: ClassVar[str] = "train_tokenizer"
    option_help: ClassVar[dict[str, str]] = {
        "vocab_size": f"Vocabulary size including the 256 bytes and {END_OF_TEXT} (at most {MAX_VOCAB}).",
        "max_characters": "Train on at most this many characters (a deterministic sample; bounds time and memory).",
        "min_frequency": "A pair must occur this often to be merged.",
    }
    runner_supplied: ClassVar[frozenset[str]] = frozenset()

    vocab_size: int = 32_768
    max_characters: int = 1_000_000_000
    min_frequency: int = 2

    def __post_init__(self) -> None:
        if not 257 <= self.vocab_size <= MAX_VOCAB:
            raise ValueError(
                f"vocab_size must be between 257 and {MAX_VOCAB} (token ids are stored as uint16),"
                f" not {self.vocab_size}"
            )
        if self.max_characters < 1 or self.min_frequency < 1:
            raise ValueError("max_characters and min_frequency must be at least 1")


def train_tokenizer(folder: str | Path, out: str | Path, settings: TokenizerSettings) -> dict[str, Any]:
    """Train byte-level BPE on the corpus (held-out documents excluded); write tokenizer.json atomically."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=settings.vocab_size,
        min_frequency=settings.min_frequency,
        special_tokens=[END_OF_TEXT],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    used = {"documents": 0, "characters": 0}

    def training_texts() -> Iterator[str]:
        for document_id, text in read_texts(folder):
            if bucket(document_id) < HELD_OUT_BUCKETS:
                continue
            if used["characters"] + len(text) > settings.max_characters:
                return
            used["documents"] += 1
            used["characters"] += len(text)
            yield text

    start = time.perf_counter()
    tokenizer.train_from_iterator(training_texts(), trainer)
    seconds = time.perf_counter() - start
    with atomic_path(out) as tmp:
        tokenizer.save(str(tmp))
    held_out = [text for document_id, text in read_texts(folder) if bucket(document_id) < HELD_OUT_BUCKETS]
    summary = {
        "tokenizer": str(out),
        "vocab_size": tokenizer.get_vocab_size(),
        "trained_on_documents": used["documents"],
        "trained_on_characters": used["characters"],
        "train_seconds": round(seconds, 2),
        "held_out_documents": len(held_out),
        "bytes_per_token": bytes_per_token(tokenizer, held_out),
    }
    compression = summary["bytes_per_token"]
    measured = (
        f"{compression} bytes per token on {len(held_out)} held-out documents"
        if compression
        else "no held-out documents to measure compression on"
    )
    summary["line"] = (
        f"train_tokenizer: {summary['vocab_size']} tokens from {used['documents']} documents "
        f"({used['characters']:,} characters) in {summary['train_seconds']}s; {measured} -> {out}"
    )
    return summary


def train_tokenizer_once(folder: str | Path, out: str | Path, settings: TokenizerSettings) -> dict[str, Any]:
    """train_tokenizer, skipped when `out` was already made from this input with these settings (resume)."""
    out = Path(out)
    fingerprint = input_fingerprint(folder, settings)
    marker = out.with_name(f".{out.name}.done.json")
    if out.exists() and marker.exists():
        done = json.loads(marker.read_text())
        if done.get("fingerprint") == fingerprint:
            return {**done["summary"], "line": done["summary"]["line"] + " (already trained)"}
    summary = train_tokenizer(folder, out, settings)
    with atomic_open(marker) as f:
        json.dump({"fingerprint": fingerprint, "summary": summary}, f)
    return summary


def bytes_per_token(tokenizer: Any, texts: list[str]) -> float | None:
    """UTF-8 bytes per token over `texts` (None when there are none to measure on)."""
    if not texts:
        return None
    encoded = tokenizer.encode_batch(texts, add_special_tokens=False)
    tokens = sum(len(e.ids) for e in encoded)
    return round(sum(len(t.encode("utf-8")) for t in texts) / max(tokens, 1), 3)


def load_tokenizer(path: str | Path) -> tuple[Any, int]:
    """A tokenizer.json and its <|endoftext|> id; refuses vocabularies whose ids do not fit uint16."""
    from tokenizers import Tokenizer

    try:
        tokenizer = Tokenizer.from_file(str(path))
    except Exception as error:  # tokenizers raises a bare Exception on a bad file
        raise ValueError(f"{path}: not a readable tokenizer.json ({error})") from None
    size = tokenizer.get_vocab_size(with_added_tokens=True)
    if size > MAX_VOCAB:
        raise ValueError(f"{path}: vocabulary of {size} tokens; ids above {MAX_VOCAB - 1} do not fit in uint16 shards")
    end = tokenizer.token_to_id(END_OF_TEXT)
    if end is None:
        raise ValueError(f"{path}: no {END_OF_TEXT} token; documents need it as their separator")
    return tokenizer, end


# ---- encoding ------------------------------------------------------------------------------------

GPT2_SPLIT = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""


def byte_decoder() -> dict[str, int]:
    """GPT-2's printable stand-in character for each byte, reversed (byte-level vocabularies use them)."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    chars, extra = {}, 0
    for b in range(256):
        if b in printable:
            chars[b] = chr(b)
        else:
            chars[b] = chr(256 + extra)
            extra += 1
    return {c: b for b, c in chars.items()}


def as_tiktoken(tokenizer: Any) -> Any | None:
    """The same tokenizer as a tiktoken Encoding, when it is plain byte-level BPE (what we train): same ids,
    about three times faster per core. None for anything else (normalizers, other pre-tokenizers...)."""
    try:
        import tiktoken
    except ImportError:
        return None
    spec = json.loads(tokenizer.to_str())
    model, pre = spec.get("model", {}), spec.get("pre_tokenizer") or {}
    plain_bpe = (
        model.get("type") == "BPE"
        and not model.get("dropout")
        and not model.get("byte_fallback")
        and not model.get("continuing_subword_prefix")
        and not model.get("end_of_word_suffix")
        and spec.get("normalizer") is None
        and pre.get("type") == "ByteLevel"
        and pre.get("use_regex", True)
        and not pre.get("add_prefix_space")
    )
    if not plain_bpe:
        return None
    vocab, decode = model["vocab"], byte_decoder()
    specials = {t["content"]: t["id"] for t in spec.get("added_tokens", [])}
    # tiktoken merges by the rank of the result; HF BPE by merge order: they agree when ids follow merges.
    merged_ids = [vocab.get("".join(m) if isinstance(m, list) else m.replace(" ", "")) for m in model["merges"]]
    if None in merged_ids or any(a >= b for a, b in zip(merged_ids, merged_ids[1:])):
        return None
    try:
        ranks = {bytes(decode[c] for c in token): rank for token, rank in vocab.items() if token not in specials}
    except KeyError:  # a token that is not made of byte stand-ins
        return None
    if len(ranks) != len(vocab) - len([t for t in specials if t in vocab]):
        return None
    return tiktoken.Encoding("webcorpus", pat_str=GPT2_SPLIT, mergeable_ranks=ranks, special_tokens=specials)


class BatchEncoder:
    """Encodes batches of texts on all cores. It uses tiktoken when the tokenizer converts to it and the
    two agree on the first CHECKED_DOCUMENTS documents; otherwise HF tokenizers' encode_batch."""

    CHECKED_DOCUMENTS = 256

    def __init__(self, tokenizer: Any, threads: int | None = None) -> None:
        import os

        self.tokenizer = tokenizer
        self.fast = as_tiktoken(tokenizer)
        self.threads = threads or os.cpu_count() or 1
        self.checked = False

    @property
    def engine(self) -> str:
        return "tiktoken" if self.fast is not None else "tokenizers"

    def encode(self, texts: list[str]) -> list[list[int]]:
        if self.fast is not None and not self.checked and texts:
            sample = texts[: self.CHECKED_DOCUMENTS]
            reference = [e.ids for e in self.tokenizer.encode_batch(sample, add_special_tokens=False)]
            if self.fast.encode_ordinary_batch(sample, num_threads=self.threads) != reference:
                self.fast = None
            self.checked = True
        if self.fast is None:
            return [e.ids for e in self.tokenizer.encode_batch(texts, add_special_tokens=False)]
        return self.fast.encode_ordinary_batch(texts, num_threads=self.threads)


# ---- tokenizing ----------------------------------------------------------------------------------


@dataclass
class TokenizeSettings:
    """Options of `webcorpus tokenize` (and `after: - tokenize: {...}` in a pipeline)."""

    name: ClassVar[str] = "tokenize"
    option_help: ClassVar[dict[str, str]] = {
        "tokenizer": "tokenizer.json to use (in a pipeline, default: the one train_tokenizer wrote).",
        "shard_tokens": "Tokens per .bin shard (the last shard of each split is shorter).",
        "val_buckets": f"Documents whose id hashes below this (of {BUCKETS}) go to the validation shards.",
        "format": "'bin' for llm.c shards, 'parquet' for id + tokens columns.",
        "prefix": "Shard file name prefix (PREFIX_val_000000.bin).",
        "batch_documents": "Documents encoded per parallel batch.",
    }
    runner_supplied: ClassVar[frozenset[str]] = frozenset()

    tokenizer: str | None = None
    shard_tokens: int = 100_000_000
    val_buckets: int = 50
    format: str = "bin"
    prefix: str = "webcorpus"
    batch_documents: int = 1024

    def __post_init__(self) -> None:
        if self.shard_tokens < 1 or self.batch_documents < 1:
            raise ValueError("shard_tokens and batch_documents must be at least 1")
        if not 0 <= self.val_buckets <= BUCKETS:
            raise ValueError(f"val_buckets must be between 0 and {BUCKETS}")
        if self.format not in ("bin", "parquet"):
            raise ValueError(f"format must be 'bin' or 'parquet', not '{self.format}'")


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
            with atomic_open(self.folder / ".progress" / f"{name}.json") as f:
                json.dump({"tokens": self.filled}, f)
        self.written.append(name)
        self.tokens += self.filled
        self.number += 1
        self.filled = 0
        self.starts = []


def tokenize_corpus(
    folder: str | Path, out: str | Path, tokenizer_path: str | Path, settings: TokenizeSettings, progress: bool = False
) -> dict[str, Any]:
    """Encode every document (<|endoftext|> first) into shards under `out`; resumable.

    Encoding is deterministic, so a rerun after an interruption encodes again from the start but writes
    only the shards that are missing: no document is duplicated or lost.
    """
    folder, out, tokenizer_path = Path(folder), Path(out), Path(tokenizer_path)
    tokenizer, end = load_tokenizer(tokenizer_path)
    # The tokenizer counts by its contents, not by the path it was given.
    fingerprint = input_fingerprint(folder, replace(settings, tokenizer=None), tokenizer_path.read_bytes())
    marker = out / ".progress" / "settings.json"
    if marker.exists():
        if json.loads(marker.read_text())["fingerprint"] != fingerprint:
            raise ValueError(f"{out}: holds tokens made from other input or settings; use a new folder or delete it")
    elif out.exists() and any(out.iterdir()):
        raise ValueError(f"{out}: not empty and not a tokenize output; use a new folder")
    with atomic_open(marker) as f:
        json.dump({"fingerprint": fingerprint}, f)
    remove_stale_tmp(out)  # half-written shards of an interrupted run
    done = {p.name.removesuffix(".json") for p in (out / ".progress").glob("*.bin.json")}

    start = time.perf_counter()
    encoder = BatchEncoder(tokenizer)
    if settings.format == "parquet":
        summary = _tokenize_to_parquet(folder, out, encoder, end, settings)
    else:
        writers = {
            split: _SplitWriter(out, settings.prefix, split, settings.shard_tokens, done) for split in ("val", "train")
        }
        batch: list[tuple[str, str]] = []
        for item in read_texts(folder):
            batch.append(item)
            if len(batch) == settings.batch_documents:
                _encode_batch(encoder, end, batch, writers, settings.val_buckets)
                batch = []
        _encode_batch(encoder, end, batch, writers, settings.val_buckets)
        for writer in writers.values():
            writer.flush()
        summary = {
            split: {"shards": len(w.written), "tokens": w.tokens, "documents": w.documents}
            for split, w in writers.items()
        }
    with atomic_path(out / "tokenizer.json") as tmp:
        tmp.write_bytes(tokenizer_path.read_bytes())
    with atomic_open(out / "tokens.json") as f:  # no timings in it: reruns give identical files
        json.dump({"end_of_text": end, "vocab_size": tokenizer.get_vocab_size(), **summary}, f, indent=2)
    summary["seconds"] = round(time.perf_counter() - start, 2)
    summary["engine"] = encoder.engine
    parts = [
        f"{name}: {s['documents']} documents, {s['tokens']:,} tokens in {s['shards']} shards"
        for name, s in summary.items()
        if isinstance(s, dict)
    ]
    summary["line"] = f"tokenize: {'; '.join(parts)} in {summary['seconds']}s ({encoder.engine}) -> {out}"
    return summary


def _encode_batch(encoder: BatchEncoder, end: int, batch: list[tuple[str, str]], writers: dict, val: int) -> None:
    if not batch:
        return
    for (document_id, _), ids in zip(batch, encoder.encode([text for _, text in batch])):
        writers["val" if bucket(document_id) < val else "train"].add([end, *ids])


def _tokenize_to_parquet(folder: Path, out: Path, encoder: BatchEncoder, end: int, settings: TokenizeSettings) -> dict:
    schema = pa.schema([("id", pa.string()), ("split", pa.string()), ("tokens", pa.list_(pa.uint16()))])
    totals = {"shards": 0, "tokens": 0, "documents": 0}
    for path in shard_paths(folder):
        target = out / path.name
        if target.exists():  # written by an interrupted run: count it, do not encode it again
            lengths = pq.read_table(target, columns=["tokens"]).column("tokens").combine_chunks().value_lengths()
            token_counts = lengths.to_numpy(zero_copy_only=False).tolist()
        else:
            table = pq.read_table(path, columns=["id", "text"])
            document_ids = table.column("id").to_pylist()
            tokens = [[end, *ids] for ids in encoder.encode(table.column("text").to_pylist())]
            splits = ["val" if bucket(i) < settings.val_buckets else "train" for i in document_ids]
            with atomic_path(target) as tmp:
                pq.write_table(pa.table({"id": document_ids, "split": splits, "tokens": tokens}, schema=schema), tmp)
            token_counts = [len(t) for t in tokens]
        totals["shards"] += 1
        totals["documents"] += len(token_counts)
        totals["tokens"] += sum(token_counts)
    return {"parquet": totals}


def token_stats(folder: str | Path) -> dict[str, Any]:
    """What `webcorpus stats` prints for a folder of .bin token shards."""
    from webcorpus.token_shards import TokenShard

    result: dict[str, Any] = {"path": str(folder)}
    for split in ("val", "train"):
        shards = [TokenShard(p) for p in shard_files(folder, split)]
        tokens = sum(len(s) for s in shards)
        documents = sum(len(s.document_starts) for s in shards if s.document_starts is not None)
        result[split] = {
            "shards": len(shards),
            "tokens": tokens,
            "documents": documents,
            "tokens_per_document": round(tokens / documents, 1) if documents else 0,
        }
    return result

"""tiktoken for our tokenizers: the same byte-level BPE as a `tiktoken.Encoding`, which encodes the same
ids faster per core (docs/benchmarks.md). Used only after it gave the same ids as HF `tokenizers`."""

from __future__ import annotations

import json
from typing import Any

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
    faster per core. None for anything else (normalizers, other pre-tokenizers...)."""
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

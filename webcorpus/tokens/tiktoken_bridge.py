"""tiktoken for our tokenizers: the same byte-level BPE as a `tiktoken.Encoding`, which encodes the same
ids faster per core (docs/benchmarks.md). Used only after it gave the same ids as HF `tokenizers`."""

from __future__ import annotations

import itertools
import json
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

Texts = list[str] | pa.Array | pa.ChunkedArray  # what BatchEncoder.encode_documents takes
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
    tokens = [token for token in vocab if token not in specials]
    if not set("".join(tokens)) <= decode.keys():  # a token that is not made of byte stand-ins
        return None
    to_bytes = str.maketrans({c: chr(b) for c, b in decode.items()})  # then latin-1: one byte per character
    ranks = {token.translate(to_bytes).encode("latin-1"): vocab[token] for token in tokens}
    if len(ranks) != len(vocab) - len([t for t in specials if t in vocab]):
        return None
    return tiktoken.Encoding("webcorpus", pat_str=GPT2_SPLIT, mergeable_ranks=ranks, special_tokens=specials)


class BatchEncoder:
    """Encodes batches of texts on all cores. It uses tiktoken when the tokenizer converts to it and the
    two agree on the first CHECKED_DOCUMENTS documents (`encode_documents`: at most CHECKED_CHARACTERS
    characters of them, at least one document); otherwise HF tokenizers' encode_batch.

    `encode_documents` gives a batch as the stream the token shards hold, `end_of_text` before each document,
    in one NumPy array. With tiktoken, runs of consecutive documents (about JOIN_BYTES of UTF-8 each, spread
    over the threads: tiktoken lets go of the GIL while it encodes) are joined with `end_of_text` by Arrow and
    encoded by one call each, that token allowed as special there. tiktoken encodes the text between special
    tokens on its own, so each document gets exactly the ids `encode_ordinary` gives it alone, with no Python
    string, call or list of ints per document. A run in which a document holds the separator's text itself is
    encoded document by document instead (its ids stay those of ordinary text)."""

    CHECKED_DOCUMENTS = 256
    # tokenizers encodes several times slower per core: checking 256 whole web pages cost a sizeable share
    # of a small run's CPU; capping the characters checked keeps the check a small, fixed cost.
    CHECKED_CHARACTERS = 200_000
    # UTF-8 bytes per tiktoken call: much longer strings encode slower per token (caches); runs of 16-64 dev
    # pages did best.
    JOIN_BYTES = 100_000

    def __init__(self, tokenizer: Any, threads: int | None = None, end_of_text: str = "<|endoftext|>") -> None:
        import os

        self.tokenizer = tokenizer
        self.fast = as_tiktoken(tokenizer)
        self.threads = threads or os.cpu_count() or 1
        self.checked = False
        self.end_of_text = end_of_text
        self.end = tokenizer.token_to_id(end_of_text)
        # Joining is exact only if the separator is one of tiktoken's special tokens with the same id, and no
        # occurrence of its text can overlap another (no proper prefix of it is also a suffix).
        self.joinable = (
            self.fast is not None
            and self.end is not None
            and getattr(self.fast, "_special_tokens", {}).get(end_of_text) == self.end
            and not any(end_of_text[:k] == end_of_text[-k:] for k in range(1, len(end_of_text)))
        )
        self._pool: Any = None

    @property
    def engine(self) -> str:
        return "tiktoken" if self.fast is not None else "tokenizers"

    def encode(self, texts: list[str]) -> list[list[int]]:
        """Each text's ids (no special tokens added), as lists."""
        if self.fast is not None and not self.checked and texts:
            sample = texts[: self.CHECKED_DOCUMENTS]
            reference = [e.ids for e in self.tokenizer.encode_batch(sample, add_special_tokens=False)]
            if self.fast.encode_ordinary_batch(sample, num_threads=self.threads) != reference:
                self.fast = None
            self.checked = True
        if self.fast is None:
            return [e.ids for e in self.tokenizer.encode_batch(texts, add_special_tokens=False)]
        return self.fast.encode_ordinary_batch(texts, num_threads=self.threads)

    def encode_documents(self, texts: Texts) -> tuple[np.ndarray, np.ndarray]:
        """(tokens, lengths): the ids of `end_of_text` then the text of each document, end to end (uint32),
        and each document's token count, its `end_of_text` included (int64). The same ids as `encode` with
        `end_of_text` put before each document. `texts`: Python strings, or an Arrow string column (read
        from Parquet: no Python string per document is made); a null text is an empty document."""
        if self.end is None:
            raise ValueError(f"the tokenizer has no {self.end_of_text} token")
        if isinstance(texts, pa.ChunkedArray):  # chunk by chunk: combined, a column may pass 2 GiB of offsets
            parts = [self.encode_documents(chunk) for chunk in texts.chunks if len(chunk)]
            if len(parts) != 1:
                return (np.concatenate([np.zeros(0, np.uint32), *(tokens for tokens, _ in parts)]),
                        np.concatenate([np.zeros(0, np.int64), *(lengths for _, lengths in parts)]))  # fmt: skip
            return parts[0]
        if not len(texts):
            return np.zeros(0, np.uint32), np.zeros(0, np.int64)
        if self.fast is None:
            return self._lists_to_stream(
                [e.ids for e in self.tokenizer.encode_batch(_python(texts), add_special_tokens=False)]
            )
        tokens, lengths = self._fast_stream(texts)
        if not self.checked:  # tiktoken is kept only if it agrees with tokenizers on the first documents
            self.checked = True
            first = _python(texts[: self.CHECKED_DOCUMENTS])
            sizes = np.cumsum(np.fromiter(map(len, first), np.int64, len(first)))
            sample = first[: max(1, int(np.searchsorted(sizes, self.CHECKED_CHARACTERS, side="right")))]
            expected = [e.ids for e in self.tokenizer.encode_batch(sample, add_special_tokens=False)]
            reference = self._lists_to_stream(expected)
            if not np.array_equal(tokens[: int(lengths[: len(sample)].sum())], reference[0]):
                self.fast = None
                return self.encode_documents(texts)
        return tokens, lengths

    def _lists_to_stream(self, encoded: list[list[int]]) -> tuple[np.ndarray, np.ndarray]:
        lengths = np.fromiter(map(len, encoded), np.int64, len(encoded)) + 1
        tokens = np.empty(int(lengths.sum()), np.uint32)
        starts = np.cumsum(lengths) - lengths
        tokens[starts] = self.end
        inside = np.ones(len(tokens), bool)
        inside[starts] = False
        tokens[inside] = np.fromiter(itertools.chain.from_iterable(encoded), np.uint32, len(tokens) - len(encoded))
        return tokens, lengths

    def _fast_stream(self, texts: Texts) -> tuple[np.ndarray, np.ndarray]:
        if not self.joinable:
            return self._lists_to_stream(self.fast.encode_ordinary_batch(_python(texts), num_threads=self.threads))
        if not isinstance(texts, pa.Array):
            try:
                texts = pa.array(texts, pa.large_string())
            except UnicodeEncodeError:  # lone surrogates: no UTF-8, no Arrow; encode_ordinary has its own way
                return self._lists_to_stream([self.fast.encode_ordinary(text) for text in texts])
        if texts.type not in (pa.string(), pa.large_string()):  # string_view, say: what binary_join cannot take
            texts = texts.cast(pa.large_string())
        texts = pc.fill_null(texts, "")
        # Runs of consecutive documents of about JOIN_BYTES, one engine call each, spread over the threads; the
        # ids come back in order whatever the threads do.
        ends = np.cumsum(pc.binary_length(texts).to_numpy(zero_copy_only=False).astype(np.int64))
        cuts = np.searchsorted(ends, np.arange(self.JOIN_BYTES, ends[-1], self.JOIN_BYTES)) + 1
        bounds = np.array(sorted({0, len(texts), *np.minimum(cuts, len(texts)).tolist()}), np.int32)
        separator = pa.scalar(self.end_of_text, texts.type)
        joined = pc.binary_join(pa.ListArray.from_arrays(pa.array(bounds), texts), separator)
        runs = [(joined[i], texts[a:b]) for i, (a, b) in enumerate(zip(bounds.tolist(), bounds[1:].tolist()))]
        if self.threads > 1 and len(runs) > 1:
            if self._pool is None:
                from concurrent.futures import ThreadPoolExecutor

                self._pool = ThreadPoolExecutor(self.threads)
            encoded = list(self._pool.map(self._run, runs))
        else:
            encoded = [self._run(run) for run in runs]
        tokens = np.concatenate([part for parts in encoded for part in parts])  # the stream's one copy
        starts = np.flatnonzero(tokens == self.end)
        if len(starts) != len(texts) or starts[0] != 0:  # cannot happen: the separator is no ordinary text's id
            raise AssertionError("the joined encoding lost a document boundary")
        return tokens, np.diff(np.append(starts, len(tokens)))

    def _run(self, run: tuple[pa.StringScalar, pa.Array]) -> tuple[np.ndarray, ...]:
        """The separator's id then each text's ordinary ids, end to end (in parts): one tiktoken call over the
        run's texts joined by the separator, allowed as special there; document by document when a text holds
        the separator's own text."""
        joined, texts = run
        text = joined.as_py()
        if text.count(self.end_of_text) == len(texts) - 1:
            ids = self.fast.encode_to_numpy(text, allowed_special={self.end_of_text}, disallowed_special=())
            return np.array([self.end], np.uint32), ids
        return (self._lists_to_stream([self.fast.encode_ordinary(text) for text in texts.to_pylist()])[0],)


def _python(texts: Texts) -> list[str]:
    """Texts as Python strings (a null text as an empty one)."""
    if isinstance(texts, list):
        return texts
    return ["" if text is None else text for text in texts.to_pylist()]

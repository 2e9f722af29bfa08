"""fastText's supervised model, written in its own `.bin` format (version 12), so that the fastText
installed with webcorpus (fasttext-predict: it loads and predicts, it cannot train) loads what we train.

The layout and the feature hashing follow fastText's C++ sources (args.cc, dictionary.cc, densematrix.cc,
fasttext.cc): a line's features are its known words plus, with `wordNgrams` > 1, its word n-grams hashed
into `bucket` rows; the end of line is the word "</s>".
"""

from __future__ import annotations

import re
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from typing import IO

import numpy as np

MAGIC = 793712314
VERSION = 12
EOS = "</s>"
LOSS_SOFTMAX = 3  # fastText's loss_name enum: hs=1, ns, softmax, ova
MODEL_SUPERVISED = 3  # model_name enum: cbow=1, sg, sup
ENTRY_WORD, ENTRY_LABEL = 0, 1
NGRAM_MULTIPLIER = 116049371
MASK32, MASK64 = (1 << 32) - 1, (1 << 64) - 1
# fastText's readWord splits on these bytes only (not on other Unicode spaces).
SEPARATORS = re.compile(rb"[ \n\r\t\v\f\x00]+")


LABEL_PREFIX = "__label__"


def tokens(text: str) -> list[str]:
    """fastText's words of one line, "</s>" last (fastText reads the line's end as that word). A word that
    starts with the label prefix is left out: fastText reads it as a label, never as a feature."""
    words = (t.decode("utf-8", "replace") for t in SEPARATORS.split(text.encode("utf-8")) if t)
    return [w for w in words if not w.startswith(LABEL_PREFIX)] + [EOS]


def word_hash(word: str) -> int:
    """fastText's FNV-1a of the word's UTF-8 bytes, each byte taken as a signed char (its quirk, kept so
    that the hashes, and so the n-gram rows, are fastText's)."""
    h = 2166136261
    for byte in word.encode("utf-8"):
        h ^= byte | 0xFFFFFF00 if byte >= 0x80 else byte
        h = (h * 16777619) & MASK32
    return h


def _sign_extended(h: int) -> int:
    # fastText keeps a word's hash in an int32 and widens it to uint64 for the n-gram hash.
    return (h | 0xFFFFFFFF00000000) if h & 0x80000000 else h


@dataclass
class Vocabulary:
    """Words (most frequent first) and labels of a training set, as fastText numbers them."""

    words: list[tuple[str, int]]
    labels: list[tuple[str, int]]
    tokens_read: int

    def __post_init__(self) -> None:
        self.word_ids = {word: i for i, (word, _) in enumerate(self.words)}
        self.label_ids = {label: i for i, (label, _) in enumerate(self.labels)}
        self._hashes: dict[str, int] = {}

    def features(self, words: list[str], word_ngrams: int, bucket: int) -> np.ndarray:
        """The input rows of a line (its `tokens`): known words, then n-gram buckets after the words."""
        ids = [self.word_ids[w] for w in words if w in self.word_ids]
        if word_ngrams > 1 and bucket > 0:
            hashes = []
            for w in words:
                h = self._hashes.get(w)
                if h is None:
                    h = self._hashes[w] = _sign_extended(word_hash(w))
                hashes.append(h)
            nwords = len(self.words)
            for i in range(len(hashes)):
                h = hashes[i]
                for j in range(i + 1, min(len(hashes), i + word_ngrams)):
                    h = (h * NGRAM_MULTIPLIER + hashes[j]) & MASK64
                    ids.append(nwords + h % bucket)
        return np.array(ids, dtype=np.int64)


def count_vocabulary(lines: Iterable[tuple[str, list[str]]], min_count: int) -> Vocabulary:
    """The vocabulary of (label, words) lines: words seen at least `min_count` times, most frequent first
    (ties in order of first appearance, so the same data always numbers the same)."""
    words: dict[str, int] = {}
    labels: dict[str, int] = {}
    read = 0
    for label, line in lines:
        labels[label] = labels.get(label, 0) + 1
        for word in line:
            words[word] = words.get(word, 0) + 1
        read += len(line) + 1
    kept = [(w, c) for w, c in words.items() if c >= min_count]
    kept.sort(key=lambda entry: -entry[1])  # stable: ties keep first appearance
    ordered_labels = sorted(labels.items(), key=lambda entry: -entry[1])
    return Vocabulary(kept, ordered_labels, read)


@dataclass(frozen=True)
class ModelArgs:
    dim: int
    epoch: int
    min_count: int
    word_ngrams: int
    bucket: int
    ws: int = 5
    neg: int = 5
    lr_update_rate: int = 100
    t: float = 1e-4


def write_model(
    stream: IO[bytes], args: ModelArgs, vocabulary: Vocabulary, input_matrix: np.ndarray, output_matrix: np.ndarray
) -> None:
    """A supervised softmax model in fastText's `.bin` layout."""
    stream.write(struct.pack("<ii", MAGIC, VERSION))
    stream.write(
        struct.pack(
            "<12id", args.dim, args.ws, args.epoch, args.min_count, args.neg, args.word_ngrams, LOSS_SOFTMAX,
            MODEL_SUPERVISED, args.bucket, 0, 0, args.lr_update_rate, args.t,
        )
    )  # fmt: skip
    entries = [(w, c, ENTRY_WORD) for w, c in vocabulary.words] + [(w, c, ENTRY_LABEL) for w, c in vocabulary.labels]
    # pruneidx_size -1: not pruned (0 would mean "every n-gram pruned").
    stream.write(
        struct.pack("<iiiqq", len(entries), len(vocabulary.words), len(vocabulary.labels), vocabulary.tokens_read, -1)
    )
    for word, count, kind in entries:
        stream.write(word.encode("utf-8") + b"\0" + struct.pack("<qb", count, kind))
    for matrix in (input_matrix, output_matrix):
        stream.write(struct.pack("<?qq", False, *matrix.shape))  # not quantized, rows, columns
        stream.write(np.ascontiguousarray(matrix, dtype="<f4").tobytes())

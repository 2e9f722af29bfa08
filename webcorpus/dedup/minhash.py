"""What exact and near-duplicate detection share: text normalisation, shingles, MinHash signatures.

Normalisation before shingling (documented in docs/dedup.md): lower-case; Unicode NFKD with
combining diacritical marks removed (é -> e); every run of digits becomes "0"; punctuation removed;
whitespace collapsed to single spaces. Shingles are runs of `shingle_size` consecutive normalised words.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Callable
from typing import Literal, get_args

from datasketch import LeanMinHash, MinHash

DIGITS = re.compile(r"\d+")
NON_WORD = re.compile(r"[^\w\s]|_")
DIACRITICS = re.compile("[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]")
HashName = Literal["sha1", "md5", "blake2b"]  # 32 bits of the digest feed datasketch
HASHES = get_args(HashName)

# FineWeb's MinHash settings: the defaults of both MinHash steps (dedup/batch.py, dedup/stream.py).
SHINGLE_SIZE, BANDS, ROWS, SEED, HASH = 5, 14, 8, 1, "sha1"
OPTION_HELP = {
    "shingle_size": "Words per shingle.",
    "bands": "LSH bands; more bands catch less similar pairs.",
    "rows": "Hashes per band; bands x rows is the signature length.",
    "seed": "Seed of the MinHash permutations.",
    "hash": "Shingle hash (32 bits of it).",
}


def normalize(text: str) -> str:
    text = unicodedata.normalize("NFKD", text.lower())
    if not text.isascii():
        text = DIACRITICS.sub("", text)
    text = DIGITS.sub("0", NON_WORD.sub(" ", text))
    return " ".join(text.split())


def shingles(text: str, size: int) -> list[bytes]:
    """The distinct word n-grams of the normalised text (a text shorter than `size` is one shingle)."""
    words = normalize(text).split()
    if len(words) <= size:
        return [" ".join(words).encode()] if words else []
    # In order of first appearance (a set's order would change with Python's hash seed).
    grams = dict.fromkeys(" ".join(words[i : i + size]) for i in range(len(words) - size + 1))
    return [g.encode() for g in grams]


def hash_function(name: str) -> Callable[[bytes], int]:
    """A 32-bit hash of a shingle, for datasketch."""
    if name not in HASHES:
        raise ValueError(f"unknown hash '{name}' (choose from {', '.join(HASHES)})")

    digest = getattr(hashlib, name)

    def hash32(data: bytes) -> int:
        return int.from_bytes(digest(data).digest()[:4], "little")

    return hash32


class Signer:
    """MinHash signatures with fixed permutations: same text and settings, same signature."""

    def __init__(self, shingle_size: int, num_perm: int, seed: int, hash: str) -> None:
        self.shingle_size = shingle_size
        self.num_perm = num_perm
        self.seed = seed
        self.hashfunc = hash_function(hash)
        # datasketch derives the permutations from the seed; build them once and reuse them.
        self._template = MinHash(num_perm=num_perm, seed=seed, hashfunc=self.hashfunc)

    def signature(self, text: str) -> LeanMinHash:
        minhash = MinHash(
            num_perm=self.num_perm,
            seed=self.seed,
            hashfunc=self.hashfunc,
            permutations=self._template.permutations,
            scheme=self._template.scheme,
        )
        minhash.update_batch(shingles(text, self.shingle_size))
        return LeanMinHash(minhash)


def exact_key(text: str) -> str:
    """Documents equal up to case and whitespace share this key."""
    return hashlib.sha1(" ".join(text.lower().split()).encode()).hexdigest()

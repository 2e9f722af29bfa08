"""What exact and near-duplicate detection share: text normalisation, shingles, MinHash signatures.

Normalisation before shingling (documented in docs/dedup.md): lower-case; Unicode NFKD with
combining diacritical marks removed (é -> e); every run of digits becomes "0"; punctuation removed;
whitespace collapsed to single spaces. Shingles are runs of `shingle_size` consecutive normalised words.
"""

from __future__ import annotations

import hashlib
import itertools
import re
import unicodedata
from collections.abc import Callable, Iterator
from typing import Literal, get_args

from datasketch import LeanMinHash, MinHash

from webcorpus.text import PIECE_CHARACTERS, pieces_at_whitespace

DIGITS = re.compile(r"\d+")
NON_WORD = re.compile(r"[^\w\s]|_")
SIGNATURE_BATCH = 4096  # shingles hashed at once: datasketch holds num_perm x this many 64-bit values
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
    """The distinct word n-grams of the normalised text (a text shorter than `size` is one shingle),
    in order of first appearance (a set's order would change with Python's hash seed)."""
    return list(dict.fromkeys(iter_shingles(text, size)))


def iter_shingles(text: str, size: int, piece_characters: int = PIECE_CHARACTERS) -> Iterator[bytes]:
    """The word n-grams of the normalised text, repeats included, normalising a piece of the text at a
    time: the memory of a long document's shingles stays within a small multiple of one piece."""
    carried: list[str] = []  # the last size-1 words of the previous piece
    emitted = False
    for piece in pieces_at_whitespace(text, piece_characters):
        words = carried + normalize(piece).split()
        for i in range(len(words) - size + 1):
            yield " ".join(words[i : i + size]).encode()
            emitted = True
        carried = words[-(size - 1) :] if size > 1 else []
    if not emitted and carried:
        yield " ".join(carried).encode()


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
        # A shingle seen twice changes no minimum, so repeats need not be removed first.
        shingle_stream = iter_shingles(text, self.shingle_size)
        while batch := list(itertools.islice(shingle_stream, SIGNATURE_BATCH)):
            minhash.update_batch(batch)
        return LeanMinHash(minhash)


def exact_key(text: str) -> str:
    """Documents equal up to case and whitespace share this key (the SHA-1 of the lower-cased words
    joined by single spaces, hashed a piece at a time)."""
    digest, separator = hashlib.sha1(), b""
    for piece in pieces_at_whitespace(text):
        words = piece.lower().split()
        if words:
            digest.update(separator + " ".join(words).encode())
            separator = b" "
    return digest.hexdigest()

"""What exact and near-duplicate detection share: text normalisation, shingles, MinHash signatures.

Normalisation before shingling (documented in docs/dedup.md): lower-case; Unicode NFKD with
combining diacritical marks of Latin, Greek and Cyrillic letters removed (é -> e), other scripts' marks
kept and recomposed (パ stays パ, Hindi's virama and Thai's vowel signs stay); every run of digits becomes
"0"; punctuation and symbols removed; whitespace collapsed to single spaces. Shingles are runs of
`shingle_size` consecutive normalised words, the words of the document's language (webcorpus/text.py:
SudachiPy, jieba, Kiwi, PyThaiNLP for ja, zh, ko, th), as FineWeb-2 shingles them.
"""

from __future__ import annotations

import hashlib
import itertools
import re
import unicodedata
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Literal, get_args

import regex

from webcorpus.languages.segmenters import SEGMENTED_LANGUAGES
from webcorpus.text import PIECE_CHARACTERS, pieces_at_whitespace, words_of

if TYPE_CHECKING:
    from datasketch import LeanMinHash

DIGITS = re.compile(r"\d+")
ASCII_NON_WORD = re.compile(r"[^\w\s]|_")
# Punctuation, symbols and control characters, not combining marks: in most scripts a mark is part of
# its word (kana voicing marks, Devanagari virama, Thai vowels).
NON_WORD = regex.compile(r"[\p{P}\p{S}\p{C}_]")
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
    "by_language": "Deduplicate each language apart (FineWeb-2): documents of different languages never match.",
}


def language_salt(language: str | None) -> int:
    """A stable 64-bit number per language, mixed into band keys when each language is deduplicated apart."""
    return int.from_bytes(hashlib.sha1((language or "").encode()).digest()[:8], "little")


def normalize(text: str) -> str:
    text = unicodedata.normalize("NFKD", text.lower())
    if text.isascii():
        text = ASCII_NON_WORD.sub(" ", text)
    else:
        # NFC joins again what NFKD took apart and DIACRITICS left: パ is ハ and U+309A after NFKD.
        text = NON_WORD.sub(" ", unicodedata.normalize("NFC", DIACRITICS.sub("", text)))
    return " ".join(DIGITS.sub("0", text).split())


def shingles(text: str, size: int, language: str | None = None) -> list[bytes]:
    """The distinct word n-grams of the normalised text (a text shorter than `size` is one shingle),
    in order of first appearance (a set's order would change with Python's hash seed)."""
    return list(dict.fromkeys(iter_shingles(text, size, language=language)))


def iter_shingles(
    text: str, size: int, piece_characters: int = PIECE_CHARACTERS, language: str | None = None
) -> Iterator[bytes]:
    """The word n-grams of the normalised text, repeats included, normalising a piece of the text at a
    time: the memory of a long document's shingles stays within a small multiple of one piece. In a
    language with a word segmenter the words are its words, each normalised (punctuation words vanish)."""
    carried: list[str] = []  # the last size-1 words of the previous piece
    emitted = False
    segmented = language in SEGMENTED_LANGUAGES
    for piece in pieces_at_whitespace(text, piece_characters):
        if segmented:
            piece = " ".join(words_of(piece, language))
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
        # imported here: datasketch's package imports scipy, which a run's driver (checking the YAML, whose
        # defaults come from this module) need not pay for
        from datasketch import LeanMinHash, MinHash

        self._minhash, self._lean = MinHash, LeanMinHash
        # datasketch derives the permutations from the seed; build them once and reuse them.
        self._template = MinHash(num_perm=num_perm, seed=seed, hashfunc=self.hashfunc)

    def signature(self, text: str, language: str | None = None) -> LeanMinHash:
        minhash = self._minhash(
            num_perm=self.num_perm,
            seed=self.seed,
            hashfunc=self.hashfunc,
            permutations=self._template.permutations,
            scheme=self._template.scheme,
        )
        # A shingle seen twice changes no minimum, so repeats need not be removed first.
        shingle_stream = iter_shingles(text, self.shingle_size, language=language)
        while batch := list(itertools.islice(shingle_stream, SIGNATURE_BATCH)):
            minhash.update_batch(batch)
        return self._lean(minhash)


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

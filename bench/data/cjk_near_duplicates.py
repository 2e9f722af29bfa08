#!/usr/bin/env python3
"""Near-duplicate recall on Chinese, Japanese (and any other) pages: copies with a few small edits, shingled
three ways, each at FineWeb's MinHash settings (5-grams, 14 bands x 8 rows):

- whitespace words: what minhash_dedup did before words per language (each run of text between
  punctuation marks one "word"; kana voicing marks turned into spaces);
- character 5-grams;
- the language's words (SudachiPy, jieba, Kiwi, PyThaiNLP): what minhash_dedup does now, as FineWeb-2.

For each page and each number of edits (a character replaced, 2-4 characters deleted, or a short phrase
inserted, at seeded random places) it prints the mean exact Jaccard similarity of original and copy and the
share of copies MinHash LSH pairs with their original (any band of 8 hashes equal).

    python bench/data/cjk_near_duplicates.py [WARC ...] [--languages ja zh] [--edits 1 3 10]

Without a WARC it uses the test articles (tests/multilingual_articles.py). With WARCs: every page is
extracted (trafilatura, FineWeb's settings) and identified (lid.176); pages in --languages with at least
--min-characters of text are used.
"""

from __future__ import annotations

import argparse
import random
import re
import sys
import unicodedata
from pathlib import Path

import numpy as np

from webcorpus.dedup.minhash import BANDS, DIACRITICS, ROWS, Signer, shingles

OLD_NON_WORD = re.compile(r"[^\w\s]|_")
INSERTS = ["そして", "しかし", "我们", "但是", "今天", "とても", "非常", "新しい"]


def old_normalize(text: str) -> str:
    """minhash.normalize as it was before words per language."""
    text = unicodedata.normalize("NFKD", text.lower())
    if not text.isascii():
        text = DIACRITICS.sub("", text)
    return " ".join(re.sub(r"\d+", "0", OLD_NON_WORD.sub(" ", text)).split())


def whitespace_shingles(text: str, size: int = 5) -> list[bytes]:
    words = old_normalize(text).split()
    return [" ".join(words[i : i + size]).encode() for i in range(max(1, len(words) - size + 1))]


def character_shingles(text: str, size: int = 5) -> list[bytes]:
    characters = "".join(old_normalize(text).split())
    return [characters[i : i + size].encode() for i in range(max(1, len(characters) - size + 1))]


def word_shingles(language: str) -> object:
    return lambda text: shingles(text, 5, language)


def edit(text: str, edits: int, rng: random.Random) -> str:
    characters = list(text)
    for _ in range(edits):
        i = rng.randrange(len(characters))
        kind = rng.randrange(3)
        if kind == 0:
            characters[i] = "人" if characters[i] != "人" else "山"
        elif kind == 1:
            del characters[i : i + rng.randint(2, 4)]
        else:
            characters[i:i] = list(rng.choice(INSERTS))
    return "".join(characters)


def jaccard(a: list[bytes], b: list[bytes]) -> float:
    sa, sb = set(a), set(b)
    return len(sa & sb) / len(sa | sb) if sa | sb else 1.0


def lsh_pairs(signer: Signer, a: list[bytes], b: list[bytes]) -> bool:
    """Would MinHash LSH (BANDS x ROWS) put the two shingle sets in one bucket?"""
    ha, hb = (signature(signer, s) for s in (a, b))
    return bool(np.any(np.all((ha == hb).reshape(BANDS, ROWS), axis=1)))


def signature(signer: Signer, shingle_list: list[bytes]) -> np.ndarray:
    from datasketch import MinHash

    template = signer._template
    minhash = MinHash(
        num_perm=signer.num_perm, seed=signer.seed, hashfunc=signer.hashfunc,
        permutations=template.permutations, scheme=template.scheme,
    )  # fmt: skip
    minhash.update_batch(list(dict.fromkeys(shingle_list)))
    return minhash.hashvalues


def pages_from_warcs(paths: list[str], languages: list[str], min_characters: int) -> list[tuple[str, str]]:
    from webcorpus.stages.extract import TrafilaturaExtractor
    from webcorpus.stages.langid import LanguageFilter
    from webcorpus.stages.read_warc import WarcReader

    reader, extract, langid = WarcReader(), TrafilaturaExtractor(favor_precision=True), LanguageFilter()
    pages = []
    for path in paths:
        for document in reader.read(Path(path)):
            if extract.filter(document) is None and langid.filter(document) is None:
                language = document.metadata["language"]
                if language in languages and len(document.text) >= min_characters:
                    pages.append((language, document.text))
    return pages


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("warcs", nargs="*")
    parser.add_argument("--languages", nargs="+", default=["ja", "zh"])
    parser.add_argument("--edits", nargs="+", type=int, default=[1, 3, 10])
    parser.add_argument("--copies", type=int, default=5, help="edited copies per page and number of edits")
    parser.add_argument("--min-characters", type=int, default=500)
    args = parser.parse_args()
    if args.warcs:
        pages = pages_from_warcs(args.warcs, args.languages, args.min_characters)
    else:
        sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests"))
        from multilingual_articles import text_of

        pages = [(language, text_of(language)) for language in args.languages]
    signer = Signer(5, BANDS * ROWS, 1, "sha1")
    rng = random.Random(1)
    print(f"{len(pages)} pages: " + ", ".join(f"{x} {sum(lang == x for lang, _ in pages)}" for x in args.languages))
    print(f"{'language':<9}{'edits':>6}  {'method':<18}{'mean Jaccard':>13}{'LSH pairs':>11}")
    for language in args.languages:
        texts = [text for lang, text in pages if lang == language]
        methods = {
            "whitespace words": whitespace_shingles,
            "character 5-grams": character_shingles,
            "language's words": word_shingles(language),
        }
        for edits in args.edits:
            copies = [(text, edit(text, edits, rng)) for text in texts for _ in range(args.copies)]
            for name, shingle in methods.items():
                scores, found = [], 0
                for original, copy in copies:
                    a, b = shingle(original), shingle(copy)
                    scores.append(jaccard(a, b))
                    found += lsh_pairs(signer, a, b)
                mean = sum(scores) / len(scores)
                print(f"{language:<9}{edits:>6}  {name:<18}{mean:>13.3f}{found / len(copies):>11.1%}")


if __name__ == "__main__":
    main()

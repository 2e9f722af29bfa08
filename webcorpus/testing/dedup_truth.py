"""A corpus with known near-duplicates, for measuring deduplication against ground truth.

Base documents are real English prose that needs no download: the docstrings of the Python
standard library, cut into documents of `words_per_doc` words. Each base document gets a variant
with a controlled share of its words substituted, inserted or deleted; the exact Jaccard similarity of
the pair's shingle sets is computed, so detection can be reported per similarity bucket. Pairs of
different base documents are the unrelated pairs.

    python -m webcorpus.testing.dedup_truth OUT.jsonl [--docs 400]
"""

from __future__ import annotations

import importlib
import inspect
import json
import random
import sys
import warnings
from dataclasses import dataclass

from webcorpus.dedup.minhash import shingles

MODULES = (
    "argparse asyncio collections concurrent.futures contextlib csv dataclasses datetime decimal email "
    "functools http.client http.server importlib inspect io itertools json logging multiprocessing os "
    "pathlib pickle random re shutil socket sqlite3 statistics string subprocess tarfile tempfile "
    "textwrap threading typing unittest urllib.parse urllib.request uuid xml.etree.ElementTree zipfile "
    "ast bisect calendar codecs configparser copy difflib doctest enum fractions ftplib getopt gettext glob "
    "gzip heapq imaplib ipaddress locale mailbox numbers optparse pdb platform plistlib poplib pprint pydoc "
    "queue sched selectors shelve shlex smtplib ssl symtable tokenize trace traceback types warnings wave "
    "weakref xml.dom.minidom"
).split()


def prose_words() -> list[str]:
    """Words of the docstrings of MODULES and their public members, in a fixed order."""
    words: list[str] = []
    seen: set[str] = set()  # inherited docstrings repeat; each counts once
    for name in MODULES:
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        members = [module]
        for key, obj in sorted(vars(module).items()):
            if not key.startswith("_"):
                members.append(obj)
                if inspect.isclass(obj):
                    members += [m for k, m in sorted(vars(obj).items()) if not k.startswith("_")]
        for obj in members:
            with warnings.catch_warnings():  # typing.io and friends warn when touched
                warnings.simplefilter("ignore", DeprecationWarning)
                doc = inspect.getdoc(obj) if callable(obj) or inspect.ismodule(obj) else None
            if doc and len(doc) > 200 and doc not in seen:
                seen.add(doc)
                words.extend(doc.split())
    return words


@dataclass
class Pair:
    a: int  # document indices into the corpus
    b: int
    jaccard: float
    edit_rate: float  # -1 for an unrelated pair


def edit(words: list[str], rate: float, vocabulary: list[str], rng: random.Random) -> list[str]:
    """Substitute, delete or insert words, each word touched with probability `rate`."""
    out: list[str] = []
    for word in words:
        roll = rng.random()
        if roll >= rate:
            out.append(word)
        elif roll < rate / 3:
            out.append(rng.choice(vocabulary))  # substitution
        elif roll < 2 * rate / 3:
            continue  # deletion
        else:
            out.extend([word, rng.choice(vocabulary)])  # insertion
    return out


def jaccard(x: str, y: str, size: int) -> float:
    a, b = set(shingles(x, size)), set(shingles(y, size))
    return len(a & b) / len(a | b) if a | b else 1.0


def make_corpus(
    docs: int = 400, words_per_doc: int = 180, shingle_size: int = 5, seed: int = 0
) -> tuple[list[str], list[Pair]]:
    """`docs` base documents, one variant each, and as many unrelated pairs. Returns texts and pairs."""
    rng = random.Random(seed)
    words = prose_words()
    if len(words) < docs * words_per_doc:
        raise ValueError(f"only {len(words)} words of docstrings; ask for fewer or shorter documents")
    vocabulary = sorted(set(words))
    bases = [words[i * words_per_doc : (i + 1) * words_per_doc] for i in range(docs)]
    rates = [0.0, 0.005, 0.01, 0.02, 0.03, 0.04, 0.06, 0.08, 0.1, 0.12, 0.15, 0.2, 0.3]
    texts: list[str] = [" ".join(base) for base in bases]
    pairs: list[Pair] = []
    for i, base in enumerate(bases):
        rate = rates[i % len(rates)]
        texts.append(" ".join(edit(base, rate, vocabulary, rng)))
        pairs.append(Pair(i, len(texts) - 1, jaccard(texts[i], texts[-1], shingle_size), rate))
    for i in range(docs):
        j = (i + 1 + rng.randrange(docs - 1)) % docs
        pairs.append(Pair(i, j, jaccard(texts[i], texts[j], shingle_size), -1.0))
    return texts, pairs


if __name__ == "__main__":
    out = sys.argv[1]
    count = int(sys.argv[sys.argv.index("--docs") + 1]) if "--docs" in sys.argv else 400
    corpus, truth = make_corpus(docs=count)
    with open(out, "w", encoding="utf-8") as f:
        for index, text in enumerate(corpus):
            f.write(json.dumps({"id": f"doc{index:06d}", "url": "", "text": text}) + "\n")
    with open(out + ".pairs.json", "w", encoding="utf-8") as f:
        json.dump([pair.__dict__ for pair in truth], f)
    print(f"{len(corpus)} documents, {len(truth)} pairs -> {out} and {out}.pairs.json")

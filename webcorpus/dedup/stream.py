"""Deduplication inside one stream of documents: a shell pipe, or one input file of a pipeline run.

Both steps remember what they kept in memory, so they see only the documents that pass through them
in one process. For near-duplicates across a whole corpus use `minhash_dedup` (dedup/batch.py).
"""

from __future__ import annotations

from datasketch import MinHashLSH

from webcorpus.dedup import minhash
from webcorpus.dedup.minhash import HashName, Signer, exact_key
from webcorpus.document import Document
from webcorpus.pipeline.step import Filter


class StreamMinHashDedup(Filter):
    """Keeps a document unless it collides, in some LSH band, with one already kept in this stream; the
    index is in memory, so this suits a shell pipe (in a pipeline run, each input file is one stream)."""

    name = "stream_minhash_dedup"
    drop_reasons = {
        "near_duplicate": "A near-duplicate (MinHash) of an earlier document; metadata.duplicate_of names it."
    }
    summary = (
        "Drop near-duplicates of documents already kept in this stream (one pipe, or one input file of a run); "
        "for the whole corpus use minhash_dedup."
    )
    option_help = minhash.OPTION_HELP
    option_minimum = {"shingle_size": 1, "bands": 1, "rows": 1}

    def __init__(
        self,
        shingle_size: int = minhash.SHINGLE_SIZE,
        bands: int = minhash.BANDS,
        rows: int = minhash.ROWS,
        seed: int = minhash.SEED,
        hash: HashName = minhash.HASH,
        by_language: bool = False,
    ) -> None:
        super().__init__()
        self.signer = Signer(shingle_size=shingle_size, num_perm=bands * rows, seed=seed, hash=hash)
        self.bands, self.rows, self.by_language = bands, rows, by_language
        self._new_index()

    def _new_index(self) -> None:
        self.indexes: dict[str | None, MinHashLSH] = {}  # one per language with by_language, else one
        self.order: dict[str, int] = {}

    def start_task(self) -> None:
        super().start_task()
        self._new_index()

    def filter(self, document: Document) -> str | None:
        language = document.metadata.get("language")
        signature = self.signer.signature(document.text, language)
        index = self.indexes.get(language if self.by_language else None)
        if index is None:
            index = MinHashLSH(num_perm=self.bands * self.rows, params=(self.bands, self.rows))
            self.indexes[language if self.by_language else None] = index
        matches = index.query(signature)
        if matches:
            # The earliest kept document of the candidates, so the pointer does not depend on set order.
            document.metadata["duplicate_of"] = min(matches, key=self.order.__getitem__)
            return "near_duplicate"
        key = document.id if document.id not in self.order else f"{document.id}#{len(self.order)}"
        self.order[key] = len(self.order)
        index.insert(key, signature)
        return None


class ExactDedup(Filter):
    """Drops a document whose text, lower-cased with whitespace collapsed, was seen before in this stream;
    `metadata.duplicate_of` names the first."""

    name = "exact_dedup"
    drop_reasons = {
        "exact_duplicate": "The same text (case, spacing aside) as an earlier document; metadata.duplicate_of names it."
    }
    summary = "Drop documents whose text (case and whitespace aside) was already seen in this stream; the first stays."

    def __init__(self) -> None:
        super().__init__()
        self.seen: dict[str, str] = {}

    def start_task(self) -> None:
        super().start_task()
        self.seen = {}

    def filter(self, document: Document) -> str | None:
        key = exact_key(document.text)
        first = self.seen.setdefault(key, document.id)
        if first != document.id:
            document.metadata["duplicate_of"] = first
            return "exact_duplicate"
        return None

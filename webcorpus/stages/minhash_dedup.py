"""dedup: streaming MinHash near-duplicate removal, FineWeb's settings (5-word shingles, 14 x 8)."""

from __future__ import annotations

from datasketch import MinHashLSH

from webcorpus.dedup import Signer
from webcorpus.document import Document
from webcorpus.stages.base import Filter


class MinHashDeduplicator(Filter):
    """Keeps a document unless it collides, in some LSH band, with one already kept.

    The index of kept documents lives in memory, so this suits a stream (a shell pipe). In a YAML
    run each input file is a separate stream.
    """

    name = "dedup"
    summary = "Drop near-duplicates of documents already kept (MinHash LSH over word 5-gram shingles)."
    option_help = {
        "shingle_size": "Words per shingle.",
        "bands": "LSH bands; more bands catch less similar pairs.",
        "rows": "Hashes per band; bands x rows is the signature length.",
        "seed": "Seed of the MinHash permutations.",
        "hash": "Shingle hash: sha1, md5 or blake2b (32 bits of it).",
    }

    def __init__(
        self, shingle_size: int = 5, bands: int = 14, rows: int = 8, seed: int = 1, hash: str = "sha1"
    ) -> None:
        super().__init__()
        self.signer = Signer(shingle_size=shingle_size, num_perm=bands * rows, seed=seed, hash=hash)
        self.bands, self.rows = bands, rows
        self._new_index()

    def _new_index(self) -> None:
        self.index = MinHashLSH(num_perm=self.bands * self.rows, params=(self.bands, self.rows))
        self.order: dict[str, int] = {}

    def start_task(self) -> None:
        super().start_task()
        self._new_index()

    def filter(self, document: Document) -> str | None:
        signature = self.signer.signature(document.text)
        matches = self.index.query(signature)
        if matches:
            # The earliest kept document of the candidates, so the pointer does not depend on set order.
            document.metadata["duplicate_of"] = min(matches, key=self.order.__getitem__)
            return "near_duplicate"
        key = document.id if document.id not in self.order else f"{document.id}#{len(self.order)}"
        self.order[key] = len(self.order)
        self.index.insert(key, signature)
        return None

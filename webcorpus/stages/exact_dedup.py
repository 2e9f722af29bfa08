"""exact-dedup: drop documents whose text repeats an earlier one (ignoring case and whitespace)."""

from __future__ import annotations

from webcorpus.dedup import exact_key
from webcorpus.document import Document
from webcorpus.stages.base import Filter


class ExactDeduplicator(Filter):
    name = "exact_dedup"
    summary = "Drop documents whose text (case and whitespace aside) was already seen; the first stays."

    def __init__(self) -> None:
        super().__init__()
        self.seen: dict[str, str] = {}

    def filter(self, document: Document) -> str | None:
        key = exact_key(document.text)
        first = self.seen.setdefault(key, document.id)
        if first != document.id:
            document.metadata["duplicate_of"] = first
            return "exact_duplicate"
        return None

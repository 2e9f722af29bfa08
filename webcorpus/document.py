"""The one record that flows between stages, and its JSON-lines form for shell pipes."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any


@dataclass
class Document:
    """A web page on its way through the pipeline.

    `text` holds the decoded HTML until `extract` replaces it with the main text.
    Everything else a stage learns about the page (fetch date, language, ...) goes in `metadata`.
    """

    id: str
    url: str
    text: str
    metadata: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(
            {"id": self.id, "url": self.url, "text": self.text, "metadata": self.metadata},
            ensure_ascii=False,
        )

    @classmethod
    def from_json(cls, line: str) -> Document:
        data = json.loads(line)
        if not isinstance(data, dict) or "text" not in data:
            raise ValueError("a document line must be a JSON object with at least 'text'")
        return cls(
            id=str(data.get("id", "")),
            url=str(data.get("url", "")),
            text=str(data["text"]),
            metadata=dict(data.get("metadata") or {}),
        )


def read_jsonl(stream: IO[str], source: str = "<stdin>") -> Iterator[Document]:
    """Documents from JSON lines; a malformed line is reported on stderr and skipped, not fatal."""
    for number, line in enumerate(stream, 1):
        if not line.strip():
            continue
        try:
            yield Document.from_json(line)
        except (ValueError, TypeError) as error:
            print(f"webcorpus: {source}:{number}: skipped a malformed document line ({error})", file=sys.stderr)


def write_jsonl(documents: Iterable[Document], stream: IO[str]) -> int:
    count = 0
    for document in documents:
        stream.write(document.to_json())
        stream.write("\n")
        count += 1
    return count

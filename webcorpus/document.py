"""The one record that flows between stages, and its JSON-lines form for shell pipes."""

from __future__ import annotations

import json
import re
import sys
from collections import Counter
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


# A lone UTF-16 surrogate ("\ud800" in JSON) is not text: no encoder writes it, fastText refuses it.
LONE_SURROGATE = re.compile("[\ud800-\udfff]")
SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")  # its JSON form; searched without copying the line
REPLACED = "invalid_unicode_replaced"  # the count stages report for lines that needed it


def read_jsonl(
    stream: IO[bytes] | IO[str], source: str = "<stdin>", counts: Counter[str] | None = None
) -> Iterator[Document]:
    """Documents from JSON lines; a malformed line is reported on stderr and skipped, not fatal.

    The one rule for bad text, here at the boundary so that every step gets valid text: bytes that are
    not UTF-8 and lone surrogates become U+FFFD, and each line that needed it is counted in
    `counts[REPLACED]`.
    """
    for number, raw in enumerate(stream, 1):
        line, repaired = raw, False
        if isinstance(raw, bytes):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError:
                line, repaired = raw.decode("utf-8", errors="replace"), True
        if not line.strip():
            continue
        try:
            document = Document.from_json(line)
        except (ValueError, TypeError) as error:
            print(f"webcorpus: {source}:{number}: skipped a malformed document line ({error})", file=sys.stderr)
            continue
        if SURROGATE_ESCAPE.search(line):  # only a \uD800-style escape can carry a lone surrogate into a line
            repaired |= _replace_surrogates(document)
        if repaired and counts is not None:
            counts[REPLACED] += 1
        yield document


def _replace_surrogates(document: Document) -> bool:
    """Lone surrogates in the document's strings become U+FFFD; whether there were any."""
    found = False

    def clean(value: Any) -> Any:
        nonlocal found
        if isinstance(value, str):
            fixed = LONE_SURROGATE.sub("\ufffd", value)
            found |= fixed != value
            return fixed
        if isinstance(value, dict):
            return {clean(k): clean(v) for k, v in value.items()}
        if isinstance(value, list):
            return [clean(v) for v in value]
        return value

    document.id, document.url, document.text = clean(document.id), clean(document.url), clean(document.text)
    document.metadata = clean(document.metadata)
    return found


def write_jsonl(documents: Iterable[Document], stream: IO[str]) -> int:
    count = 0
    for document in documents:
        stream.write(document.to_json())
        stream.write("\n")
        count += 1
    return count

"""Dropped documents, kept with their reason, like FineWeb's `removed/` folders."""

from __future__ import annotations

from contextlib import ExitStack
from typing import IO

from webcorpus.document import Document
from webcorpus.pipeline.run_folder import Folder


class _Discarded(Exception):
    pass


class ExclusionWriter:
    """Writes each dropped document as a JSON line with `metadata.drop_reason` set.

    The file appears (atomically) on `close`; nothing is written when nothing was dropped.
    """

    def __init__(self, folder: Folder, name: str) -> None:
        self.folder, self.name = folder, name
        self._stack = ExitStack()
        self._file: IO[str] | None = None
        self.count = 0

    def __call__(self, document: Document, reason: str) -> None:
        if self._file is None:
            # gzip's fastest level: pages dropped before extraction are whole HTML pages, often most of an
            # input file's bytes, and compressing them harder costs CPU for little disk
            self._file = self._stack.enter_context(self.folder.open_writing(self.name, level=1))
        document.metadata["drop_reason"] = reason
        self._file.write(document.to_json() + "\n")
        self.count += 1

    def close(self) -> None:
        self._stack.close()

    def discard(self) -> None:
        """Abandon the file: its temporary name is removed and nothing appears."""
        self._stack.__exit__(_Discarded, _Discarded(), None)

"""Progress on stderr: bars with one look for every long piece of work (a document pass, dedup phases,
tokenizing), and a shell pipe's live count. None of it touches what a step writes."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TextIO


def progress_bar(
    total: int | None, description: str, unit: str, enabled: bool, initial: int = 0, bar_format: str | None = None
) -> Any:
    """A tqdm bar; with `enabled` false it draws nothing (tests, pipes, `--no-progress`)."""
    from tqdm import tqdm

    return tqdm(
        total=total,
        initial=initial,
        unit=unit,
        desc=description,
        disable=not enabled,
        file=sys.stderr,
        dynamic_ncols=True,
        bar_format=bar_format,
    )


class PassProgress:
    """A document pass's progress line: documents read so far (the bar's count and rate), documents kept
    and files finished. The counts come from the workers while each file is still in progress (every
    PROGRESS_EVERY documents, tasks.py), so the line moves within a file; `finish` sets the pass's true
    totals from its progress markers, so it ends at the table's figures."""

    def __init__(self, label: str, files: int, files_done: int, enabled: bool, read: int = 0, kept: int = 0) -> None:
        self.files, self.files_done = files, files_done
        self.base = (read, kept)  # what files finished by an earlier run read and kept
        self.read, self.kept = read, kept
        self.files_before = files_done
        # Documents per second always (tqdm turns a slow rate into seconds per document).
        line = "{desc}: {n_fmt} docs [{elapsed}, {rate_noinv_fmt}{postfix}]"
        self.bar = progress_bar(None, label, "docs", enabled, initial=read, bar_format=line)
        self._postfix()
        self.bar.refresh()

    def _postfix(self) -> None:
        starting = self.read == self.base[0] and self.files_done == self.files_before  # no count from a worker yet
        state = ", workers starting" if starting else ""
        self.bar.set_postfix_str(f"kept {self.kept}, files {self.files_done}/{self.files}{state}", refresh=False)

    def add(self, read: int, kept: int) -> None:
        """Documents read and kept since the last call (a task in this process reports here directly)."""
        self.show(self.read - self.base[0] + read, self.kept - self.base[1] + kept)

    def show(self, read: int, kept: int) -> None:
        """The documents read and kept by this run's tasks so far (finished or not)."""
        read, kept = self.base[0] + read, self.base[1] + kept
        if (read, kept) == (self.read, self.kept):
            return
        self.kept, self.read, before = kept, read, self.read
        self._postfix()
        self.bar.update(read - before)

    def task_done(self) -> None:
        self.files_done += 1
        self._postfix()
        self.bar.refresh()

    def finish(self, read: int, kept: int) -> None:
        """The pass's totals, from its markers: what the line shows last."""
        self.kept, self.read, before = kept, read, self.read
        self._postfix()
        self.bar.update(read - before)
        self.bar.refresh()

    def close(self) -> None:
        self.bar.close()

    def __enter__(self) -> PassProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


LIVE_REFRESH_S = 0.25  # a shell pipe's count on stderr is redrawn at most this often


class LiveCount:
    """A shell pipe's live count on stderr: `label: N in, M kept, R/s`, redrawn at most every LIVE_REFRESH_S,
    only when stderr is a terminal (a log file gets the step's final report line alone). The documents pass
    through `inputs` and `outputs` unchanged; `read` replaces the input count where the step counts what it
    reads itself (a reader). The line is erased on close; the step's report follows it."""

    def __init__(self, label: str, read: Callable[[], int] | None = None, stream: TextIO | None = None) -> None:
        self.label, self.read, self.stream = label, read, stream or sys.stderr
        try:
            self.live = self.stream.isatty()
        except (AttributeError, ValueError):
            self.live = False
        self.started = time.monotonic()
        self.drawn: float | None = None
        self.documents_in = self.kept = 0

    def inputs(self, documents: Iterable[Any]) -> Iterator[Any]:
        for document in documents:
            self.documents_in += 1
            self.tick()
            yield document

    def outputs(self, documents: Iterable[Any]) -> Iterator[Any]:
        for document in documents:
            self.kept += 1
            self.tick()
            yield document

    def tick(self) -> None:
        if not self.live:
            return
        now = time.monotonic()
        if self.drawn is not None and now - self.drawn < LIVE_REFRESH_S:
            return
        self.drawn = now
        read = self.read() if self.read is not None else self.documents_in
        elapsed = now - self.started
        rate = f", {read / elapsed:,.0f}/s" if elapsed >= LIVE_REFRESH_S else ""  # none from the first document
        self.stream.write(f"\r\x1b[K{self.label}: {read:,} in, {self.kept:,} kept{rate}")
        self.stream.flush()

    def close(self) -> None:
        if self.drawn is not None:
            self.stream.write("\r\x1b[K")
            self.stream.flush()

    def __enter__(self) -> LiveCount:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

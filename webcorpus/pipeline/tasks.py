"""One task of a document pass: the pass's steps over one input file, outputs written atomically.

A task first deletes whatever an earlier, interrupted attempt left of its outputs, and writes its progress
marker last, so running it again (a resumed run, a retried Ray task) ends with the same files.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from webcorpus.document import Document
from webcorpus.pipeline import run_folder
from webcorpus.pipeline.exclusion import ExclusionWriter
from webcorpus.pipeline.plan import DocumentPass
from webcorpus.pipeline.step import Reader, Writer

PROGRESS_EVERY = 64  # documents read between updates of the shared progress counts


class Counts(Protocol):
    """Where a task adds the documents it has read and kept so far, for the driver's live progress: shared
    memory between local worker processes, a Ray actor, or the driver's own display in its process."""

    def add(self, read: int, kept: int) -> None: ...


@dataclass
class Task:
    index: int
    path: Path | str  # a URL for a remote input

    @property
    def key(self) -> str:
        return f"{self.index:05d}"


class DocumentPassRunner:
    """The steps of one document pass, built once per worker and reused for every task it is given."""

    def __init__(self, spec: DocumentPass) -> None:
        self.spec = spec
        # Each step's start-up in this worker (building it: loading a model, a blocklist), (wall, CPU)
        # seconds: the first task run here records it, so the table shows what start-up cost.
        self.startup: list[tuple[float, float]] | None = []
        self.steps = []
        for planned in spec.steps:
            wall, cpu = time.perf_counter(), time.process_time()
            self.steps.append(planned.build())
            self.startup.append((time.perf_counter() - wall, time.process_time() - cpu))
        reader, writer = self.steps[0], self.steps[-1]
        assert isinstance(reader, Reader) and isinstance(writer, Writer)
        self.reader, self.writer = reader, writer

    def delete_outputs_of(self, task: Task) -> None:
        """Delete what an interrupted attempt at `task` wrote (its shards, its dropped documents)."""
        run = self.spec.output
        run.delete_starting(run_folder.data(self.spec.root), f"{task.key}_")
        if self.spec.removed is not None:
            run.delete_many([f"{self.spec.removed}/{step.folder}/{task.key}.jsonl.gz" for step in self.spec.steps])

    def run_task(self, task: Task, counts: Counts | None = None) -> list[dict[str, Any]]:
        run = self.spec.output
        self.delete_outputs_of(task)
        exclusions: list[ExclusionWriter] = []
        for step, planned in zip(self.steps, self.spec.steps):
            step.start_task()
            step.on_drop = None
            if self.spec.removed is not None and step is not self.writer:
                exclusion = ExclusionWriter(run, f"{self.spec.removed}/{planned.folder}/{task.key}.jsonl.gz")
                step.on_drop = exclusion
                exclusions.append(exclusion)
        self.writer.open(run.child(run_folder.data(self.spec.root)), task.key)
        clocks = [[0.0, 0.0] for _ in self.steps]  # (wall, CPU) seconds
        reported = [0, 0]  # documents read and kept that `counts` has been told of

        def report() -> None:
            read, kept = self.reader.stats.documents_in, self.writer.stats.kept
            if counts is not None and (read, kept) != tuple(reported):
                counts.add(read - reported[0], kept - reported[1])
                reported[:] = [read, kept]

        try:
            documents = self.reader.read(task.path)
            if self.spec.limit is not None:
                documents = _first(documents, self.spec.limit)
            stream: Iterable[Document] = _timed(documents, clocks[0], report)
            for step, clock in zip(self.steps[1:], clocks[1:]):
                stream = _timed(step.run(stream), clock)
            for _ in stream:
                pass
            report()
        except BaseException:
            for exclusion in exclusions:
                exclusion.discard()
            raise
        for exclusion in exclusions:
            exclusion.close()
        # Each clock includes the time of every step upstream of it (the stream is pulled).
        stats = []
        startup, self.startup = self.startup or [(0.0, 0.0)] * len(self.steps), None
        for i, step in enumerate(self.steps):
            step.stats.time_s = clocks[i][0] - (clocks[i - 1][0] if i else 0.0)
            step.stats.cpu_s = clocks[i][1] - (clocks[i - 1][1] if i else 0.0) + startup[i][1]
            step.stats.startup_s = startup[i][0]
            stats.append({"step": step.name, **step.stats.to_dict()})
        run.write_json(
            run_folder.task_marker(self.spec.root, task.key),
            {
                "input": self.spec.input_name(task.path),
                "config": self.spec.fingerprint,
                "shards": self.writer.written,
                "steps": stats,
            },
        )
        return stats


def _first(documents: Iterator[Document], limit: int) -> Iterator[Document]:
    """The reader's first `limit` documents (`--limit`); then the reader is closed, so its file is too."""
    try:
        yield from itertools.islice(documents, limit)
    finally:
        close = getattr(documents, "close", None)
        if close is not None:
            close()


def _timed(stream: Iterable[Document], clock: list[float], report: Callable[[], None] | None = None
           ) -> Iterator[Document]:  # fmt: skip
    """`stream`, adding the wall and CPU seconds spent pulling each document to `clock`; `report` is called
    every PROGRESS_EVERY documents (the live counts)."""
    iterator = iter(stream)
    count = 0
    while True:
        wall, cpu = time.perf_counter(), time.process_time()
        try:
            document = next(iterator)
        except StopIteration:
            clock[0] += time.perf_counter() - wall
            clock[1] += time.process_time() - cpu
            break
        clock[0] += time.perf_counter() - wall
        clock[1] += time.process_time() - cpu
        count += 1
        if report is not None and count % PROGRESS_EVERY == 0:
            report()
        yield document

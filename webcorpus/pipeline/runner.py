"""The local executor: a pipeline's steps in order, per-document work spread over worker processes.

A pipeline is cut into passes:

- a *document pass*: a reader, the filters after it and a writer, run as one task per input file by a
  pool of worker processes. After a corpus step a pass has no reader of its own: it reads the documents
  the last step wrote (an implicit `read_parquet`, one task per shard); a pass with no writer of its own
  ends with an implicit `write_parquet` with its default options.
- a *corpus pass*: one corpus step over the whole folder of documents written before it.

Run folder:
    data/NNNNN_SSSSS.parquet       the first pass's documents (input file NNNNN, shard SSSSS)
    .progress/NNNNN.json           written last, when input file NNNNN is completely done
    removed/STEP/NNNNN.jsonl.gz    documents STEP dropped from file (or shard) NNNNN, with the reason
    STEP/                          a corpus step's output (minhash_dedup/data/, tokens/; tokenizer.json
                                   at the top), or a later document pass's, named after its first step
                                   (pii/data/, pii/.progress/)
    stats.json                     every step's counts, in pipeline order

Resuming: a task whose progress marker exists is skipped. Any other task is redone from scratch after
its partial outputs are deleted, so a run killed at any instant and rerun ends with exactly the files
of an uninterrupted run. Corpus steps resume from their own markers.

Workers build their own steps from the pipeline's description (names and options), so the runner works
with the `spawn` start method, and nothing depends on what a parent process had loaded.
"""

from __future__ import annotations

import glob
import hashlib
import json
import multiprocessing as mp
import os
import time
import traceback
from collections.abc import Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from webcorpus.atomic import remove_stale_tmp, write_json
from webcorpus.document import Document
from webcorpus.parquet import input_shards
from webcorpus.pipeline.config import PipelineConfig
from webcorpus.pipeline.exclusion import ExclusionWriter
from webcorpus.pipeline.progress import progress_bar
from webcorpus.pipeline.registry import step_class
from webcorpus.pipeline.step import CorpusContext, CorpusStep, Reader, StageStats, Step, Writer

PROGRESS_EVERY = 64  # documents between updates of the shared progress counter
IMPLICIT_READER = "read_parquet"
IMPLICIT_WRITER = "write_parquet"


@dataclass
class PlannedStep:
    """One step as the run executes it: declared in the YAML, or added by the runner (`implicit`)."""

    name: str
    options: dict[str, Any]
    folder: str  # its name in removed/ and, for a corpus step, its output; unique within the run
    implicit: bool = False

    @property
    def role(self) -> str:
        return step_class(self.name).role

    def build(self) -> Step:
        return step_class(self.name)(**self.options)


@dataclass
class DocumentPass:
    """Steps run document by document, one task per input file; picklable, so workers can rebuild it."""

    steps: list[PlannedStep]
    root: Path  # data/ and .progress/ are here
    removed: Path | None  # removed/ folder of the run, or None not to keep dropped documents
    fingerprint: str  # what must match for an earlier run's finished tasks to count


@dataclass
class CorpusPass:
    step: PlannedStep
    target: Path


def plan(config: PipelineConfig, output: Path) -> tuple[list[PlannedStep], list[DocumentPass | CorpusPass]]:
    """Every step the run executes, in order, and the passes that group them."""
    names = [step.name for step in config.steps]
    folders = [n if names.count(n) == 1 else f"{n}_{i}" for i, n in enumerate(names)]
    planned: list[PlannedStep] = []
    passes: list[DocumentPass | CorpusPass] = []
    pending: list[PlannedStep] = []
    removed = output / "removed" if config.removed else None

    def close_document_pass() -> None:
        if not pending:
            return
        steps = list(pending)
        if steps[0].role != "read":
            steps.insert(0, PlannedStep(IMPLICIT_READER, {}, f"{steps[0].folder}_{IMPLICIT_READER}", True))
        if steps[-1].role != "write":
            steps.append(PlannedStep(IMPLICIT_WRITER, {}, f"{steps[-1].folder}_{IMPLICIT_WRITER}", True))
        root = output if not passes else output / pending[0].folder
        planned.extend(steps)
        fingerprint = _fingerprint(planned, config.removed)
        passes.append(DocumentPass(steps, root, removed, fingerprint))
        pending.clear()

    for step, folder in zip(config.steps, folders):
        planned_step = PlannedStep(step.name, step.options, folder)
        if planned_step.role != "corpus":
            pending.append(planned_step)
            continue
        close_document_pass()
        cls = step_class(step.name)
        target = output / (cls.output_name if folder == step.name else f"{folder}/{cls.output_name}")
        planned.append(planned_step)
        passes.append(CorpusPass(planned_step, target))
    close_document_pass()
    return planned, passes


def _fingerprint(steps: list[PlannedStep], removed: bool) -> str:
    text = json.dumps({"steps": [[s.name, s.options] for s in steps], "removed": removed}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


# ---- one task of a document pass -------------------------------------------------------------------


@dataclass
class Task:
    index: int
    path: Path

    @property
    def key(self) -> str:
        return f"{self.index:05d}"


class DocumentPassRunner:
    """The steps of one document pass, built once per worker and reused for every task it is given."""

    def __init__(self, spec: DocumentPass) -> None:
        self.spec = spec
        self.steps = [step.build() for step in spec.steps]
        reader, writer = self.steps[0], self.steps[-1]
        assert isinstance(reader, Reader) and isinstance(writer, Writer)
        self.reader, self.writer = reader, writer

    def outputs_of(self, task: Task) -> list[Path]:
        found = list((self.spec.root / "data").glob(f"{task.key}_*.parquet"))
        if self.spec.removed is not None:
            for step in self.spec.steps:
                found += list((self.spec.removed / step.folder).glob(f"{task.key}.jsonl.gz"))
        return found

    def run_task(self, task: Task, counter: Any = None) -> list[dict[str, Any]]:
        for stale in self.outputs_of(task):
            stale.unlink()
        exclusions: list[ExclusionWriter] = []
        for step, planned in zip(self.steps, self.spec.steps):
            step.start_task()
            step.on_drop = None
            if self.spec.removed is not None and step is not self.writer:
                exclusion = ExclusionWriter(self.spec.removed / planned.folder / f"{task.key}.jsonl.gz")
                step.on_drop = exclusion
                exclusions.append(exclusion)
        self.writer.open(self.spec.root / "data", task.key)
        clocks = [[0.0] for _ in self.steps]
        try:
            stream: Iterable[Document] = _timed(self.reader.read(task.path), clocks[0], counter)
            for step, clock in zip(self.steps[1:], clocks[1:]):
                stream = _timed(step.run(stream), clock)
            for _ in stream:
                pass
        except BaseException:
            for exclusion in exclusions:
                exclusion.discard()
            raise
        for exclusion in exclusions:
            exclusion.close()
        # Each clock includes the time of every step upstream of it (the stream is pulled).
        stats = []
        for i, step in enumerate(self.steps):
            step.stats.time_s = clocks[i][0] - (clocks[i - 1][0] if i else 0.0)
            stats.append({"step": step.name, **step.stats.to_dict()})
        write_json(
            self.spec.root / ".progress" / f"{task.key}.json",
            {
                "input": str(task.path),
                "config": self.spec.fingerprint,
                "shards": [p.name for p in self.writer.written],
                "steps": stats,
            },
        )
        return stats


def _timed(stream: Iterable[Document], clock: list[float], counter: Any = None) -> Iterator[Document]:
    iterator = iter(stream)
    count = 0
    while True:
        start = time.perf_counter()
        try:
            document = next(iterator)
        except StopIteration:
            clock[0] += time.perf_counter() - start
            break
        clock[0] += time.perf_counter() - start
        count += 1
        if counter is not None and count % PROGRESS_EVERY == 0:
            with counter.get_lock():
                counter.value += PROGRESS_EVERY
        yield document
    if counter is not None and count % PROGRESS_EVERY:
        with counter.get_lock():
            counter.value += count % PROGRESS_EVERY


# State of a worker process, set by its initializer in that process (never inherited from the parent).
_WORKER: DocumentPassRunner | None = None
_WORKER_COUNTER: Any = None


def _start_worker(spec: DocumentPass, counter: Any) -> None:
    global _WORKER, _WORKER_COUNTER
    _WORKER, _WORKER_COUNTER = DocumentPassRunner(spec), counter


def _run_in_worker(task: Task) -> tuple[Task, str | None]:
    assert _WORKER is not None
    try:
        _WORKER.run_task(task, _WORKER_COUNTER)
        return task, None
    except Exception:
        return task, traceback.format_exc()


# ---- the run ---------------------------------------------------------------------------------------


@dataclass
class StepReport:
    """One step's totals over the whole run, for the table and stats.json."""

    name: str
    role: str
    implicit: bool
    stats: StageStats = field(default_factory=StageStats)
    output: str | None = None
    summary: dict[str, Any] = field(default_factory=dict)  # a corpus step's own figures and its `line`


@dataclass
class RunResult:
    steps: list[StepReport]
    files_done: int
    files_skipped: int
    failed: list[str]
    output: Path
    final_data: Path
    wall_s: float
    shard: Slice | None = None

    @property
    def documents_out(self) -> int:
        """Documents in the finished corpus: what the last step that writes documents kept."""
        writing = [r for r in self.steps if r.role == "write" or "data" in r.summary]
        return writing[-1].stats.kept if writing else 0

    @property
    def bad_files(self) -> list[str]:
        return [bad for report in self.steps for bad in report.stats.bad_files]


@dataclass(frozen=True)
class Slice:
    """`--shard I/N`: the input files whose position in the whole input list is I modulo N."""

    index: int
    count: int

    @classmethod
    def parse(cls, text: str) -> Slice:
        index, _, count = text.partition("/")
        if not (index.isdigit() and count.isdigit() and int(index) < int(count)):
            raise ValueError(f"--shard {text}: expected I/N with 0 <= I < N, e.g. 0/4")
        return cls(int(index), int(count))

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def run_pipeline(
    config: PipelineConfig,
    workers: int | None = None,
    progress: bool = True,
    start_method: str = "spawn",
    shard: Slice | None = None,
    merge: list[str] | None = None,
) -> RunResult:
    """Run every pass in order; a pass with failed tasks stops the run (rerun to retry them).

    Across machines without Ray: `shard` runs only the first pass (the per-document steps before the first
    corpus step) on one slice of the input files; `merge` then runs the rest of the pipeline over the
    union of every slice's run folder, once it has checked they are all there and made by this pipeline.
    Shard names carry each file's position in the whole input list, so slices never share a name.
    """
    started = time.perf_counter()
    output = Path(config.output)
    planned, passes = plan(config, output)
    first = passes[0]
    assert isinstance(first, DocumentPass)
    reports = [StepReport(s.name, s.role, s.implicit) for s in planned]
    index_of = {id(s): i for i, s in enumerate(planned)}
    files_done = files_skipped = 0
    if merge:
        if not any(isinstance(unit, CorpusPass) for unit in passes):
            raise ValueError(f"{config.path}: --merge needs a corpus step in the pipeline to run over the slices")
        runs = merged_runs(merge, first.fingerprint)
        for run in runs:
            summary = json.loads((run / "stats.json").read_text(encoding="utf-8"))
            files_done += summary["files_processed"] + summary["files_skipped_as_done"]
            for step, stats in zip(first.steps, summary["steps"]):
                reports[index_of[id(step)]].stats.merge(StageStats.from_dict(stats))
        data = [run / "data" for run in runs]
        passes = passes[1:]
        local = None
    else:
        # The first pass's steps are built here before any folder is made: a bad option value or a missing
        # input stops the run with nothing written. With one worker they also do the work.
        local = DocumentPassRunner(first)
        paths = local.reader.expand(config.input)
        data = [output / "data"]
        if shard is not None:
            passes = passes[:1]
    output.mkdir(parents=True, exist_ok=True)
    remove_stale_tmp(output)
    workers = workers or config.workers or os.cpu_count() or 1
    context = CorpusContext(workers=workers, progress=progress)
    failed: list[str] = []
    for unit in passes:
        if isinstance(unit, CorpusPass):
            step = unit.step.build()
            assert isinstance(step, CorpusStep)
            summary = step.run_corpus(data, unit.target, context)
            report = reports[index_of[id(unit.step)]]
            report.stats, report.summary, report.output = step.stats, summary, str(unit.target)
            if "data" in summary:
                data = [Path(summary["data"])]
            continue
        is_first = unit is first
        if not is_first:
            paths = input_shards(data)
        tasks = [Task(i, p) for i, p in enumerate(paths)]
        if is_first and shard is not None:
            tasks = [t for t in tasks if t.index % shard.count == shard.index]
        done = _completed(unit, tasks)
        pending = [t for t in tasks if t.index not in done]
        label = "files" if is_first else f"{unit.steps[1].name} shards"
        errors = _run_tasks(unit, pending, workers, progress, label, len(done), local if is_first else None,
                            start_method)  # fmt: skip
        failed += [f"{task.path}: {error}" for task, error in errors]
        if is_first:
            files_done, files_skipped = len(pending) - len(errors), len(done)
        for task in tasks:
            marker = unit.root / ".progress" / f"{task.key}.json"
            if marker.exists():
                for step, stats in zip(unit.steps, _read_marker(marker)["steps"]):
                    reports[index_of[id(step)]].stats.merge(StageStats.from_dict(stats))
        for step in unit.steps:
            if step.role == "write":
                reports[index_of[id(step)]].output = str(unit.root / "data")
        data = [unit.root / "data"]
        if failed:
            break
    wall = time.perf_counter() - started
    result = RunResult(reports, files_done, files_skipped, failed, output, data[0], wall, shard)
    write_json(output / "stats.json", run_summary(result, config, first.fingerprint))
    return result


def merged_runs(patterns: list[str], fingerprint: str) -> list[Path]:
    """The run folders `patterns` name, once each is known to be one finished slice of this pipeline's
    first pass and together they are every slice exactly once; anything else is one line and no work."""
    runs = sorted({Path(match) for pattern in patterns for match in (glob.glob(pattern) or [pattern])})
    slices: dict[int, Path] = {}
    counts = set()
    for run in runs:
        summary_path = run / "stats.json"
        if not summary_path.is_file():
            raise ValueError(f"{run}: not a finished run folder (no stats.json)")
        summary = json.loads(summary_path.read_text(encoding="utf-8"))
        if not summary.get("slice"):
            raise ValueError(f"{run}: was not run with --shard I/N, so it cannot be merged")
        if summary.get("first_pass") != fingerprint:
            raise ValueError(f"{run}: made by a different pipeline configuration than this one")
        if summary.get("files_failed"):
            raise ValueError(f"{run}: {len(summary['files_failed'])} files failed there; rerun that slice first")
        index, count = (int(n) for n in summary["slice"].split("/"))
        if index in slices:
            raise ValueError(f"{run} and {slices[index]} are both slice {summary['slice']}")
        slices[index] = run
        counts.add(count)
    if len(counts) != 1:
        raise ValueError(f"the runs to merge were cut into different numbers of slices ({sorted(counts)})")
    count = counts.pop()
    missing = sorted(set(range(count)) - set(slices))
    if missing:
        raise ValueError(f"slices {', '.join(f'{i}/{count}' for i in missing)} are missing from {', '.join(patterns)}")
    return [slices[i] for i in range(count)]


def _run_tasks(
    unit: DocumentPass,
    pending: list[Task],
    workers: int,
    progress: bool,
    label: str,
    already_done: int,
    local: DocumentPassRunner | None,
    start_method: str,
) -> list[tuple[Task, str]]:
    """Run `pending` tasks; returns (task, last line of its error) for each that failed."""
    errors: list[tuple[Task, str]] = []
    workers = max(1, min(workers, len(pending)))
    bar = progress_bar(len(pending) + already_done, label, "file", progress, initial=already_done)
    with bar:
        if workers == 1:
            runner = local or DocumentPassRunner(unit)
            counter = mp.Value("q", 0)
            for task in pending:
                try:
                    runner.run_task(task, counter)
                except Exception:
                    errors.append((task, traceback.format_exc().strip().splitlines()[-1]))
                bar.update(1)
                bar.set_postfix(documents=counter.value)
            return errors
        context = mp.get_context(start_method)
        counter = context.Value("q", 0)
        with ProcessPoolExecutor(
            workers, mp_context=context, initializer=_start_worker, initargs=(unit, counter)
        ) as pool:
            futures = {pool.submit(_run_in_worker, task): task for task in pending}
            waiting = set(futures)
            while waiting:
                finished, waiting = wait(waiting, timeout=0.5, return_when=FIRST_COMPLETED)
                for future in finished:
                    task = futures[future]
                    try:
                        _, error = future.result()
                    except BrokenProcessPool:
                        # A worker died (a crash in native code, the OOM killer): the tasks it and the
                        # pool still held are not done; a rerun retries just those.
                        error = "a worker process died while this file was in progress"
                    if error:
                        errors.append((task, error.strip().splitlines()[-1]))
                    bar.update(1)
                bar.set_postfix(documents=counter.value)
    return errors


def _completed(unit: DocumentPass, tasks: list[Task]) -> set[int]:
    done = set()
    for task in tasks:
        marker = unit.root / ".progress" / f"{task.key}.json"
        if marker.exists():
            recorded_marker = _read_marker(marker)
            if recorded_marker.get("config") != unit.fingerprint:
                raise RuntimeError(
                    f"{unit.root}: this folder holds output of a different pipeline configuration; "
                    "use a new output folder (or delete this one) to run the changed pipeline"
                )
            recorded = recorded_marker["input"]
            if recorded != str(task.path):
                raise RuntimeError(
                    f"{unit.root}: file {task.key} was {recorded} in the earlier run but is {task.path} now; "
                    "the input list changed, so use a new output folder"
                )
            done.add(task.index)
    return done


def _read_marker(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def run_summary(result: RunResult, config: PipelineConfig, first_pass: str) -> dict[str, Any]:
    return {
        "pipeline": str(config.path),
        "output": str(result.output),
        "slice": str(result.shard) if result.shard else None,
        "first_pass": first_pass,
        "final_data": str(result.final_data),
        "files_skipped_as_done": result.files_skipped,
        "files_processed": result.files_done,
        "files_failed": result.failed,
        "documents_out": result.documents_out,
        "bad_files": result.bad_files,
        "steps": [
            {
                "step": r.name,
                "role": r.role,
                "implicit": r.implicit,
                "output": r.output,
                **r.stats.to_dict(),
                **({"summary": {k: v for k, v in r.summary.items() if k != "line"}} if r.summary else {}),
            }
            for r in result.steps
        ],
    }


def format_table(result: RunResult) -> str:
    """The run's table: every step in order with its counts, time and drop reasons."""
    total_time = sum(r.stats.time_s for r in result.steps) or 1.0
    names = [r.name + (" *" if r.implicit else "") for r in result.steps]
    width = max(len(name) for name in names) + 2
    header = f"{'step':<{width}}{'in':>9}{'kept':>9}{'dropped':>9}{'seconds':>9}{'share':>7}  drop reasons"
    lines = [header, "-" * len(header)]
    pad = f"{'':<{width}}{'':>43}  "
    for name, report in zip(names, result.steps):
        stats = report.stats
        dropped = sum(stats.dropped.values())
        reasons = ", ".join(f"{r} {n}" for r, n in stats.dropped.most_common())
        share = f"{100 * stats.time_s / total_time:.0f}%"
        counts = f"{stats.documents_in:>9}{stats.kept:>9}{dropped:>9}"
        lines.append(f"{name:<{width}}{counts}{stats.time_s:>9.1f}{share:>7}  {reasons}")
        for error, count in sorted(stats.errors.items()):
            lines.append(f"{pad}! {error}: {count}")
        if stats.counts:
            what = "replaced" if report.role == "filter" else "made"
            done = ", ".join(f"{key} {n:,}" for key, n in sorted(stats.counts.items()))
            lines.append(f"{pad}{what}: {done}")
    if any(r.implicit for r in result.steps):
        lines.append("* added by the runner: documents read back or written between corpus steps")
    return "\n".join(lines)

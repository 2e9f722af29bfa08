"""The runner: a pipeline's passes in order, on an executor (worker processes here, or Ray).

Where every file of the run folder lives: run_folder.py.

A run whose documents all get dropped still finishes: the steps after the one that emptied the corpus are
not run (marked "not run: no documents" in the table and stats.json, so a rerun does the same), stats.json
and report.html are written, and `nothing_kept` says which step dropped everything and why; `webcorpus run`
then exits with its own status (cli.EXIT_NOTHING_KEPT).

Resuming: a task whose progress marker exists is skipped. Any other task is redone from scratch after
its partial outputs are deleted, so a run killed at any instant and rerun ends with exactly the files
of an uninterrupted run. Corpus steps resume by units.py. How passes are cut: plan.py; one task: tasks.py;
where tasks run: executors.py.

The run folder may be on object storage (`s3://...`): the driver then only lists and reads markers and
writes pipeline.yaml (the run's record: record.py), stats.json and report.html; every task and unit reads
and writes the bucket itself.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from webcorpus.atomic import FolderLock, lock_folder, remove_stale_tmp
from webcorpus.parquet import input_shards, shard_languages
from webcorpus.pipeline import run_folder
from webcorpus.pipeline.config import PipelineConfig
from webcorpus.pipeline.executors import CorpusContext, Executor, LocalExecutor, make_executor
from webcorpus.pipeline.plan import CorpusPass, DocumentPass, plan
from webcorpus.pipeline.progress import PassProgress
from webcorpus.pipeline.recipes import resolve_input
from webcorpus.pipeline.record import RunRecord, inputs_record
from webcorpus.pipeline.run_folder import Folder
from webcorpus.pipeline.step import CorpusStep, StageStats
from webcorpus.pipeline.tasks import DocumentPassRunner, Task
from webcorpus.text import NO_SPACE_LANGUAGES

STARTUP_SHOWN_S = 1.0  # the table names a step's start-up (summed over workers) from here
NOT_RUN = "no documents"  # why a step after an emptied corpus did not run
NOT_RUN_IN_SLICE = "left for --merge"  # why a `--shard` run did not run the steps after its first pass
# gopher_quality's rules that count words; in a language written without spaces they count characters.
WORD_COUNTING_REASONS = frozenset(
    {"no_words", "short_doc", "long_doc", "short_words", "long_words", "few_alpha_words", "few_stop_words"}
)
NO_SPACE_HINT = "for a language without spaces use the fineweb2 recipe (webcorpus run fineweb2)"
OTHER_LANGUAGE_HINT = "for a language other than English use the fineweb2 recipe (thresholds per language)"


@dataclass
class StepReport:
    """One step's totals over the whole run, for the table and stats.json."""

    name: str
    role: str
    implicit: bool
    stats: StageStats = field(default_factory=StageStats)
    output: str | None = None
    summary: dict[str, Any] = field(default_factory=dict)  # a corpus step's own figures
    line: str | None = None  # a corpus step's line for the terminal
    wrote_documents: bool = False  # a corpus step that wrote documents (the next steps read them)
    not_run: str | None = None  # why the step did not run: NOT_RUN or NOT_RUN_IN_SLICE
    # Seconds from the start to the end of the step as the driver saw it, worker start-up included. The
    # steps of one document pass run together, file by file: each gets the pass's wall time in proportion
    # to the worker time spent in it (its start-up included).
    wall_s: float = 0.0


@dataclass
class RunResult:
    steps: list[StepReport]
    files_done: int
    files_skipped: int
    failed: list[str]
    output: str  # the run folder: a path or a URL
    final_data: str
    wall_s: float
    shard: Slice | None = None

    @property
    def documents_out(self) -> int:
        """Documents in the finished corpus (or the slice): what the last step that wrote documents kept."""
        writing = [r for r in self.steps if not r.not_run and (r.role == "write" or r.wrote_documents)]
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
    shard: Slice | None = None,
    merge: list[str] | None = None,
    executor: Executor | None = None,
) -> RunResult:
    """Run every pass in order; a pass with failed tasks stops the run (rerun to retry them).

    Across machines without Ray: `shard` runs only the first pass (the per-document steps before the first
    corpus step) on one slice of the input files; `merge` then runs the rest of the pipeline over the
    union of every slice's run folder, once it has checked they are all there and made by this pipeline.
    Shard names carry each file's position in the whole input list, so slices never share a name.
    `executor`: where the work runs (default: the config's, started here and stopped at the end).
    The run folder (`config.output`) is a local path or a URL on object storage (s3://...).
    """
    run = _Run(config, workers, progress, shard)
    # Every check that can fail before a folder is made or an executor started.
    run.prepare(merge, getattr(executor, "name", None) if executor else config.executor)
    owned = executor is None
    try:
        executor = executor or make_executor(config.executor, run.workers, config.ray_address)
        try:
            with stdout_to_stderr():
                return run.execute(executor)
        finally:
            if owned:
                executor.close()
    finally:
        if run.lock is not None:
            run.lock.close()


INPUTS_SHOWN = 5  # a dry run lists this many input files, then how many more


def describe_run(
    config: PipelineConfig,
    workers: int | None = None,
    shard: Slice | None = None,
    merge: list[str] | None = None,
    executor_name: str | None = None,
) -> list[str]:
    """`webcorpus run --dry-run`: every check a run makes before it starts (the YAML was checked on
    loading; here the steps' values, the inputs, the output folder and what an earlier run left in it),
    then the inputs and the plan, pass by pass, with each pass's steps and what a worker needs. Runs and
    writes nothing; a check that fails raises as the run would."""
    run = _Run(config, workers, False, shard)
    executor_name = executor_name or config.executor
    run.prepare(merge, executor_name, dry_run=True)
    lines = [f"{config.path}: checked, nothing run or written (--dry-run)"]
    if run.merged:
        lines.append(f"merge: {len(run.merged)} slices: {', '.join(map(str, run.merged))}")
    else:
        tasks = run.first_tasks()
        done = _completed(run.first, tasks)
        lines.append(f"input: {len(run.inputs)} files from {', '.join(config.input)}")
        lines += [f"  {path}" for path in run.inputs[:INPUTS_SHOWN]]
        if len(run.inputs) > INPUTS_SHOWN:
            lines.append(f"  ... and {len(run.inputs) - INPUTS_SHOWN} more")
        if shard is not None:
            lines.append(f"slice {shard}: {len(tasks)} of them")
        if done:
            lines.append(f"output: {run.output} (resumes: {len(done)} of {len(tasks)} files already done)")
        else:
            lines.append(f"output: {run.output}")
    limit = f"; at most {config.limit} documents per input file (--limit)" if config.limit else ""
    lines.append(f"executor: {executor_name or LocalExecutor.name}, {run.workers} workers{limit}")
    lines.append(f"plan: {len(run.passes)} pass{'es' if len(run.passes) > 1 else ''}")
    for number, unit in enumerate(run.passes, 1):
        if isinstance(unit, CorpusPass):
            needs = _resources_text(unit.step.resources)
            lines.append(f"  {number}. corpus step over everything before it ({needs} per unit):")
            lines.append(f"       {unit.step.name} -> {unit.target}")
            continue
        if unit is run.first:
            what = f"one task per input file ({len(run.first_tasks())})"
        else:
            what = f"one task per shard {unit.steps[0].name} reads"
        lines.append(f"  {number}. per document, {what}, each worker {_resources_text(unit.resources)}:")
        names = [step.name + (" *" if step.implicit else "") for step in unit.steps]
        lines.append(f"       {', '.join(names)} -> {run_folder.data(unit.root)}/")
    if any(step.implicit for unit in run.passes if isinstance(unit, DocumentPass) for step in unit.steps):
        lines.append("* added by the runner: documents read back or written between corpus steps")
    return lines


def _resources_text(resources: Any) -> str:
    """What a worker needs, as a dry run shows it: `1 CPU`, `1 CPU, 1 GPU, 8 GiB`."""
    parts = [f"{resources.cpus:g} CPU"]
    if resources.gpus:
        parts.append(f"{resources.gpus:g} GPU")
    if resources.memory_gb:
        parts.append(f"{resources.memory_gb:g} GiB")
    return ", ".join(parts)


@contextmanager
def stdout_to_stderr() -> Iterator[None]:
    """While a run works, whatever writes to this process's stdout (its file descriptor, so native code
    too) writes to stderr, beside the progress bars: stdout is for the run's table. (The tokenizers
    library's BPE trainer draws its progress there, which left empty lines above the table in a file.)"""
    try:
        sys.stdout.flush()
        saved = os.dup(1)
    except (OSError, ValueError, AttributeError):  # no stdout to protect
        yield
        return
    try:
        os.dup2(2, 1)
    except OSError:
        os.close(saved)
        yield
        return
    try:
        yield
    finally:
        try:
            sys.stdout.flush()
        except (OSError, ValueError, AttributeError):
            pass
        os.dup2(saved, 1)
        os.close(saved)


class _Run:
    """One call of run_pipeline: the plan, each step's running totals, and where the documents are."""

    def __init__(
        self,
        config: PipelineConfig,
        workers: int | None,
        progress: bool,
        shard: Slice | None,
    ) -> None:
        self.started = time.perf_counter()
        self.config, self.progress, self.shard = config, progress, shard
        self.output = Folder(config.output)
        self.lock: FolderLock | None = None
        self.workers = workers or config.workers or os.cpu_count() or 1
        planned, self.passes = plan(config, self.output)
        self.first = self.passes[0]
        assert isinstance(self.first, DocumentPass)
        self.reports = [StepReport(s.name, s.role, s.implicit) for s in planned]
        self.index_of = {id(s): i for i, s in enumerate(planned)}
        self.files_done = self.files_skipped = 0
        self.first_done: set[int] = set()
        self.failed: list[str] = []
        self.local: DocumentPassRunner | None = None
        self.inputs: list[Path | str] = []
        self.data = [self.output.url(run_folder.DATA)]  # where the documents are now
        self.documents = 0  # how many documents `data` holds
        self.shard_bytes: dict[str, int] = {}  # a slice's first-pass shards and their sizes, for --merge
        self.merged: list[Path] = []  # the slices a --merge run reads
        self.record = RunRecord(self.output, config, self.first.fingerprint)

    def report(self, step: Any) -> StepReport:
        return self.reports[self.index_of[id(step)]]

    def prepare(self, merge: list[str] | None, executor_name: str | None = None, dry_run: bool = False) -> None:
        """Every check that can fail before anything is written; then (unless `dry_run`, which writes
        nothing) the folder's lock."""
        if self.output.remote and not dry_run:
            try:
                self.output.write_bytes(".webcorpus-write-check", b"")  # a missing or read-only bucket: now
                self.output.delete(".webcorpus-write-check")
            except Exception as error:  # botocore's and aiohttp's errors are not all OSErrors
                raise ValueError(f"{self.output}: cannot write there ({type(error).__name__}: {error})") from None
        elif not self.output.remote:
            _check_folder(self.output.path())
        if merge:
            if self.output.remote or any("://" in pattern for pattern in merge):
                raise ValueError("--merge works on local (or shared) folders; copy the slices there first")
            if not any(isinstance(unit, CorpusPass) for unit in self.passes):
                raise ValueError(f"{self.config.path}: --merge needs a corpus step to run over the slices")
            runs = self.merged = merged_runs(merge, self.first.fingerprint)
            for run in runs:
                summary = json.loads((run / run_folder.STATS).read_text(encoding="utf-8"))
                self.files_done += summary["files_processed"] + summary["files_skipped_as_done"]
                for step, stats in zip(self.first.steps, summary["steps"]):
                    self.report(step).stats.merge(stats)
            # A slice that kept nothing (or had no input file) may have no shards, or no data/ at all.
            with_shards = [str(run / run_folder.DATA) for run in runs if any((run / run_folder.DATA).glob("*.parquet"))]
            self.data = with_shards or self.data
            self.documents = self.report(self.first.steps[-1]).stats.kept
            self.passes = self.passes[1:]
        else:
            # The first pass's steps are built here: a bad option value or a missing input stops the run
            # with nothing written. With one local worker they also do the work.
            self.local = DocumentPassRunner(self.first)
            self.inputs = self.local.reader.expand([resolve_input(pattern) for pattern in self.config.input])
            if self.shard is not None:
                for later in self.reports[len(self.first.steps) :]:
                    later.not_run = NOT_RUN_IN_SLICE
                self.passes = self.passes[:1]
        if executor_name in (None, LocalExecutor.name):  # a GPU pass on a machine without GPUs: before any work
            for unit in self.passes:
                if isinstance(unit, DocumentPass):
                    unit.local_workers(self.workers, 1)
        self.check_earlier_run()
        if not self.output.remote and not dry_run:
            # Two runs into one folder would race on the same files: the second stops here, before it
            # touches anything (not even the first one's temporary files). (A bucket has no such lock.)
            self.lock = lock_folder(self.output.path())
            remove_stale_tmp(self.output.path())

    def check_earlier_run(self) -> None:
        """A folder whose record names another configuration is refused before anything runs; a limit
        that differs is named, since a rerun without --limit must never finish a limited run as whole."""
        earlier = self.record.earlier()
        if earlier is None or earlier.get("first_pass") in (None, self.first.fingerprint):
            return
        before, now_ = earlier.get("limit"), self.config.limit
        if before != now_:
            if before:
                was = f"a run limited to {before} documents per input file (--limit {before})"
                again = f"rerun with --limit {before}"
            else:
                was, again = "a full run (no --limit)", "rerun without --limit"
            raise RuntimeError(
                f"{self.output}: this folder holds {was}; {again} to resume it, or use a new output folder (or "
                "delete this one)"
            )
        raise RuntimeError(
            f"{self.output}: this folder holds output of a different pipeline configuration; use a new output "
            "folder (or delete this one) to run the changed pipeline"
        )

    def first_tasks(self) -> list[Task]:
        """The first pass's tasks: one per input file (of this slice, with --shard)."""
        tasks = [Task(i, p) for i, p in enumerate(self.inputs)]
        if self.shard is not None:
            tasks = [t for t in tasks if t.index % self.shard.count == self.shard.index]
        return tasks

    def begin_record(self, executor: Executor) -> None:
        """RUN/pipeline.yaml with this attempt started, once the folder is known to resume this run."""
        if self.merged:
            names = [str(run) for run in self.merged]
        else:
            names = [self.first.input_name(path) for path in self.inputs]
        executor_name = getattr(executor, "name", type(executor).__name__)
        self.record.begin(executor_name, self.workers, inputs_record(names), str(self.shard) if self.shard else None)

    def execute(self, executor: Executor) -> RunResult:
        context = CorpusContext(executor, self.progress)
        if any(unit is self.first for unit in self.passes):  # other markers stop the run before its record
            self.first_done = _completed(self.first, self.first_tasks())
        self.begin_record(executor)
        last_document_pass = max(
            (i for i, unit in enumerate(self.passes) if isinstance(unit, DocumentPass)), default=-1
        )
        for index, unit in enumerate(self.passes):
            if unit is not self.first and self.documents == 0:
                for step in [unit.step] if isinstance(unit, CorpusPass) else unit.steps:
                    self.report(step).not_run = NOT_RUN
            elif isinstance(unit, CorpusPass):
                self.run_corpus_pass(unit, context)
            else:
                self.run_document_pass(unit, executor)
                if self.failed:
                    break
            release = getattr(executor, "release", None)  # optional (executors.py)
            if index == last_document_pass and release is not None:
                release()  # the document passes' workers go while the corpus steps run
        wall = time.perf_counter() - self.started
        result = RunResult(self.reports, self.files_done, self.files_skipped, self.failed, self.output.location,
                           str(self.data[0]), wall, self.shard)  # fmt: skip
        summary = run_summary(result, self.config, self.first.fingerprint)
        summary["record"] = self.record.end()
        if self.shard is not None:  # what --merge checks the slice against
            summary |= {"inputs": input_list_record(self.first, self.inputs), "shard_bytes": self.shard_bytes}
        self.output.write_json(run_folder.STATS, summary)
        from webcorpus.report.html import write_report  # matplotlib: loaded only when a run has finished

        try:
            write_report(self.output)
        except Exception as error:  # the data is done and counted; a report that fails must not fail the run
            print(f"warning: no report.html in {self.output}: {error}", file=sys.stderr)
        return result

    def run_corpus_pass(self, unit: CorpusPass, context: CorpusContext) -> None:
        wall, cpu, workers_cpu = time.perf_counter(), time.process_time(), context.cpu_s
        step = unit.step.build()
        assert isinstance(step, CorpusStep)
        target = self.output.url(unit.target)
        result = step.run_corpus(self.data, target, context)
        context.made.update(result.made)
        report = self.report(unit.step)
        report.stats, report.summary, report.line, report.output = step.stats, result.figures, result.line, target
        report.wall_s = time.perf_counter() - wall
        # This process's CPU and its units' on the workers (a unit run here counts once: the context
        # times only units that ran in other processes).
        report.stats.cpu_s = time.process_time() - cpu + context.cpu_s - workers_cpu
        if result.data is not None:
            # Per language, as Filter.run counts them, from the Parquet `language` column of what the step
            # read and wrote (one column, counted per shard on the workers; right on a resumed run too).
            before, after = _languages(self.data, context), _languages([result.data], context)
            report.stats.count("language_kept").update(after)
            report.stats.count("language_dropped").update(before - after)
            report.wrote_documents = True
            self.data, self.documents = [result.data], report.stats.kept

    def run_document_pass(self, unit: DocumentPass, executor: Executor) -> None:
        is_first = unit is self.first
        if is_first:
            tasks, done = self.first_tasks(), self.first_done
        else:
            tasks = [Task(i, p) for i, p in enumerate(input_shards(self.data))]
            done = _completed(unit, tasks)
        pending = [t for t in tasks if t.index not in done]
        label = "read" if is_first else f"{unit.steps[1].name}, read"
        started = time.perf_counter()
        earlier = [0, 0]  # documents read and kept by the files an earlier run finished
        if done and self.progress:
            for _, recorded in _markers(unit, [t for t in tasks if t.index in done]):
                earlier[0] += recorded["steps"][0]["documents_in"]
                earlier[1] += recorded["steps"][-1]["kept"]
        with PassProgress(label, len(tasks), len(done), self.progress, *earlier) as progress:
            errors = executor.run_tasks(unit, pending, progress, self.local if is_first else None)
            self.failed += [f"{task.path}: {error}" for task, error in errors]
            if is_first:
                self.files_done, self.files_skipped = len(pending) - len(errors), len(done)
            data = run_folder.data(unit.root)
            # In input order, whether finished now or before, so the totals never depend on it.
            for _, recorded in _markers(unit, tasks):
                for step, stats in zip(unit.steps, recorded["steps"]):
                    self.report(step).stats.merge(stats)
                if is_first and self.shard is not None:
                    for name in recorded["shards"]:
                        self.shard_bytes[name] = self.output.size(f"{data}/{name}")
            first, last = self.report(unit.steps[0]).stats, self.report(unit.steps[-1]).stats
            progress.finish(first.documents_in, last.kept)
        wall = time.perf_counter() - started
        busy = [self.report(step).stats.time_s + self.report(step).stats.startup_s for step in unit.steps]
        for step, seconds in zip(unit.steps, busy):
            self.report(step).wall_s = wall * seconds / (sum(busy) or 1.0) if sum(busy) else wall / len(busy)
        for step in unit.steps:
            if step.role == "write":
                self.report(step).output = self.output.url(data)
        self.data, self.documents = [self.output.url(data)], self.report(unit.steps[-1]).stats.kept


def _languages(sources: list[str], context: CorpusContext) -> Counter[str]:
    """Documents per language over the shards of `sources`, each shard counted on a worker."""
    total: Counter[str] = Counter()
    for counts in context.map(shard_languages, input_shards(sources)):
        total.update(counts)
    return total


def merged_runs(patterns: list[str], fingerprint: str) -> list[Path]:
    """The run folders `patterns` name, once each is known to be one finished slice of this pipeline's
    first pass, cut from the same input list, with every shard its markers list, and together they are
    every slice exactly once; anything else is one line and no work."""
    runs = sorted({Path(match) for pattern in patterns for match in (glob.glob(pattern) or [pattern])})
    slices: dict[int, Path] = {}
    first: tuple[Path, dict[str, Any], int] | None = None  # a run, its input list record and its N
    for run in runs:
        summary_path = run / run_folder.STATS
        if not summary_path.is_file():
            raise ValueError(f"{run}: not a finished run folder (no stats.json)")
        summary = json.loads(summary_path.read_text(encoding="utf-8"))
        if not summary.get("slice"):
            raise ValueError(f"{run}: was not run with --shard I/N, so it cannot be merged")
        if summary.get("first_pass") != fingerprint:
            raise ValueError(f"{run}: made by a different pipeline configuration than this one")
        if summary.get("files_failed"):
            raise ValueError(f"{run}: {len(summary['files_failed'])} files failed there; rerun that slice first")
        if not isinstance(summary.get("inputs"), dict) or not isinstance(summary.get("shard_bytes"), dict):
            raise ValueError(
                f"{run}: records no input list (an older webcorpus made it); rerun its --shard command into the "
                "same folder to record it (finished files are skipped)"
            )
        index, count = (int(n) for n in summary["slice"].split("/"))
        if first is None:
            first = (run, summary["inputs"], count)
        elif count != first[2]:
            raise ValueError(
                f"{run} is slice {summary['slice']} but {first[0]} is one of {first[2]}: "
                "the runs to merge were cut into different numbers of slices"
            )
        elif summary["inputs"] != first[1]:
            theirs, ours = summary["inputs"]["files"], first[1]["files"]
            raise ValueError(
                f"{run} and {first[0]} were cut from different input lists ({theirs} and {ours} files, or other "
                "files or order); run every slice with the same --input"
            )
        if index in slices:
            raise ValueError(f"{run} and {slices[index]} are both slice {summary['slice']}")
        _check_slice_shards(run, summary, index, count)
        slices[index] = run
    if first is None:
        raise ValueError(f"no run folder matches {', '.join(patterns)}")
    count = first[2]
    missing = sorted(set(range(count)) - set(slices))
    if missing:
        raise ValueError(f"slices {', '.join(f'{i}/{count}' for i in missing)} are missing from {', '.join(patterns)}")
    return [slices[i] for i in range(count)]


def _check_slice_shards(run: Path, summary: dict[str, Any], index: int, count: int) -> None:
    """Every input file of slice `index`/`count` has its progress marker, and every shard a marker lists is
    in data/ with the size it had when the slice finished."""
    for file_index in range(index, summary["inputs"]["files"], count):
        marker = run / run_folder.task_marker("", f"{file_index:05d}")
        if not marker.is_file():
            raise ValueError(f"{marker}: missing, so input file {file_index} of this slice is not done; rerun it")
        for name in json.loads(marker.read_text(encoding="utf-8"))["shards"]:
            shard, recorded = run / run_folder.DATA / name, summary["shard_bytes"].get(name)
            if not shard.is_file():
                raise ValueError(
                    f"{shard}: missing (listed by {marker}); copy it back, or delete the marker and rerun the slice"
                )
            if recorded is not None and shard.stat().st_size != recorded:
                raise ValueError(
                    f"{shard}: {shard.stat().st_size} bytes, {recorded} when the slice finished (truncated or "
                    "changed); copy it again, or delete the marker and rerun the slice"
                )


def input_list_record(unit: DocumentPass, inputs: list[Path | str]) -> dict[str, Any]:
    """How many input files a run had and a hash of the whole list in order: slices to merge must agree."""
    names = json.dumps([unit.input_name(path) for path in inputs])
    return {"files": len(inputs), "sha256": hashlib.sha256(names.encode()).hexdigest()}


def _check_folder(output: Path) -> None:
    """The run folder, and every folder above it that exists, must be folders: one line, not errno 17 or 20."""
    for path in (output, *output.parents):
        if path.exists():
            if not path.is_dir():
                what = "the output" if path == output else f"in the output's path {output}"
                raise ValueError(f"{path}: is a file, not a folder ({what}); choose another output folder")
            return


def _completed(unit: DocumentPass, tasks: list[Task]) -> set[int]:
    """The indices of the tasks an earlier run finished, their markers checked against this run."""
    done = set()
    for task, recorded in _markers(unit, tasks):
        if recorded.get("config") != unit.fingerprint:
            raise RuntimeError(
                f"{unit.output.url(unit.root)}: this folder holds output of a different pipeline configuration; "
                "use a new output folder (or delete this one) to run the changed pipeline"
            )
        if recorded["input"] != unit.input_name(task.path):
            raise RuntimeError(
                f"{unit.output.url(unit.root)}: file {task.key} was {recorded['input']} in the earlier run but is "
                f"{task.path} now; the input list changed, so use a new output folder"
            )
        done.add(task.index)
    return done


MARKERS_READ_TOGETHER = 256  # concurrent reads on object storage; never every marker of a big run in memory


def _markers(unit: DocumentPass, tasks: list[Task]) -> Iterator[tuple[Task, dict[str, Any]]]:
    """(task, its marker) for the tasks that have one, in order: one listing of the markers' folder, then
    the markers read a few hundred at a time."""
    written = unit.output.names(run_folder.progress(unit.root))
    found = [task for task in tasks if f"{task.key}.json" in written]
    for start in range(0, len(found), MARKERS_READ_TOGETHER):
        chunk = found[start : start + MARKERS_READ_TOGETHER]
        contents = unit.output.read_many([run_folder.task_marker(unit.root, task.key) for task in chunk])
        for task, data in zip(chunk, contents):
            yield task, json.loads(data)


def nothing_kept(result: RunResult) -> list[str]:
    """Why a run that did not fail kept nothing: one line naming the step that dropped the last documents
    and its top reason, then a hint where one applies. Empty when the finished corpus has documents."""
    if result.failed or result.documents_out:
        return []
    emptied = next((r for r in result.steps if r.stats.documents_in and not r.stats.kept), None)
    if emptied is None:
        return [f"nothing kept: {result.steps[0].name} read no documents"]
    stats = emptied.stats
    if not stats.dropped:
        return [f"nothing kept: {emptied.name} kept 0 of {stats.documents_in}"]
    dropped = sum(stats.dropped.values())
    reason, count = stats.dropped.most_common(1)[0]
    why = f"as {reason}" if count == dropped else f"most as {reason} ({count})"
    lines = [f"nothing kept: {emptied.name} dropped {dropped} of {stats.documents_in} {why}"]
    languages = stats.distributions.get("language_dropped", {})
    without_spaces = sum(n for language, n in languages.items() if language in NO_SPACE_LANGUAGES)
    not_english = sum(n for language, n in languages.items() if language not in ("en", "(none)"))
    if reason in WORD_COUNTING_REASONS and 2 * without_spaces > dropped:
        lines.append(NO_SPACE_HINT)
    elif reason in WORD_COUNTING_REASONS and 2 * not_english > dropped:  # Korean, Russian: English stop words
        lines.append(OTHER_LANGUAGE_HINT)
    return lines


def run_summary(result: RunResult, config: PipelineConfig, first_pass: str) -> dict[str, Any]:
    return {
        "pipeline": Folder(result.output).url(run_folder.PIPELINE),  # the run's record: what made it
        "pipeline_source": str(config.path),  # the YAML it was started with
        "output": str(result.output),
        "slice": str(result.shard) if result.shard else None,
        "first_pass": first_pass,
        "final_data": str(result.final_data),
        "files_skipped_as_done": result.files_skipped,
        "files_processed": result.files_done,
        "files_failed": result.failed,
        "documents_out": result.documents_out,
        "nothing_kept": nothing_kept(result),
        "bad_files": result.bad_files,
        "steps": [
            {
                "step": r.name,
                "role": r.role,
                "implicit": r.implicit,
                "output": r.output,
                **({"not_run": r.not_run} if r.not_run else {}),
                **r.stats.to_dict(),
                "wall_s": round(r.wall_s, 6),
                **({"summary": r.summary} if r.summary else {}),
            }
            for r in result.steps
        ],
    }


def format_table(result: RunResult) -> str:
    """The run's table: every step in order with its counts, wall and CPU seconds, and drop reasons.

    Wall: the driver's clock (a document pass's wall shared among its steps by the worker time each took);
    CPU: summed over every worker, so with many workers it exceeds wall. Both include start-up (building a
    step in each worker, loading its model), which a note below the table names where it is large."""
    names = [r.name + (" *" if r.implicit else "") for r in result.steps]
    width = max(len(name) for name in names) + 2
    header = f"{'step':<{width}}{'in':>9}{'kept':>9}{'dropped':>9}{'wall s':>9}{'cpu s':>9}  drop reasons"
    lines = [header, "-" * len(header)]
    pad = f"{'':<{width}}{'':>45}  "
    for name, report in zip(names, result.steps):
        stats = report.stats
        dropped = sum(stats.dropped.values())
        reasons = ", ".join(f"{r} {n}" for r, n in stats.dropped.most_common())
        counts = f"{stats.documents_in:>9}{stats.kept:>9}{dropped:>9}"
        if report.not_run:
            reasons = f"not run: {report.not_run}"
        lines.append(f"{name:<{width}}{counts}{report.wall_s:>9.1f}{stats.cpu_s:>9.1f}  {reasons}")
        for error, count in sorted(stats.errors.items()):
            lines.append(f"{pad}! {error}: {count}")
        if stats.counts:
            what = "replaced" if report.role == "filter" else "made"
            done = ", ".join(f"{key} {n:,}" for key, n in sorted(stats.counts.items()))
            lines.append(f"{pad}{what}: {done}")
    lines.append(f"{'total':<{width}}{'':>27}{result.wall_s:>9.1f}{sum(r.stats.cpu_s for r in result.steps):>9.1f}")
    startups = [f"{r.name} {r.stats.startup_s:.1f} s" for r in result.steps if r.stats.startup_s >= STARTUP_SHOWN_S]
    if startups:
        lines.append(f"start-up (building steps, loading models; summed over workers): {', '.join(startups)}")
    if any(r.implicit for r in result.steps):
        lines.append("* added by the runner: documents read back or written between corpus steps")
    return "\n".join(lines)

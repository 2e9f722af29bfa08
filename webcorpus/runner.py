"""The local executor: one task per input file, run by a pool of worker processes.

Output of a run folder:
    data/NNNNN_SSSSS.parquet       shards of input file NNNNN
    removed/STAGE/NNNNN.jsonl.gz   documents STAGE dropped from file NNNNN, with the reason
    stats.json                     the per-stage table
    .progress/NNNNN.json           written last, when file NNNNN is completely done

Resuming: a file whose progress marker exists is skipped. Any other file is redone from
scratch, after deleting whatever shards it had already renamed into place, so a run killed
at any instant and rerun ends with exactly the files of an uninterrupted run.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing as mp
import os
import sys
import time
import traceback
from collections.abc import Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from webcorpus.atomic import remove_stale_tmp, write_json
from webcorpus.config import PipelineConfig
from webcorpus.document import Document
from webcorpus.exclusion import ExclusionWriter
from webcorpus.stages import STAGES, Stage, StageStats
from webcorpus.stages.read_warc import WarcReader, expand_inputs
from webcorpus.stages.write_parquet import ParquetShardWriter

PROGRESS_EVERY = 64  # documents between updates of the shared progress counter


@dataclass
class Task:
    index: int
    path: Path

    @property
    def key(self) -> str:
        return f"{self.index:05d}"


def config_fingerprint(config: PipelineConfig) -> str:
    """What must match for an earlier run's finished files to count as this run's."""
    steps = [[step.name, step.options] for step in config.steps]
    text = json.dumps({"steps": steps, "removed": config.removed}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class Pipeline:
    """The stages of one worker, built once and reused for every file it is given."""

    def __init__(self, config: PipelineConfig, output: Path) -> None:
        self.output = output
        self.fingerprint = config_fingerprint(config)
        self.removed = config.removed
        self.stages: list[Stage] = []
        for step in config.steps:
            cls = STAGES[step.name]
            if cls is ParquetShardWriter:
                self.stages.append(cls(output_dir=str(output / "data"), **step.options))
            else:
                self.stages.append(cls(**step.options))
        reader, writer = self.stages[0], self.stages[-1]
        assert isinstance(reader, WarcReader) and isinstance(writer, ParquetShardWriter)
        self.reader, self.writer = reader, writer
        # removed/ folder per stage: its name, or name_INDEX where a stage appears twice.
        names = [stage.name for stage in self.stages]
        self.folders = [n if names.count(n) == 1 else f"{n}_{i}" for i, n in enumerate(names)]

    def outputs_of(self, task: Task) -> list[Path]:
        found = list((self.output / "data").glob(f"{task.key}_*.parquet"))
        found += list((self.output / "removed").glob(f"*/{task.key}.jsonl.gz"))
        return found

    def run_task(self, task: Task, counter: Any = None) -> list[dict[str, Any]]:
        for stale in self.outputs_of(task):
            stale.unlink()
        exclusions: list[ExclusionWriter] = []
        for stage, folder in zip(self.stages, self.folders):
            stage.start_task()
            stage.on_drop = None
            if self.removed and stage is not self.writer:
                exclusion = ExclusionWriter(self.output / "removed" / folder / f"{task.key}.jsonl.gz")
                stage.on_drop = exclusion
                exclusions.append(exclusion)
        self.writer.prefix = task.key
        self.writer.shards = []
        clocks = [[0.0] for _ in self.stages]
        try:
            stream: Iterable[Document] = _timed(self.reader.read(task.path), clocks[0], counter)
            for stage, clock in zip(self.stages[1:], clocks[1:]):
                stream = _timed(stage.run(stream), clock)
            for _ in stream:
                pass
        except BaseException:
            for exclusion in exclusions:
                exclusion.discard()
            raise
        for exclusion in exclusions:
            exclusion.close()
        # Each clock includes the time of every stage upstream of it (the stream is pulled).
        stats = []
        for i, stage in enumerate(self.stages):
            stage.stats.time_s = clocks[i][0] - (clocks[i - 1][0] if i else 0.0)
            stats.append({"stage": stage.name, **stage.stats.to_dict()})
        write_json(
            self.output / ".progress" / f"{task.key}.json",
            {
                "input": str(task.path),
                "config": self.fingerprint,
                "shards": [p.name for p in self.writer.shards],
                "stages": stats,
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


# Set in the parent before the pool forks, so every worker inherits loaded models and lists.
_PIPELINE: Pipeline | None = None
_COUNTER: Any = None


def _init_worker(counter: Any) -> None:
    global _COUNTER
    _COUNTER = counter


def _run_in_worker(task: Task) -> tuple[Task, list[dict[str, Any]] | None, str | None]:
    assert _PIPELINE is not None
    try:
        return task, _PIPELINE.run_task(task, _COUNTER), None
    except Exception:
        return task, None, traceback.format_exc()


@dataclass
class RunResult:
    stats: list[StageStats]
    names: list[str]
    files_done: int
    files_skipped: int
    failed: list[str]
    output: Path
    wall_s: float
    after: list[dict[str, Any]] = field(default_factory=list)

    @property
    def final_data(self) -> Path:
        """Where the finished documents are: the last corpus-level step's output, else data/."""
        data = [step["data"] for step in self.after if "data" in step]
        return Path(data[-1]) if data else self.output / "data"

    @property
    def documents_out(self) -> int:
        return self.stats[-1].kept if self.stats else 0


def run_pipeline(config: PipelineConfig, workers: int | None = None, progress: bool = True) -> RunResult:
    global _PIPELINE
    started = time.perf_counter()
    output = Path(config.output)
    paths = expand_inputs(config.input, config.steps[0].options.get("paths_base"))
    tasks = [Task(i, p) for i, p in enumerate(paths)]
    # Stages are built first: a bad option value stops the run before any folder is made.
    pipeline = Pipeline(config, output)
    output.mkdir(parents=True, exist_ok=True)
    remove_stale_tmp(output)
    done = _completed(output, tasks, config_fingerprint(config))
    pending = [t for t in tasks if t.index not in done]
    workers = max(1, min(workers or config.workers or os.cpu_count() or 1, max(1, len(pending))))

    _PIPELINE = pipeline
    failed: list[str] = []
    bar = _progress_bar(len(tasks), len(done), enabled=progress)
    try:
        if workers == 1:
            counter = mp.Value("q", 0)
            for task in pending:
                try:
                    _PIPELINE.run_task(task, counter)
                except Exception:
                    failed.append(f"{task.path}: {traceback.format_exc().strip().splitlines()[-1]}")
                bar.update(1)
                bar.set_postfix(documents=counter.value)
        else:
            context = mp.get_context("fork")
            counter = context.Value("q", 0)
            pool = ProcessPoolExecutor(workers, mp_context=context, initializer=_init_worker, initargs=(counter,))
            with pool:
                futures = {pool.submit(_run_in_worker, task): task for task in pending}
                waiting = set(futures)
                while waiting:
                    finished, waiting = wait(waiting, timeout=0.5, return_when=FIRST_COMPLETED)
                    for future in finished:
                        task = futures[future]
                        try:
                            _, _, error = future.result()
                        except BrokenProcessPool:
                            # A worker died (a crash in native code, the OOM killer): the files it
                            # and the pool still held are not done; a rerun retries just those.
                            error = "a worker process died while this file was in progress"
                        if error:
                            failed.append(f"{task.path}: {error.strip().splitlines()[-1]}")
                        bar.update(1)
                    bar.set_postfix(documents=counter.value)
    finally:
        bar.close()
        _PIPELINE = None

    names = [step.name for step in config.steps]
    totals = [StageStats() for _ in names]
    for task in tasks:
        marker = output / ".progress" / f"{task.key}.json"
        if marker.exists():
            for total, stage in zip(totals, _read_marker(marker)["stages"]):
                total.merge(StageStats.from_dict(stage))
    result = RunResult(
        stats=totals,
        names=names,
        files_done=len(pending) - len(failed),
        files_skipped=len(done),
        failed=failed,
        output=output,
        wall_s=time.perf_counter() - started,
    )
    if config.after and not failed:
        result.after = run_after_steps(config, output, workers)
        result.wall_s = time.perf_counter() - started
    write_json(output / "stats.json", run_summary(result, config))
    return result


def run_after_steps(config: PipelineConfig, output: Path, workers: int) -> list[dict[str, Any]]:
    """Corpus-level steps: batch deduplication (its output feeds the next step), then tokenizer
    training and tokenization. Each summary has the `line` the CLI prints."""
    from webcorpus.batch_dedup import DedupSettings, run_batch_dedup
    from webcorpus.tokenizer import TokenizerSettings, TokenizeSettings, tokenize_corpus, train_tokenizer_once

    summaries = []
    source = output / "data"
    tokenizer_path: Path | None = None
    for step in config.after:
        if step.name == DedupSettings.name:
            target = output / step.name
            summary = run_batch_dedup(source, target, DedupSettings(**step.options), workers)
            summaries.append({"step": step.name, "output": str(target), "data": str(target / "data"), **summary})
            source = target / "data"
        elif step.name == TokenizerSettings.name:
            tokenizer_path = output / "tokenizer.json"
            summary = train_tokenizer_once(source, tokenizer_path, TokenizerSettings(**step.options))
            summaries.append({"step": step.name, "output": str(tokenizer_path), **summary})
        elif step.name == TokenizeSettings.name:
            settings = TokenizeSettings(**step.options)
            target = output / "tokens"
            summary = tokenize_corpus(source, target, settings.tokenizer or tokenizer_path, settings)
            summaries.append({"step": step.name, "output": str(target), **summary})
    return summaries


def _completed(output: Path, tasks: list[Task], fingerprint: str) -> set[int]:
    done = set()
    for task in tasks:
        marker = output / ".progress" / f"{task.key}.json"
        if marker.exists():
            recorded_marker = _read_marker(marker)
            if recorded_marker.get("config") != fingerprint:
                raise RuntimeError(
                    f"{output}: this folder holds output of a different pipeline configuration; "
                    "use a new output folder (or delete this one) to run the changed pipeline"
                )
            recorded = recorded_marker["input"]
            if recorded != str(task.path):
                raise RuntimeError(
                    f"{output}: file {task.key} was {recorded} in the earlier run but is {task.path} now; "
                    "the input list changed, so use a new output folder"
                )
            done.add(task.index)
    return done


def _read_marker(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def _progress_bar(total: int, initial: int, enabled: bool):
    from tqdm import tqdm

    return tqdm(
        total=total,
        initial=initial,
        unit="file",
        desc="files",
        disable=not enabled,
        file=sys.stderr,
        dynamic_ncols=True,
    )


def run_summary(result: RunResult, config: PipelineConfig) -> dict[str, Any]:
    return {
        "pipeline": str(config.path),
        "output": str(result.output),
        "files_skipped_as_done": result.files_skipped,
        "files_processed": result.files_done,
        "files_failed": result.failed,
        "documents_out": result.documents_out,
        "stages": [{"stage": n, **s.to_dict()} for n, s in zip(result.names, result.stats)],
        "after": result.after,
    }


def format_table(result: RunResult) -> str:
    total_time = sum(s.time_s for s in result.stats) or 1.0
    width = max(len(name) for name in result.names) + 2
    header = f"{'stage':<{width}}{'in':>9}{'kept':>9}{'dropped':>9}{'time':>7}  drop reasons"
    lines = [header, "-" * len(header)]
    for name, stats in zip(result.names, result.stats):
        dropped = sum(stats.dropped.values())
        reasons = ", ".join(f"{r} {n}" for r, n in stats.dropped.most_common())
        share = f"{100 * stats.time_s / total_time:.0f}%"
        lines.append(f"{name:<{width}}{stats.documents_in:>9}{stats.kept:>9}{dropped:>9}{share:>7}  {reasons}")
        for error, count in sorted(stats.errors.items()):
            lines.append(f"{'':<{width}}{'':>34}  ! {error}: {count}")
        if stats.counts:
            done = ", ".join(f"{what} {n}" for what, n in sorted(stats.counts.items()))
            lines.append(f"{'':<{width}}{'':>34}  replaced: {done}")
    return "\n".join(lines)

"""Where the work runs: worker processes on this machine (the default), or a Ray cluster.

An executor does two things for the runner: it runs a document pass's tasks (`run_tasks`), and it maps a
function over a corpus step's units (`map`: MinHash signatures per shard, buckets per band and range,
the filter per shard; tokenizer training as one unit). The output cannot tell them apart: each task or
unit writes its own files atomically and deletes what an interrupted attempt left, so where it ran, in
which order, or how often it was retried never shows.

The contract is `Executor` below: the runner calls nothing else. A new executor (a Kubernetes one) is a
class with these four methods (a fifth, `release`, is optional), a `name` and a `start(workers, address)`,
added to `EXECUTORS`: the YAML's `executor:` and `--executor` take its name from there, and nowhere else
names it.

Start-up: the local executor keeps one pool of worker processes for all of a run's document passes (those
that need no GPU), so a later pass (pii after dedup) reuses interpreters that already imported webcorpus,
pyarrow and the like; each worker builds a pass's steps (imports, models) once, at that pass's first task
it gets, and lets the earlier pass's go. `bench/data/startup.py` measures where a run's start-up goes.
"""

from __future__ import annotations

import itertools
import multiprocessing as mp
import os
import time
import traceback
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:  # the pass's steps are imported where tasks run: `webcorpus run --help` names executors only
    from webcorpus.pipeline.plan import DocumentPass
    from webcorpus.pipeline.tasks import DocumentPassRunner, Task

Failures = list[tuple["Task", str]]  # (task, the last line of its error)
WORKER_DIED = "a worker process died while this file was in progress"
# Document tasks submitted and not finished, per worker (local) or per CPU of the cluster (Ray).
TASKS_IN_FLIGHT_PER_WORKER = 2


class Executor(Protocol):
    """How the runner drives where the work runs.

    - `run_tasks(unit, pending, progress, runner)`: run each of a document pass's pending tasks once (any
      order, any place); tell `progress` (a PassProgress) the documents read and kept as tasks go
      (`add` or `show`) and each finished task (`task_done`); return the failed ones with the last line of
      their error.
      `runner` is the pass's steps already built in this process, for an executor that runs tasks here.
    - `map(function, *iterables)`: `function` over the zipped iterables, results in order, a bounded number
      in flight (a corpus step's units: each writes its own outputs and markers).
    - `call(function, *arguments)`: one unit somewhere, its result back.
    - `close()`: give back what the executor started (worker processes, a local Ray).
    - `release()` (optional; the runner calls it only where it exists): the run's last document pass is
      done, so workers kept for document passes may go now, while the corpus steps after it run.
    `name` is what the YAML's `executor:` calls it.
    """

    name: str

    def run_tasks(
        self, unit: DocumentPass, pending: list[Task], progress: Any, runner: DocumentPassRunner | None = None
    ) -> Failures: ...

    def map(self, function: Callable[..., Any], *iterables: Iterable[Any]) -> Iterator[Any]: ...

    def call(self, function: Callable[..., Any], *arguments: Any) -> Any: ...

    def close(self) -> None: ...


class LocalExecutor:
    """A pool of worker processes on this machine; with one worker, everything runs in this process."""

    name = "local"

    def __init__(self, workers: int, start_method: str = "spawn") -> None:
        self.workers, self.start_method = workers, start_method
        self.unit_pool: ProcessPoolExecutor | None = None  # corpus units' workers: started once, kept till close
        # Document passes' workers (passes without GPUs): started by the first pass that needs them and kept
        # for the next ones of the same size, so a later pass (pii) starts no new interpreters; each worker
        # builds a pass's steps when it gets that pass's first task.
        self.task_pool: tuple[ProcessPoolExecutor, int, SharedCounts] | None = None

    @classmethod
    def start(cls, workers: int, address: str | None = None) -> LocalExecutor:
        return cls(workers)

    def run_tasks(
        self, unit: DocumentPass, pending: list[Task], progress: Any, runner: DocumentPassRunner | None = None
    ) -> Failures:
        failures: Failures = []
        workers = unit.local_workers(self.workers, len(pending))  # a pass needing GPUs: one per GPU, or fails
        if workers == 1:
            from webcorpus.pipeline.tasks import DocumentPassRunner

            runner = runner or DocumentPassRunner(unit)
            for task in pending:
                try:
                    runner.run_task(task, progress)  # the task's counts go straight to the display
                except Exception:
                    failures.append((task, traceback.format_exc().strip().splitlines()[-1]))
                progress.task_done()
            return failures
        context = mp.get_context(self.start_method)
        if unit.resources.gpus:  # workers of their own, each given its GPUs before it builds the steps
            counts = SharedCounts(context)
            gpus = (context.Value("i", 0), unit.worker_gpus(workers))
            pool = ProcessPoolExecutor(
                workers, mp_context=context, initializer=_start_worker, initargs=(unit, counts, gpus)
            )
            with pool:
                return self._run_on(pool, counts, workers, None, pending, progress)
        if self.task_pool is not None and self.task_pool[1] != workers:
            self.task_pool[0].shutdown()
            self.task_pool = None
        if self.task_pool is None:
            counts = SharedCounts(context)
            pool = ProcessPoolExecutor(workers, mp_context=context, initializer=_start_worker, initargs=(None, counts))
            self.task_pool = (pool, workers, counts)
        pool, _, counts = self.task_pool
        counts.reset()  # no task of an earlier pass is running
        try:
            failures = self._run_on(pool, counts, workers, unit, pending, progress)
        except BaseException:
            self._drop_task_pool()
            raise
        if any(error == WORKER_DIED for _, error in failures):  # a broken pool runs nothing more
            self._drop_task_pool()
        return failures

    def _drop_task_pool(self) -> None:
        if self.task_pool is not None:
            self.task_pool[0].shutdown(wait=False, cancel_futures=True)
            self.task_pool = None

    def release(self) -> None:
        """No document pass is left: the pass workers exit in the background (their memory and their
        interpreters' shutdown) while the corpus steps after it run; a later pass would start new ones."""
        if self.task_pool is not None:
            self.task_pool[0].shutdown(wait=False)
            self.task_pool = None

    def _run_on(
        self, pool: ProcessPoolExecutor, counts: SharedCounts, workers: int, unit: DocumentPass | None,
        pending: list[Task], progress: Any,
    ) -> Failures:  # fmt: skip
        """`pending` on `pool`; `unit`: the pass, sent with each task (None: the workers built it at start)."""
        failures: Failures = []
        # A few tasks per worker in flight, not the whole list: waiting on a million futures at once made
        # every completion cost a scan of all of them.
        queued, running = iter(pending), {}
        while True:
            for task in itertools.islice(queued, TASKS_IN_FLIGHT_PER_WORKER * workers - len(running)):
                try:
                    running[pool.submit(_run_in_worker, task, unit)] = task
                except BrokenProcessPool:  # the pool broke earlier: no task left can start
                    for unstarted in (task, *queued):
                        failures.append((unstarted, WORKER_DIED))
                        progress.task_done()
                    break
            if not running:
                break
            finished, _ = wait(running, timeout=0.5, return_when=FIRST_COMPLETED)
            progress.show(*counts.values())  # before the files finished: their documents are counted
            for future in finished:
                task = running.pop(future)
                try:
                    error = future.result()
                except BrokenProcessPool:
                    # A worker died (a crash in native code, the OOM killer): the tasks it and the pool
                    # still held are not done; a rerun retries just those.
                    error = WORKER_DIED
                if error:
                    failures.append((task, error.strip().splitlines()[-1]))
                progress.task_done()
        return failures

    def map(self, function: Callable[..., Any], *iterables: Iterable[Any]) -> Iterator[Any]:
        """`function` over the zipped iterables in worker processes; results in order, as they come, with
        at most two per worker running or waiting to be taken (so results never pile up in memory)."""
        if self.unit_pool is None:  # one pool for every corpus step of the run: its start is paid once
            self.unit_pool = ProcessPoolExecutor(self.workers)
        pool = self.unit_pool
        try:
            yield from _windowed(lambda arguments: pool.submit(function, *arguments), lambda f: f.result(),
                                 zip(*iterables), 2 * self.workers)  # fmt: skip
        except BrokenProcessPool:  # a worker died: the step fails (a rerun resumes it), the next map gets a new pool
            self.unit_pool = None
            raise

    def call(self, function: Callable[..., Any], *arguments: Any) -> Any:
        """`function(*arguments)` on one worker: here, in this process."""
        return function(*arguments)

    def close(self) -> None:
        if self.task_pool is not None:
            self.task_pool[0].shutdown()
            self.task_pool = None
        if self.unit_pool is not None:
            self.unit_pool.shutdown()
            self.unit_pool = None


@dataclass
class CorpusContext:
    """What the runner hands a corpus step: the executor its units run on (`map`, `call`), whether to draw
    progress bars, and what earlier steps of the same run made (e.g. `tokenizer`: where train_tokenizer
    wrote it). Whoever makes the context owns the executor and closes it."""

    executor: Executor
    progress: bool = False
    made: dict[str, str] = field(default_factory=dict)
    cpu_s: float = 0.0  # CPU seconds of the units `map` ran in other processes, for the run's table

    @classmethod
    def local(cls, workers: int = 1, progress: bool = False) -> CorpusContext:
        """Worker processes on this machine: a corpus step run from the shell, a test, a benchmark."""
        return cls(LocalExecutor(workers), progress)

    def map(self, function: Callable[..., Any], *iterables: Iterable[Any]) -> Iterator[Any]:
        """`function` over the zipped iterables, on the executor's workers; results in order. Each unit's
        CPU seconds come back with its result and add to `cpu_s`."""
        here = os.getpid()
        for pid, cpu, result in self.executor.map(run_timed, itertools.repeat(function), *iterables):
            if pid != here:
                self.cpu_s += cpu
            yield result

    def call(self, function: Callable[..., Any], *arguments: Any) -> Any:
        """`function(*arguments)` on one worker of the executor."""
        return self.executor.call(function, *arguments)


class SharedCounts:
    """Documents read and kept so far by a pool's tasks: two integers in shared memory that workers add to
    (every PROGRESS_EVERY documents) and the driver reads twice a second."""

    def __init__(self, context: Any) -> None:
        self.shared = context.Array("q", 2)

    def add(self, read: int, kept: int) -> None:
        with self.shared.get_lock():
            self.shared[0] += read
            self.shared[1] += kept

    def values(self) -> tuple[int, int]:
        with self.shared.get_lock():
            return self.shared[0], self.shared[1]

    def reset(self) -> None:
        with self.shared.get_lock():
            self.shared[0] = self.shared[1] = 0


class RayCounts:
    """The same for Ray tasks: a small actor (no CPU reserved) that tasks tell without waiting for an answer.
    It lives on the driver's node, so that losing a worker node loses no count; and it is only a display:
    when it cannot answer, the run goes on without live counts."""

    def __init__(self, ray: Any) -> None:
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        self.ray = ray
        here = NodeAffinitySchedulingStrategy(ray.get_runtime_context().get_node_id(), soft=True)
        self.actor = ray.remote(num_cpus=0, scheduling_strategy=here)(_Tally).remote()

    def add(self, read: int, kept: int) -> None:
        self.actor.add.remote(read, kept)

    def values(self) -> tuple[int, int] | None:
        """The counts so far, or None when the actor does not answer within a second."""
        try:
            return self.ray.get(self.actor.values.remote(), timeout=1)
        except self.ray.exceptions.RayError:  # GetTimeoutError included
            return None

    def close(self) -> None:
        try:
            self.ray.kill(self.actor)
        except self.ray.exceptions.RayError:
            pass

    def __getstate__(self) -> dict[str, Any]:
        return {"actor": self.actor}  # tasks only add: the ray module stays on the driver


class _Tally:
    def __init__(self) -> None:
        self.read = self.kept = 0

    def add(self, read: int, kept: int) -> None:
        self.read, self.kept = self.read + read, self.kept + kept

    def values(self) -> tuple[int, int]:
        return self.read, self.kept


def run_timed(function: Callable[..., Any], *arguments: Any) -> tuple[int, float, Any]:
    """(the process, the CPU seconds `function(*arguments)` took there, its result)."""
    started = time.process_time()
    result = function(*arguments)
    return os.getpid(), time.process_time() - started, result


# State of a local worker process, set by its initializer in that process (never inherited from the parent).
_WORKER: DocumentPassRunner | None = None
_WORKER_COUNTER: Any = None


def _start_worker(spec: DocumentPass | None, counter: SharedCounts, gpus: tuple[Any, list[str]] | None = None) -> None:
    """A worker's start: its counter, its GPUs, and the pass's steps if `spec` is given (else each task
    brings its pass, and the steps are built when the first task of a pass arrives)."""
    global _WORKER, _WORKER_COUNTER
    if gpus is not None:  # this worker's own GPUs, set before its steps are built (and load a model)
        slot, devices = gpus
        with slot.get_lock():
            index, slot.value = slot.value, slot.value + 1
        os.environ["CUDA_VISIBLE_DEVICES"] = devices[index]
    _WORKER_COUNTER = counter
    if spec is not None:
        from webcorpus.pipeline.tasks import DocumentPassRunner

        _WORKER = DocumentPassRunner(spec)


def _run_in_worker(task: Task, spec: DocumentPass | None = None) -> str | None:
    """One task in a local worker: the error, or None. With `spec`, the steps of that pass: those this
    worker built for its last task when it is the same pass, else built now (the earlier pass's are let go)."""
    global _WORKER
    try:
        if spec is not None and (_WORKER is None or _WORKER.spec != spec):
            from webcorpus.pipeline.tasks import DocumentPassRunner

            _WORKER = None  # the earlier pass's steps and models go before this pass's load
            _WORKER = DocumentPassRunner(spec)
        assert _WORKER is not None
        _WORKER.run_task(task, _WORKER_COUNTER)
        return None
    except Exception:
        return traceback.format_exc()


class RayExecutor:
    """Tasks and units as Ray tasks on a cluster: `address`, else $RAY_ADDRESS, else a local Ray started here
    and stopped by `close`. A task whose worker process dies is retried by Ray (up to `retries` times)."""

    name = "ray"

    def __init__(self, workers: int, address: str | None = None, retries: int = 3) -> None:
        try:
            import ray
        except ImportError:
            raise RuntimeError("the Ray executor needs Ray: pip install 'webcorpus[ray]'") from None
        self.ray, self.retries = ray, retries
        address = address or os.environ.get("RAY_ADDRESS")
        self.started_here = not ray.is_initialized()
        if self.started_here:
            if address:
                ray.init(address=address, log_to_driver=False)
            else:
                ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False)
        self.document_task = ray.remote(max_retries=retries)(run_document_task)

    @classmethod
    def start(cls, workers: int, address: str | None = None) -> RayExecutor:
        return cls(workers, address)

    def run_tasks(
        self, unit: DocumentPass, pending: list[Task], progress: Any, runner: DocumentPassRunner | None = None
    ) -> Failures:
        failures: Failures = []
        spec = self.ray.put(unit)
        document_task = self.document_task.options(**unit.resources.ray_options())  # the pass's CPUs, GPUs, memory
        window = TASKS_IN_FLIGHT_PER_WORKER * max(1, int(self.ray.cluster_resources().get("CPU", 1)))
        queued, running = iter(pending), {}
        # Live counts only (a retried task counts its documents again); the pass's totals come from markers.
        counts = RayCounts(self.ray)
        while True:
            for task in itertools.islice(queued, window - len(running)):
                running[document_task.remote(spec, task, counts)] = task
            if not running:
                break
            ready, _ = self.ray.wait(list(running), num_returns=1, timeout=0.5)
            if (values := counts.values()) is not None:
                progress.show(*values)
            for ref in ready:
                task = running.pop(ref)
                try:
                    error = self.ray.get(ref)
                except self.ray.exceptions.RayError as failure:  # retries spent, or the cluster went away
                    error = f"{type(failure).__name__}: {str(failure).strip().splitlines()[0]}"
                if error:
                    failures.append((task, error.strip().splitlines()[-1]))
                progress.task_done()
        counts.close()
        return failures

    def map(self, function: Callable[..., Any], *iterables: Iterable[Any]) -> Iterator[Any]:
        """As LocalExecutor.map, with twice the cluster's CPUs in flight."""
        remote = self.ray.remote(max_retries=self.retries)(function)
        window = 2 * max(1, int(self.ray.cluster_resources().get("CPU", 1)))
        yield from _windowed(lambda arguments: remote.remote(*arguments), self.ray.get, zip(*iterables), window)

    def call(self, function: Callable[..., Any], *arguments: Any) -> Any:
        """`function(*arguments)` as one Ray task (on any node of the cluster)."""
        return self.ray.get(self.ray.remote(max_retries=self.retries)(function).remote(*arguments))

    def close(self) -> None:
        if self.started_here:
            self.ray.shutdown()


def _windowed(submit: Callable[[Any], Any], result: Callable[[Any], Any], items: Iterable[Any], window: int):
    """Results of `submit(item)` for each item, in order, with at most `window` submitted and not yet taken."""
    pending: deque[Any] = deque()
    for item in items:
        pending.append(submit(item))
        if len(pending) >= window:
            yield result(pending.popleft())
    while pending:
        yield result(pending.popleft())


# The steps of the pass a Ray worker process last ran, kept so the next task of that pass reuses them.
_RAY_RUNNER: DocumentPassRunner | None = None


def run_document_task(spec: DocumentPass, task: Task, counts: RayCounts | None = None) -> str | None:
    """One task inside a Ray worker: the error, or None."""
    global _RAY_RUNNER
    if _RAY_RUNNER is None or _RAY_RUNNER.spec != spec:
        from webcorpus.pipeline.tasks import DocumentPassRunner

        _RAY_RUNNER = DocumentPassRunner(spec)
    try:
        _RAY_RUNNER.run_task(task, counts)
    except Exception:
        return traceback.format_exc()
    return None


EXECUTORS: dict[str, type[LocalExecutor] | type[RayExecutor]] = {
    executor.name: executor for executor in (LocalExecutor, RayExecutor)
}


def make_executor(name: str | None, workers: int, ray_address: str | None = None) -> Executor:
    """The executor the YAML's (or --executor's) `name` stands for; None: worker processes here."""
    return EXECUTORS[name or LocalExecutor.name].start(workers, ray_address)

"""Planning a run: every step it executes, in order, grouped into passes.

A pipeline is cut into passes:

- a *document pass*: a reader, the filters after it and a writer, run as one task per input file. After
  a corpus step a pass has no reader of its own: it reads the documents the last step wrote (an implicit
  `read_parquet`, one task per shard); a pass with no writer of its own ends with an implicit
  `write_parquet` with its default options. Reports mark both as added by the runner.
- a *corpus pass*: one corpus step over the whole folder of documents written before it.

A run of per-document steps is also cut where two consecutive filters declare different `resources`
(step.py): a GPU model filter after CPU filters gets a pass of its own, which reads what the CPU pass
wrote, so each pass's workers can be sized and placed for what its steps need. Steps that all keep the
default resources are never cut, so such a pipeline plans exactly as before resources existed. A step's
resources may depend on its options (`Step.resources_for`): `hf_classifier` needs a GPU with `device: cuda`
and none with `device: cpu`.

Plans are plain data (step names and options), so a worker process or a Ray task rebuilds the steps itself.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from webcorpus.pipeline import run_folder
from webcorpus.pipeline.config import PipelineConfig
from webcorpus.pipeline.registry import step_class
from webcorpus.pipeline.run_folder import Folder
from webcorpus.pipeline.step import Resources, Step

IMPLICIT_READER = "read_parquet"
IMPLICIT_WRITER = "write_parquet"


@dataclass
class PlannedStep:
    """One step as the run executes it: declared in the YAML, or added by the runner (`implicit`)."""

    name: str
    options: dict[str, Any]
    folder: str  # its name in removed/ and, for a corpus step, its output; unique within the run
    implicit: bool = False
    supplied: dict[str, Any] = field(default_factory=dict)  # the runner's values of its `runner_supplied`

    @property
    def role(self) -> str:
        return step_class(self.name).role

    @property
    def resources(self) -> Resources:
        """What the step needs with its options (`Step.resources_for`)."""
        return step_class(self.name).resources_for(self.options)

    def build(self) -> Step:
        return step_class(self.name)(**self.options, **self.supplied)


@dataclass
class DocumentPass:
    """Steps run document by document, one task per input file; picklable, so workers can rebuild it."""

    steps: list[PlannedStep]
    root: str  # where data/ and .progress/ are, in the run folder: "" for the first pass
    removed: str | None  # the run's removed/ folder (in the run folder), or None not to keep dropped documents
    fingerprint: str  # what must match for an earlier run's finished tasks to count
    output: Folder  # the run folder
    # What one task's worker needs: the largest need of each kind among the pass's steps (they run one
    # after another in the same process, so the worker must hold the largest, not the sum).
    resources: Resources = field(default_factory=Resources)
    # At most this many documents from the reader per input file (`--limit`); None: all. The first pass only.
    limit: int | None = None

    def input_name(self, task_path: Path | str) -> str:
        """How a task's marker names its input: relative to the run folder when inside it (a later pass's
        shards), so a run folder copied elsewhere resumes."""
        text, inside = str(task_path), self.output.location + "/"
        return text[len(inside) :] if text.startswith(inside) else text

    def local_workers(self, cpu_workers: int, tasks: int) -> int:
        """How many worker processes the local executor runs this pass's `tasks` in (at least 1).

        A pass that needs GPUs is sized by the GPUs this machine shows (`visible_gpus`), never by the CPU
        workers: one process per ceil(gpus) GPUs, or 1/gpus processes per GPU for a fraction (as
        `worker_gpus` hands them out). With too few GPUs it fails here, before any task, in one line naming
        the step. Otherwise a step needing several CPUs gets `cpu_workers / cpus` processes. Memory is not
        checked locally. With nothing to run nothing is checked, so a finished pass still resumes.
        """
        if tasks <= 0:
            return 1
        needs = self.resources
        if needs.gpus:
            gpus, each = visible_gpus(), math.ceil(needs.gpus)
            if gpus < each:
                step = next(s for s in self.steps if s.resources.gpus == needs.gpus)
                raise ValueError(
                    f"step '{step.name}' needs {needs.gpus:g} GPU(s) per worker, but this machine shows {gpus} "
                    "(CUDA_VISIBLE_DEVICES, else torch.cuda.device_count()); run it where there are, or with "
                    "executor: ray on a cluster that has them"
                )
            processes = gpus // each if needs.gpus >= 1 else gpus * int(1 / needs.gpus)
        else:
            processes = int(cpu_workers // max(needs.cpus, 1))
        return max(1, min(processes, tasks))

    def worker_gpus(self, workers: int) -> list[str]:
        """CUDA_VISIBLE_DEVICES for each of `workers` local processes of a pass that needs GPUs, so that
        processes never share a GPU they were not meant to: `gpus` >= 1 gives each process its own
        ceil(gpus) GPUs, a fraction puts 1/gpus processes on each GPU."""
        ids, gpus = gpu_ids(), self.resources.gpus
        if gpus >= 1:
            each = math.ceil(gpus)
            return [",".join(ids[i * each : (i + 1) * each]) for i in range(workers)]
        per_gpu = int(1 / gpus)
        return [ids[(i // per_gpu) % len(ids)] for i in range(workers)]


def visible_gpus() -> int:
    """How many GPUs this process may use (`gpu_ids`)."""
    return len(gpu_ids())


def gpu_ids() -> list[str]:
    """The GPUs this process may use, as CUDA_VISIBLE_DEVICES names them: its entries when it is set, else
    0..N-1 for what torch counts (imported only now, and only if installed: planning or running a CPU
    pipeline never loads it), else none."""
    listed = os.environ.get("CUDA_VISIBLE_DEVICES")
    if listed is not None:
        ids = []
        for entry in listed.split(","):
            entry = entry.strip()
            # CUDA stops at the first invalid entry ("-1" is the usual way to hide every GPU).
            if not entry or entry.startswith("-"):
                break
            ids.append(entry)
        return ids
    if importlib.util.find_spec("torch") is None:
        return []
    import torch

    return [str(i) for i in range(torch.cuda.device_count())]


@dataclass
class CorpusPass:
    step: PlannedStep
    target: str  # where the step writes, in the run folder


def plan(config: PipelineConfig, output: Folder) -> tuple[list[PlannedStep], list[DocumentPass | CorpusPass]]:
    """Every step the run executes, in order, and the passes that group them."""
    names = [step.name for step in config.steps]
    folders = [n if names.count(n) == 1 else f"{n}_{i}" for i, n in enumerate(names)]
    planned: list[PlannedStep] = []
    passes: list[DocumentPass | CorpusPass] = []
    pending: list[PlannedStep] = []
    removed = run_folder.REMOVED if config.removed else None

    def close_document_pass() -> None:
        if not pending:
            return
        steps = list(pending)
        if steps[0].role != "read":
            steps.insert(0, PlannedStep(IMPLICIT_READER, {}, f"{steps[0].folder}_{IMPLICIT_READER}", True))
        if steps[-1].role != "write":
            steps.append(PlannedStep(IMPLICIT_WRITER, {}, f"{steps[-1].folder}_{IMPLICIT_WRITER}", True))
        root = "" if not passes else pending[0].folder
        planned.extend(steps)
        fingerprint = _fingerprint(planned, config.removed, config.limit)
        resources = Resources()
        for member in steps:
            resources = resources.combine(member.resources)
        limit = config.limit if not passes else None
        passes.append(DocumentPass(steps, root, removed, fingerprint, output, resources, limit))
        pending.clear()

    run_values = {"removed": config.removed}  # what a step may take from the run (its `runner_supplied`)
    for step, folder in zip(config.steps, folders):
        supplied = {k: v for k, v in run_values.items() if k in step_class(step.name).runner_supplied}
        planned_step = PlannedStep(step.name, step.options, folder, supplied=supplied)
        if planned_step.role != "corpus":
            # A filter needing other resources than the filter before it starts a pass of its own.
            if (
                planned_step.role == "filter"
                and pending
                and pending[-1].role == "filter"
                and pending[-1].resources != planned_step.resources
            ):
                close_document_pass()
            pending.append(planned_step)
            continue
        close_document_pass()
        cls = step_class(step.name)
        target = cls.output_name if folder == step.name else f"{folder}/{cls.output_name}"
        planned.append(planned_step)
        passes.append(CorpusPass(planned_step, target))
    close_document_pass()
    return planned, passes


def _fingerprint(steps: list[PlannedStep], removed: bool, limit: int | None = None) -> str:
    """What an earlier run's finished tasks must match to count. A limit is part of it (in every pass, since
    later passes read what the first wrote), so a rerun with another --limit, or none, never resumes a
    limited run as if it were whole. A step that reads files named in its options (decontaminate's
    benchmarks) adds a digest of their bytes, so a resumed run notices they changed. Without either, it is
    what it always was, so older run folders resume."""
    what: dict[str, Any] = {"steps": [[s.name, s.options] for s in steps], "removed": removed}
    if limit is not None:
        what["limit"] = limit
    inputs = {
        s.folder: digest(s.options) for s in steps if (digest := getattr(step_class(s.name), "inputs_digest", None))
    }
    if inputs:
        what["inputs"] = inputs
    text = json.dumps(what, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]

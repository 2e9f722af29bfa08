"""Planning a run: every step it executes, in order, grouped into passes.

A pipeline is cut into passes:

- a *document pass*: a reader, the filters after it and a writer, run as one task per input file. After
  a corpus step a pass has no reader of its own: it reads the documents the last step wrote (an implicit
  `read_parquet`, one task per shard); a pass with no writer of its own ends with an implicit
  `write_parquet` with its default options. Reports mark both as added by the runner.
- a *corpus pass*: one corpus step over the whole folder of documents written before it.

Plans are plain data (step names and options), so a worker process or a Ray task rebuilds the steps itself.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from webcorpus.pipeline import run_folder
from webcorpus.pipeline.config import PipelineConfig
from webcorpus.pipeline.registry import step_class
from webcorpus.pipeline.run_folder import Folder
from webcorpus.pipeline.step import Step

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

    def input_name(self, task_path: Path | str) -> str:
        """How a task's marker names its input: relative to the run folder when inside it (a later pass's
        shards), so a run folder copied elsewhere resumes."""
        text, inside = str(task_path), self.output.location + "/"
        return text[len(inside) :] if text.startswith(inside) else text


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
        fingerprint = _fingerprint(planned, config.removed)
        passes.append(DocumentPass(steps, root, removed, fingerprint, output))
        pending.clear()

    run_values = {"removed": config.removed}  # what a step may take from the run (its `runner_supplied`)
    for step, folder in zip(config.steps, folders):
        supplied = {k: v for k, v in run_values.items() if k in step_class(step.name).runner_supplied}
        planned_step = PlannedStep(step.name, step.options, folder, supplied=supplied)
        if planned_step.role != "corpus":
            pending.append(planned_step)
            continue
        close_document_pass()
        cls = step_class(step.name)
        target = cls.output_name if folder == step.name else f"{folder}/{cls.output_name}"
        planned.append(planned_step)
        passes.append(CorpusPass(planned_step, target))
    close_document_pass()
    return planned, passes


def _fingerprint(steps: list[PlannedStep], removed: bool) -> str:
    text = json.dumps({"steps": [[s.name, s.options] for s in steps], "removed": removed}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]

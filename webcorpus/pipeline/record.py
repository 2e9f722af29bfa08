"""RUN/pipeline.yaml: what made a run, kept in its folder, so a corpus can be traced back to its recipe.

It is the effective pipeline (the YAML after --input, --output, --workers, --executor and --limit), which
`webcorpus run RUN/pipeline.yaml` runs again, plus a `record:` section that loading ignores: the input files
(listed up to INPUTS_LISTED, else their count and a hash of the list), webcorpus's version and its main
dependencies' (a new trafilatura or lid model changes what is kept), the executor and workers, and the times.

A resumed run keeps every attempt: `attempts` lists each one's start, end, executor and workers, `started` is
the first attempt's start and `ended` the last one's end (null while an attempt runs, or if it was killed).
The file is written whole (run_folder.Folder), so it works on s3:// run folders too.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timezone
from importlib import metadata
from typing import Any

import yaml

from webcorpus import __version__
from webcorpus.pipeline import run_folder
from webcorpus.pipeline.config import PipelineConfig
from webcorpus.pipeline.run_folder import Folder

INPUTS_LISTED = 1000  # more input files than this are recorded as a count and a hash, not listed
# The libraries whose version changes what a run keeps or how it is stored.
DEPENDENCIES = (
    "trafilatura",
    "fasttext-predict",
    "datasketch",
    "presidio-analyzer",
    "pyarrow",
    "tokenizers",
    "tiktoken",
    "warcio",
)
HEADER = (
    "# What made this run: the pipeline after --input, --output and the other flags (rerun it with\n"
    "# `webcorpus run THIS_FILE`), and under `record:` its inputs, versions, executor and times.\n"
)


def now() -> str:
    """The time in UTC, ISO 8601, to the second."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def versions() -> dict[str, str | None]:
    """The installed version of each of DEPENDENCIES (None: not installed)."""
    found: dict[str, str | None] = {}
    for name in DEPENDENCIES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = None
    return found


def inputs_record(names: list[str]) -> dict[str, Any]:
    """How many input files, a hash of their names in order, and the names themselves unless too many."""
    record: dict[str, Any] = {
        "files": len(names),
        "sha256": hashlib.sha256(json.dumps(names).encode()).hexdigest(),
    }
    if len(names) <= INPUTS_LISTED:
        record["list"] = names
    return record


def effective_pipeline(config: PipelineConfig) -> dict[str, Any]:
    """The pipeline's keys as `load_pipeline` reads them (only those that are set), in the YAML's order."""
    pipeline: dict[str, Any] = {"input": list(config.input), "output": config.output}
    for key in ("workers", "removed", "executor", "ray_address", "limit"):
        value = getattr(config, key)
        if value is not None:
            pipeline[key] = value
    # Through JSON: options are plain data, but a tuple or a path would otherwise get a Python tag.
    steps = [{step.name: step.options} for step in config.steps]
    pipeline["steps"] = json.loads(json.dumps(steps, default=str))
    return pipeline


class RunRecord:
    """RUN/pipeline.yaml for one call of the runner: `begin` adds this attempt, `end` closes it."""

    def __init__(self, output: Folder, config: PipelineConfig, first_pass: str) -> None:
        self.output, self.config, self.first_pass = output, config, first_pass
        self.record: dict[str, Any] = {}

    def earlier(self) -> dict[str, Any] | None:
        """The `record:` section an earlier run left in this folder, or None (none, or unreadable)."""
        if not self.output.is_file(run_folder.PIPELINE):
            return None
        try:
            loaded = yaml.safe_load(self.output.read_bytes(run_folder.PIPELINE))
        except yaml.YAMLError:
            return None
        record = loaded.get("record") if isinstance(loaded, dict) else None
        return record if isinstance(record, dict) else None

    def begin(self, executor: str, workers: int, inputs: dict[str, Any], slice_text: str | None) -> None:
        """Write the record with this attempt started; earlier attempts of the same configuration stay."""
        earlier = self.earlier()
        attempts = []
        if earlier and earlier.get("first_pass") == self.first_pass and isinstance(earlier.get("attempts"), list):
            attempts = earlier["attempts"]
        started = now()
        attempts.append({"started": started, "ended": None, "executor": executor, "workers": workers})
        self.record = {
            "source": str(self.config.path),
            "webcorpus": __version__,
            "dependencies": versions(),
            "executor": executor,
            "workers": workers,
            "limit": self.config.limit,
            "slice": slice_text,
            "first_pass": self.first_pass,
            "inputs": inputs,
            "started": attempts[0]["started"],
            "ended": None,
            "attempts": attempts,
        }
        self.write()

    def end(self) -> dict[str, Any]:
        """Close this attempt; returns the record (stats.json carries it, for the report)."""
        ended = now()
        self.record["attempts"][-1]["ended"] = ended
        self.record["ended"] = ended
        self.write()
        return self.record

    def write(self) -> None:
        document = {**effective_pipeline(self.config), "record": self.record}
        text = HEADER + yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=120)
        self.output.write_bytes(run_folder.PIPELINE, text.encode("utf-8"))

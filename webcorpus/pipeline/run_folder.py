"""Where every file of a run folder lives: the one place these names are written.

    RUN/
      data/NNNNN_SSSSS.parquet      the documents a document pass kept (input file NNNNN, shard SSSSS)
      .progress/NNNNN.json          a finished task's marker, written after its outputs
      removed/STEP/NNNNN.jsonl.gz   what STEP dropped from file (or shard) NNNNN, each with its reason
      STEP/                         a corpus step's output (minhash_dedup/data/, tokens/), or the root of a later
                                    document pass, named after its first step (pii/data/, pii/.progress/)
      tokenizer.json                train_tokenizer's output, with transformers' files beside it
      stats.json                    every step's figures, in pipeline order; written when the run ends
      report.html                   the run report, from stats.json

A document pass's root is RUN for the first pass and RUN/STEP for later ones; a corpus step keeps its own
markers under its output folder's `.progress/`.
"""

from __future__ import annotations

from pathlib import Path

DATA = "data"
PROGRESS = ".progress"
REMOVED = "removed"
STATS = "stats.json"
REPORT = "report.html"
TOKENIZER = "tokenizer.json"


def data(root: Path) -> Path:
    """The Parquet shards of the pass (or corpus step) rooted at `root`."""
    return root / DATA


def progress(root: Path) -> Path:
    """The folder of the progress markers of the pass or corpus step rooted at `root`."""
    return root / PROGRESS


def marker(root: Path, name: str) -> Path:
    """The progress marker `name` (a task's key, or a corpus step's unit) under `root`."""
    return progress(root) / name


def task_marker(root: Path, key: str) -> Path:
    return marker(root, f"{key}.json")


def removed(root: Path, step: str, key: str) -> Path:
    """Where `step` writes what it dropped from file or shard `key`."""
    return root / REMOVED / step / f"{key}.jsonl.gz"


def stats(run: Path) -> Path:
    return run / STATS


def report(run: Path) -> Path:
    return run / REPORT

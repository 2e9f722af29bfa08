"""Sample documents of a finished run, read in bounded amounts: dropped ones from `removed/`, kept ones
from the finished corpus. Used by the HTML report and by `webcorpus inspect`."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from webcorpus.pipeline import run_folder
from webcorpus.pipeline.drops import DETAIL
from webcorpus.pipeline.run_folder import Folder

# Never read more than this many lines of one step's removed files looking for samples: a report on a
# big run stays fast, at the price of missing reasons that only appear late in the files.
LINES_READ_PER_STEP = 20_000


@dataclass
class Sample:
    step: str
    reason: str  # the drop reason, or "kept"
    url: str
    text: str
    source: str  # the file it came from, in the run folder
    # What the dropping filter measured against its threshold (metadata.drop_detail), and the language a
    # language-ID step found, with its score: empty and None where the document has none.
    detail: str = ""
    language: str = ""
    language_score: float | None = None


def removed_files(run: Folder) -> dict[str, list[str]]:
    """Each step's files of dropped documents: RUN/removed/STEP/ and, for later passes, RUN/*/removed/STEP/."""
    found: dict[str, list[str]] = {}
    for name in run.files("", ".jsonl.gz"):
        parts = name.split("/")
        if len(parts) in (3, 4) and parts[-3] == run_folder.REMOVED:
            found.setdefault(parts[-2], []).append(name)
    return {step: sorted(files) for step, files in sorted(found.items(), key=lambda item: item[1][0].split("/")[:-1])}


def dropped_samples(
    run: Folder, step: str | None = None, reason: str | None = None, per_reason: int = 3
) -> Iterator[Sample]:
    """Up to `per_reason` dropped documents per (step, reason), in file order."""
    for name, files in removed_files(run).items():
        if step is not None and name != step:
            continue
        taken: dict[str, int] = {}
        lines = 0
        for path in files:
            with run.open(path) as raw, gzip.open(raw, "rt", encoding="utf-8", errors="replace") as f:
                for line in f:
                    lines += 1
                    if lines > LINES_READ_PER_STEP:
                        break
                    row = _row(line)
                    if row is None:
                        continue
                    metadata = row.get("metadata")
                    metadata = metadata if isinstance(metadata, dict) else {}
                    why = str(metadata.get("drop_reason", "")).partition(":")[2] or "unknown"
                    if (reason is not None and why != reason) or taken.get(why, 0) >= per_reason:
                        continue
                    taken[why] = taken.get(why, 0) + 1
                    yield Sample(name, why, str(row.get("url", "")), str(row.get("text", "")), path,
                                 *_detail(metadata))  # fmt: skip
            if lines > LINES_READ_PER_STEP:
                break


def kept_samples(data: Folder, count: int) -> Iterator[Sample]:
    """The first `count` documents of the finished corpus (Parquet shards in `data`), read a batch at a time."""
    from webcorpus.parquet import parquet_file

    left = count
    for shard in sorted(data.names("")):
        if not shard.endswith(".parquet") or shard.startswith("."):
            continue
        for batch in parquet_file(data.url(shard)).iter_batches(batch_size=max(left, 1), columns=["url", "text"]):
            for url, text in zip(batch.column(0).to_pylist(), batch.column(1).to_pylist()):
                yield Sample("final", "kept", url or "", text or "", data.url(shard))
                left -= 1
                if left <= 0:
                    return


def _detail(metadata: dict[str, Any]) -> tuple[str, str, float | None]:
    """(drop detail, language, language score) from a dropped document's metadata, as read: any JSON. A
    duplicate's detail is the document it duplicates (the dedup steps write `duplicate_of`, not a measure)."""
    score = metadata.get("language_score")
    number = float(score) if isinstance(score, (int, float)) and not isinstance(score, bool) else None
    language = metadata.get("language")
    detail = metadata.get(DETAIL) or (
        f"duplicate of {metadata['duplicate_of']}" if metadata.get("duplicate_of") else ""
    )
    return str(detail), str(language) if language else "", number


def _row(line: str) -> dict[str, Any] | None:
    try:
        row = json.loads(line)
    except ValueError:
        return None
    return row if isinstance(row, dict) else None

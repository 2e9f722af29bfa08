"""`webcorpus stats`: what a folder of Parquet shards holds."""

from __future__ import annotations

import bisect
import glob
import json
import math
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pyarrow.compute as pc
import pyarrow.parquet as pq

from webcorpus.parquet import shard_paths
from webcorpus.pipeline import run_folder
from webcorpus.pipeline.step import NO_LANGUAGE

# Upper bounds (characters) of the length histogram's buckets; the last one is open.
LENGTH_BUCKETS = [100, 300, 1_000, 3_000, 10_000, 30_000, 100_000]


def corpus_folders(patterns: Sequence[str]) -> list[Path]:
    """Folders of document shards named by paths or globs; a run folder (it has stats.json) stands for its
    finished corpus."""
    folders = []
    for pattern in patterns:
        matches = sorted(glob.glob(pattern)) if glob.has_magic(pattern) else [pattern]
        if not matches:
            raise FileNotFoundError(f"{pattern}: no file or folder matches")
        for match in map(Path, matches):
            summary = match / run_folder.STATS
            final = json.loads(summary.read_text(encoding="utf-8")).get("final_data") if summary.is_file() else None
            folders.append(Path(final) if final else match)
    return folders


def corpus_stats(folder: str | Path, top: int = 10) -> dict[str, Any]:
    """Counts of a folder of Parquet or token shards; of a run folder (it has stats.json), its finished
    corpus: the documents the last step that wrote documents wrote, never those of earlier steps too."""
    from webcorpus.tokens.shards import shard_files

    run_summary = Path(folder) / run_folder.STATS
    if run_summary.is_file():
        summary = json.loads(run_summary.read_text(encoding="utf-8"))
        final = summary.get("final_data")
        if final and summary.get("documents_out") == 0 and not list(Path(final).glob("*.parquet")):
            return {**_parquet_stats(final, [], top), "run": str(folder)}  # a run that kept nothing
        if final:
            return {**corpus_stats(final, top), "run": str(folder)}
    if shard_files(folder):
        from webcorpus.tokens.stats import token_stats

        return token_stats(folder)
    paths = shard_paths(folder)
    if not paths:
        raise FileNotFoundError(f"{folder}: no .parquet shards found")
    return _parquet_stats(folder, paths, top)


def _parquet_stats(folder: str | Path, paths: list[Path], top: int) -> dict[str, Any]:
    total = _ShardCounts()
    bad_shards = []
    for path in paths:
        try:
            total.add(_count_shard(path))
        except (OSError, ValueError) as error:  # pyarrow's errors derive from these
            bad_shards.append(f"{path}: {error}")
            print(f"webcorpus: stats: skipped {path}: {error}", file=sys.stderr)
    labels = [f"<{b:,}" for b in LENGTH_BUCKETS] + [f">={LENGTH_BUCKETS[-1]:,}"]
    return {
        "path": str(folder),
        "shards": len(paths),
        "documents": total.documents,
        "characters": total.characters,
        "mean_characters": round(total.characters / total.documents, 1) if total.documents else 0,
        "languages": dict(total.languages.most_common()),
        "top_domains": dict(total.domains.most_common(top)),
        "length_histogram": dict(zip(labels, total.lengths)),
        "bad_shards": bad_shards,
    }


class _ShardCounts:
    def __init__(self) -> None:
        self.documents = self.characters = 0
        self.languages: Counter[str] = Counter()
        self.domains: Counter[str] = Counter()
        self.lengths = [0] * (len(LENGTH_BUCKETS) + 1)

    def add(self, other: _ShardCounts) -> None:
        self.documents += other.documents
        self.characters += other.characters
        self.languages.update(other.languages)
        self.domains.update(other.domains)
        self.lengths = [a + b for a, b in zip(self.lengths, other.lengths)]


def _count_shard(path: Path) -> _ShardCounts:
    """One shard's counts, read batch by batch; the text never becomes Python strings.

    Counted apart and merged only when the whole shard reads, so a damaged shard adds nothing.
    """
    parquet = pq.ParquetFile(path)
    missing = {"url", "text", "language"} - set(parquet.schema_arrow.names)
    if missing:
        raise ValueError(f"not a webcorpus document shard (no column {', '.join(sorted(missing))})")
    counts = _ShardCounts()
    for batch in parquet.iter_batches(batch_size=4096, columns=["url", "text", "language"]):
        lengths = pc.utf8_length(batch.column(1)).to_pylist()
        counts.documents += len(lengths)
        counts.characters += sum(lengths)
        counts.languages.update(language or NO_LANGUAGE for language in batch.column(2).to_pylist())
        for url in batch.column(0).to_pylist():
            host = (urlsplit(url).hostname or "") if url else ""
            counts.domains[host.removeprefix("www.") or "unknown"] += 1
        for n in lengths:
            counts.lengths[bisect.bisect_right(LENGTH_BUCKETS, n)] += 1
    return counts


def format_stats(stats: dict[str, Any], width: int = 40) -> str:
    if "train" in stats:  # token shards
        lines = [f"{stats['path']}: token shards"]
        for split in ("val", "train"):
            s = stats[split]
            lines.append(
                f"{split:<6}{s['shards']:>4} shards {s['tokens']:>15,} tokens {s['documents']:>11,} documents "
                f"{s['tokens_per_document']:>9,} tokens/document"
            )
        return "\n".join(lines)
    lines = [f"run {stats['run']}: its finished corpus is {stats['path']}"] if "run" in stats else []
    lines += [
        f"{stats['path']}: {stats['shards']} shards",
        f"documents   {stats['documents']:,}",
        f"characters  {stats['characters']:,} (mean {stats['mean_characters']:,} per document)",
    ]

    def section(title: str, counts: dict[str, int]) -> None:
        lines.append("")
        lines.append(title)
        biggest = max(counts.values(), default=0) or 1
        label_width = min(40, max((len(label) for label in counts), default=0) + 2)
        for label, count in counts.items():
            bar = "#" * math.ceil(width * count / biggest) if count else ""
            lines.append(f"  {label:<{label_width}}{count:>9,}  {bar}")

    section("languages", stats["languages"])
    section("top domains", stats["top_domains"])
    section("length (characters)", stats["length_histogram"])
    return "\n".join(lines)

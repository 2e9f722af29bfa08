"""`webcorpus stats`: what a folder of Parquet shards holds."""

from __future__ import annotations

import math
import sys
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pyarrow.parquet as pq

from webcorpus.parquet import shard_paths

# Upper bounds (characters) of the length histogram's buckets; the last one is open.
LENGTH_BUCKETS = [100, 300, 1_000, 3_000, 10_000, 30_000, 100_000]


def corpus_stats(folder: str | Path, top: int = 10) -> dict[str, Any]:
    paths = shard_paths(folder)
    if not paths:
        raise FileNotFoundError(f"{folder}: no .parquet shards found")
    documents = characters = 0
    languages: Counter[str] = Counter()
    domains: Counter[str] = Counter()
    lengths = [0] * (len(LENGTH_BUCKETS) + 1)
    bad_shards = []
    for path in paths:
        try:
            batches = list(_batches(path))
        except (OSError, ValueError) as error:  # pyarrow's errors derive from these
            bad_shards.append(f"{path}: {error}")
            print(f"webcorpus: stats: skipped {path}: {error}", file=sys.stderr)
            continue
        for batch in batches:
            for url, text, language in zip(*(batch.column(i).to_pylist() for i in range(3))):
                n = len(text)
                documents += 1
                characters += n
                languages[language or "unknown"] += 1
                host = (urlsplit(url).hostname or "") if url else ""
                domains[host.removeprefix("www.") or "unknown"] += 1
                lengths[next((i for i, b in enumerate(LENGTH_BUCKETS) if n < b), len(LENGTH_BUCKETS))] += 1
    labels = [f"<{b:,}" for b in LENGTH_BUCKETS] + [f">={LENGTH_BUCKETS[-1]:,}"]
    return {
        "path": str(folder),
        "shards": len(paths),
        "documents": documents,
        "characters": characters,
        "mean_characters": round(characters / documents, 1) if documents else 0,
        "languages": dict(languages.most_common()),
        "top_domains": dict(domains.most_common(top)),
        "length_histogram": dict(zip(labels, lengths)),
        "bad_shards": bad_shards,
    }


def _batches(path: Path):
    parquet = pq.ParquetFile(path)
    missing = {"url", "text", "language"} - set(parquet.schema_arrow.names)
    if missing:
        raise ValueError(f"not a webcorpus document shard (no column {', '.join(sorted(missing))})")
    yield from parquet.iter_batches(batch_size=4096, columns=["url", "text", "language"])


def format_stats(stats: dict[str, Any], width: int = 40) -> str:
    lines = [
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

"""Token counts of a folder of .bin shards, for `webcorpus stats`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from webcorpus.tokens.shards import TokenShard, shard_files


def token_stats(folder: str | Path) -> dict[str, Any]:
    """What `webcorpus stats` prints for a folder of .bin token shards."""
    result: dict[str, Any] = {"path": str(folder)}
    for split in ("val", "train"):
        shards = [TokenShard(p) for p in shard_files(folder, split)]
        tokens = sum(len(s) for s in shards)
        documents = sum(len(s.document_starts) for s in shards if s.document_starts is not None)
        result[split] = {
            "shards": len(shards),
            "tokens": tokens,
            "documents": documents,
            "tokens_per_document": round(tokens / documents, 1) if documents else 0,
        }
    return result

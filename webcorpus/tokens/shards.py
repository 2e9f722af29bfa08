"""Token shards in llm.c's layout, and a reader for them that needs only NumPy (no torch import).

A shard `NAME.bin` is a header of 256 little-endian int32 (magic 20240520, version 1, token count, the
rest zero) followed by that many uint16 tokens. Every document starts with `<|endoftext|>`, so a
document may run on into the next shard, as in llm.c's fineweb.py. Beside each shard, `NAME.idx` holds
the offsets (int64, NumPy .npy format) of the documents that start in it.

    shards = TokenShards("tokens/", split="train")
    x = shards.window(0, 1025)            # tokens 0..1024 of the split, across shard boundaries
    for doc in shards.documents(): ...    # each document's tokens, <|endoftext|> first

From PyTorch: `torch.from_numpy(x.astype(np.int64))`; from JAX: `jnp.asarray(x)`.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import numpy as np

from webcorpus.pipeline.run_folder import Folder

MAGIC = 20240520
VERSION = 1
HEADER_INTS = 256
HEADER_BYTES = HEADER_INTS * 4
SHARD_NAME = re.compile(r"^(?P<prefix>.+)_(?P<split>val|train)_(?P<number>\d{6})\.bin$")


class ShardError(ValueError):
    """A token shard that cannot be used; the message names the file."""


def shard_header(tokens: int) -> bytes:
    """The 256 int32 header of a shard of `tokens` tokens."""
    header = np.zeros(HEADER_INTS, dtype="<i4")
    header[:3] = (MAGIC, VERSION, tokens)
    return header.tobytes()


def write_shard(folder: Folder, name: str, tokens: np.ndarray, document_starts: np.ndarray) -> None:
    """Write `tokens` (uint16) as the llm.c shard `name` in `folder`, and its document index, each whole."""
    with folder.writing(name) as tmp:
        with open(tmp, "wb") as f:
            f.write(shard_header(len(tokens)))
            write_tokens(f, tokens)
    write_index(folder, name, document_starts)


# Bytes per write() of tokens. Linux gives a write page-cache folios as large as the write (ext4, XFS): a
# 3 MB write took 2 MB blocks of free memory, which a VM that hands free memory back to its host (free page
# reporting: Firecracker, cloud VMs with a balloon) must fault in again from the host, in kernel time; writes
# of 64 KiB kept to small folios (docs/benchmarks.md, "Tokenizing"). Elsewhere the size matters little: the
# same bytes are copied, in more calls.
WRITE_BYTES = 64 * 1024


def write_tokens(file: BinaryIO, tokens: np.ndarray) -> None:
    """Write `tokens` to an open binary file as little-endian uint16, WRITE_BYTES at a time."""
    data = memoryview(np.ascontiguousarray(tokens, dtype="<u2")).cast("B")
    for start in range(0, len(data), WRITE_BYTES):
        file.write(data[start : start + WRITE_BYTES])


def write_index(folder: Folder, name: str, document_starts: np.ndarray) -> None:
    """`NAME.idx` beside the shard `name`: where its documents start (int64 .npy), written whole."""
    with folder.writing(name.removesuffix(".bin") + ".idx") as tmp:
        with open(tmp, "wb") as f:
            np.save(f, np.asarray(document_starts, dtype=np.int64))


def read_header(path: Path) -> int:
    """Check magic, version and length against the file size; return the token count."""
    size = path.stat().st_size
    if size < HEADER_BYTES:
        raise ShardError(f"{path}: {size} bytes, shorter than the {HEADER_BYTES}-byte header (truncated?)")
    header = np.fromfile(path, dtype="<i4", count=HEADER_INTS)
    if header[0] != MAGIC:
        raise ShardError(f"{path}: magic number {header[0]}, expected {MAGIC} (not an llm.c token shard)")
    if header[1] != VERSION:
        raise ShardError(f"{path}: version {header[1]}, this reader knows version {VERSION}")
    count = int(header[2])
    if size != HEADER_BYTES + 2 * count:
        raise ShardError(
            f"{path}: header says {count} tokens, the file holds {(size - HEADER_BYTES) / 2:g} (truncated?)"
        )
    return count


class TokenShard:
    """One memory-mapped shard; `tokens` is a read-only uint16 array."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if not self.path.exists():
            raise ShardError(f"{self.path}: no such token shard")
        self.length = read_header(self.path)
        self.tokens = np.memmap(self.path, dtype="<u2", mode="r", offset=HEADER_BYTES, shape=(self.length,))
        index = self.path.with_suffix(".idx")
        self.document_starts = np.load(index) if index.exists() else None

    def __len__(self) -> int:
        return self.length


def shard_files(folder: str | Path, split: str | None = None) -> list[Path]:
    """The .bin shards of a folder, validation first, each split in shard-number order."""
    found = []
    for path in Path(folder).glob("*.bin"):
        match = SHARD_NAME.match(path.name)
        if match and (split is None or match["split"] == split):
            found.append((match["split"] != "val", match["prefix"], int(match["number"]), path))
    return [path for *_, path in sorted(found)]


class TokenShards:
    """All shards of one split as one long token stream (memory-mapped, nothing loaded up front)."""

    def __init__(self, folder: str | Path, split: str = "train") -> None:
        self.folder = Path(folder)
        paths = shard_files(self.folder, split)
        if not paths:
            raise ShardError(f"{self.folder}: no *_{split}_NNNNNN.bin token shards")
        self.shards = [TokenShard(path) for path in paths]
        self.offsets = np.cumsum([0] + [len(s) for s in self.shards]).tolist()  # start of each shard

    def __len__(self) -> int:
        return self.offsets[-1]

    def window(self, start: int, length: int) -> np.ndarray:
        """`length` consecutive tokens from position `start` of the split (a copy, uint16)."""
        if start < 0 or start + length > len(self):
            raise IndexError(f"window {start}..{start + length} outside the {len(self)} tokens of {self.folder}")
        out = np.empty(length, dtype=np.uint16)
        filled = 0
        shard = bisect.bisect_right(self.offsets, start) - 1
        while filled < length:
            begin = start + filled - self.offsets[shard]
            piece = self.shards[shard].tokens[begin : begin + length - filled]
            out[filled : filled + len(piece)] = piece
            filled += len(piece)
            shard += 1
        return out

    def document_starts(self) -> np.ndarray:
        """Stream positions where documents start (from the .idx files)."""
        starts = []
        for shard, offset in zip(self.shards, self.offsets):
            if shard.document_starts is None:
                raise ShardError(f"{shard.path}: no .idx file beside it (document boundaries unknown)")
            starts.append(shard.document_starts + offset)
        return np.concatenate(starts) if starts else np.zeros(0, dtype=np.int64)

    def documents(self) -> Iterator[np.ndarray]:
        """Each document's tokens, its leading <|endoftext|> included."""
        starts = self.document_starts().tolist() + [len(self)]
        for begin, end in zip(starts, starts[1:]):
            yield self.window(begin, end - begin)

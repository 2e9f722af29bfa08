"""Files that appear whole or not at all: write under a temporary name, then rename."""

from __future__ import annotations

import gzip
import io
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

TMP_SUFFIX = ".tmp"


def tmp_path(path: Path) -> Path:
    # The pid keeps two writers of the same file (a stale run and a new one) from sharing a temp file.
    return path.with_name(f".{path.name}.{os.getpid()}{TMP_SUFFIX}")


@contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path to write; rename it to `path` only if the block finishes."""
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = tmp_path(final)
    try:
        yield tmp
        os.replace(tmp, final)
    finally:
        if tmp.exists():
            tmp.unlink()


@contextmanager
def atomic_open(path: str | os.PathLike[str], mode: str = "w") -> Iterator[IO[Any]]:
    """Open for writing; `.gz` paths are gzip with a fixed timestamp so reruns are byte-identical."""
    with atomic_path(path) as tmp:
        with open_for_writing(tmp, str(path).endswith(".gz"), mode) as f:
            yield f


@contextmanager
def open_for_writing(path: Path, gzipped: bool, mode: str = "w", level: int = 6) -> Iterator[IO[Any]]:
    """`path` opened for writing in `mode` (text: UTF-8); `gzipped`: through gzip with a fixed timestamp,
    so the same content gives the same bytes; `level` is gzip's (GzipFile's default, 9, costs far more CPU
    than 6 for barely smaller files)."""
    if not gzipped:
        with open(path, mode, encoding=None if "b" in mode else "utf-8") as f:
            yield f
        return
    with open(path, "wb") as raw, gzip.GzipFile("", "wb", compresslevel=level, fileobj=raw, mtime=0) as gz:
        if "b" in mode:
            yield gz
        else:
            with io.TextIOWrapper(gz, encoding="utf-8") as text:
                yield text


def write_json(path: str | os.PathLike[str], data: Any) -> None:
    with atomic_open(path) as f:
        json.dump(data, f, indent=2, sort_keys=True)
        f.write("\n")


class FolderInUse(RuntimeError):
    """Another process holds the folder's lock; the message names its PID."""


class FolderLock:
    """A held folder lock; `close` empties `.lock` (so finished runs leave identical folders) and releases it."""

    def __init__(self, handle: IO[str]) -> None:
        self.handle = handle

    def close(self) -> None:
        self.handle.seek(0)
        self.handle.truncate()
        self.handle.close()


def lock_folder(folder: Path) -> FolderLock:
    """Take `folder`'s lock (`.lock`, holding our PID) until `close`. The kernel releases it when the process
    ends, however it ends, so a killed run never leaves a lock behind (only its PID in the file)."""
    import fcntl

    folder.mkdir(parents=True, exist_ok=True)
    handle = open(folder / ".lock", "a+", encoding="utf-8")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "unknown"
        handle.close()
        raise FolderInUse(
            f"{folder}: in use by another run (process {holder}); wait for it to end, or use another output folder"
        ) from None
    handle.seek(0)
    handle.truncate()
    handle.write(f"{os.getpid()}\n")
    handle.flush()
    return FolderLock(handle)


def remove_stale_tmp(folder: Path) -> None:
    """Delete temporary files a killed run left behind."""
    if folder.exists():
        for stale in folder.rglob(f".*{TMP_SUFFIX}"):
            stale.unlink(missing_ok=True)

"""Files that appear whole or not at all: write under a temporary name, then rename."""

from __future__ import annotations

import gzip
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
        if str(path).endswith(".gz"):
            raw = open(tmp, "wb")
            try:
                with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as gz:
                    if "b" in mode:
                        yield gz
                    else:
                        import io

                        with io.TextIOWrapper(gz, encoding="utf-8") as text:
                            yield text
            finally:
                raw.close()
        else:
            encoding = None if "b" in mode else "utf-8"
            with open(tmp, mode, encoding=encoding) as f:
                yield f


def write_json(path: str | os.PathLike[str], data: Any) -> None:
    with atomic_open(path) as f:
        json.dump(data, f, indent=2, sort_keys=True)
        f.write("\n")


def remove_stale_tmp(folder: Path) -> None:
    """Delete temporary files a killed run left behind."""
    if folder.exists():
        for stale in folder.rglob(f".*{TMP_SUFFIX}"):
            stale.unlink(missing_ok=True)

"""Where every file of a run folder lives, and how a task reads and writes it: the one place for both.

    RUN/
      data/NNNNN_SSSSS.parquet      the documents a document pass kept (input file NNNNN, shard SSSSS)
      .progress/NNNNN.json          a finished task's marker, written after its outputs
      removed/STEP/NNNNN.jsonl.gz   what STEP dropped from file (or shard) NNNNN, each with its reason
      STEP/                         a corpus step's output (minhash_dedup/data/, tokens/), or the root of a later
                                    document pass, named after its first step (pii/data/, pii/.progress/)
      STEP/.progress/UNIT.json      a corpus step's finished units (and `settings.json`, what it was made from)
      STEP/.work/                   a corpus step's intermediate files (MinHash bands, token pieces)
      tokenizer.json                train_tokenizer's output, with transformers' files beside it
      pipeline.yaml                 what made the run: the effective pipeline, inputs, versions, executor and
                                    times of every attempt (record.py); written when a run starts and ends
      stats.json                    every step's figures, in pipeline order; written when the run ends
      report.html                   the run report, from stats.json

A document pass's root is RUN for the first pass and RUN/STEP for later ones.

A run folder is a local path or a URL (`s3://bucket/run`, any fsspec filesystem), and every task, on any
machine, reads and writes it through `Folder`: each file appears whole or not at all (locally: written
under a temporary name and renamed; on object storage, which has no rename: written in this machine's
scratch folder, then put in one piece), and a task writes its marker after its outputs, so a marker always
means its outputs are there. A machine keeps nothing of a remote run but temporary files under its scratch
root (`$WEBCORPUS_SCRATCH`, default the system's temporary folder), each removed when its write ends.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from webcorpus import storage
from webcorpus.atomic import atomic_path, open_for_writing

DATA = "data"
PROGRESS = ".progress"
WORK = ".work"
REMOVED = "removed"
STATS = "stats.json"
PIPELINE = "pipeline.yaml"  # the run's record (record.py)
REPORT = "report.html"
TOKENIZER = "tokenizer.json"
SETTINGS = "settings.json"  # a corpus step's marker of what its output is made from
SCRATCH_VARIABLE = "WEBCORPUS_SCRATCH"


def scratch_root() -> Path:
    """This machine's folder for temporary files of remote run folders."""
    root = Path(os.environ.get(SCRATCH_VARIABLE) or Path(tempfile.gettempdir()) / "webcorpus-scratch")
    root.mkdir(parents=True, exist_ok=True)
    return root


class Folder:
    """A folder of a run, local or remote; names below it are relative, with `/` between parts.

    Locally every method is the plain file operation (a run folder on disk behaves, and performs, as it
    always did); remotely each is one or a few requests through fsspec.
    """

    def __init__(self, location: str | Path) -> None:
        text = str(location)
        self.remote = storage.is_remote(text)
        self.location = text.rstrip("/") if self.remote else str(Path(text))
        self._fs: Any = None
        self._root = ""

    @classmethod
    def of(cls, location: Folder | str | Path) -> Folder:
        return location if isinstance(location, Folder) else cls(location)

    def __repr__(self) -> str:
        return f"Folder({self.location!r})"

    def __str__(self) -> str:
        return self.location

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Folder) and other.location == self.location

    def __hash__(self) -> int:
        return hash(self.location)

    def __getstate__(self) -> dict[str, Any]:  # sent to workers without its connection
        return {"location": self.location, "remote": self.remote, "_fs": None, "_root": ""}

    @property
    def fs(self) -> Any:
        if self._fs is None:
            self._fs, self._root = storage.filesystem(self.location)
        return self._fs

    def _remote(self, name: str) -> str:
        self.fs  # noqa: B018 (sets _root)
        return f"{self._root}/{name}" if name else self._root

    def path(self, name: str = "") -> Path:
        """The local path of `name` (a local folder only)."""
        assert not self.remote, f"{self.location} is not a local folder"
        return Path(self.location, name) if name else Path(self.location)

    def url(self, name: str = "") -> str:
        """Where `name` is, as a path or URL: for messages, and for inputs handed to other code."""
        return f"{self.location}/{name}" if name else self.location

    def child(self, name: str) -> Folder:
        return Folder(self.url(name))

    @property
    def name(self) -> str:
        """The last part of the location (a file's name, for a Folder standing for one file)."""
        return self.location.rsplit("/", 1)[-1] if self.remote else Path(self.location).name

    @property
    def parent(self) -> Folder:
        return Folder(self.location.rsplit("/", 1)[0] if self.remote else Path(self.location).parent)

    # Reading

    def exists(self, name: str) -> bool:
        return self.fs.exists(self._remote(name)) if self.remote else self.path(name).exists()

    def is_file(self, name: str) -> bool:
        return self.fs.isfile(self._remote(name)) if self.remote else self.path(name).is_file()

    def size(self, name: str) -> int:
        return int(self.fs.size(self._remote(name))) if self.remote else self.path(name).stat().st_size

    def names(self, folder: str = "") -> set[str]:
        """The names of the files directly in `folder` (none if it does not exist), temporary files (names
        starting with a dot) left out: one listing."""
        if not self.remote:
            path = self.path(folder)
            found = {e.name for e in os.scandir(path) if e.is_file()} if path.is_dir() else set()
        else:
            try:
                entries = self.fs.ls(self._remote(folder), detail=True, refresh=True)
            except FileNotFoundError:
                return set()
            found = {e["name"].rsplit("/", 1)[-1] for e in entries if e.get("type") == "file"}
        return {name for name in found if not name.startswith(".")}

    def files(self, folder: str = "", suffix: str = "") -> list[str]:
        """Every file under `folder` whose name ends in `suffix`, relative to this folder, sorted; names
        starting with a dot (markers, temporary files) and anything under such a folder are left out."""
        if not self.remote:
            root = self.path(folder)
            if not root.is_dir():
                return []
            found = [p.relative_to(self.path()).as_posix() for p in root.rglob(f"*{suffix}") if p.is_file()]
        else:
            try:
                found = [p[len(self._remote("")) + 1 :] for p in self.fs.find(self._remote(folder))]
            except FileNotFoundError:
                return []
            found = [p for p in found if p.endswith(suffix)]
        start = len(folder.strip("/").split("/")) if folder else 0
        return sorted(p for p in found if not any(part.startswith(".") for part in p.split("/")[start:]))

    def read_bytes(self, name: str) -> bytes:
        return self.fs.cat_file(self._remote(name)) if self.remote else self.path(name).read_bytes()

    def read_json(self, name: str) -> Any:
        return json.loads(self.read_bytes(name))

    def read_many(self, names: list[str]) -> list[bytes]:
        """Several files' bytes, in order; remotely fetched concurrently (markers of a big run)."""
        if not self.remote:
            return [self.path(name).read_bytes() for name in names]
        paths = [self._remote(name) for name in names]
        found = self.fs.cat(paths) if paths else {}
        return [found[path] for path in paths]

    def open(self, name: str) -> IO[bytes]:
        """A seekable binary reader of `name` (Parquet needs seeks)."""
        return self.fs.open(self._remote(name), "rb") if self.remote else open(self.path(name), "rb")

    @contextmanager
    def local_copy(self, name: str) -> Iterator[Path]:
        """A local path holding `name`'s bytes for as long as the block runs: the file itself when local,
        else a copy in this machine's scratch folder, removed at the end."""
        if not self.remote:
            yield self.path(name)
            return
        handle, temporary = tempfile.mkstemp(dir=scratch_root(), suffix=Path(name).suffix)
        os.close(handle)
        try:
            self.fs.get_file(self._remote(name), temporary)
            yield Path(temporary)
        finally:
            Path(temporary).unlink(missing_ok=True)

    # Writing: each file appears whole or not at all

    @contextmanager
    def writing(self, name: str) -> Iterator[Path]:
        """A local path to write; when the block ends, `name` holds it whole (an error: nothing appears)."""
        if not self.remote:
            with atomic_path(self.path(name)) as tmp:
                yield tmp
            return
        handle, temporary = tempfile.mkstemp(dir=scratch_root(), suffix=".tmp")
        os.close(handle)
        try:
            yield Path(temporary)
            self.fs.put_file(temporary, self._remote(name))
        finally:
            Path(temporary).unlink(missing_ok=True)

    @contextmanager
    def open_writing(self, name: str, mode: str = "w", level: int = 6) -> Iterator[IO[Any]]:
        """`writing`, opened; `.gz` names are gzip (at `level`) with a fixed timestamp, so reruns are
        byte-identical."""
        with self.writing(name) as tmp, open_for_writing(tmp, name.endswith(".gz"), mode, level) as f:
            yield f

    def write_bytes(self, name: str, data: bytes) -> None:
        with self.writing(name) as tmp:
            tmp.write_bytes(data)

    def write_json(self, name: str, data: Any) -> None:
        self.write_bytes(name, (json.dumps(data, indent=2, sort_keys=True) + "\n").encode())

    def put(self, local: Path, name: str) -> None:
        """Move a finished local file (in this machine's scratch, or beside the target) to `name`."""
        if self.remote:
            self.fs.put_file(str(local), self._remote(name))
            local.unlink()
        else:
            target = self.path(name)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(local, target)

    def delete(self, name: str) -> None:
        if self.remote:
            try:
                self.fs.rm(self._remote(name), recursive=True)
            except FileNotFoundError:
                pass
        else:
            path = self.path(name)
            if path.is_dir():
                shutil.rmtree(path)
            else:
                path.unlink(missing_ok=True)

    def delete_many(self, names: list[str]) -> None:
        """Delete these files (missing ones are fine): remotely, one bulk request."""
        if not self.remote:
            for name in names:
                self.path(name).unlink(missing_ok=True)
        elif names:
            try:
                self.fs.rm([self._remote(name) for name in names])
            except FileNotFoundError:
                pass

    def delete_starting(self, folder: str, prefix: str) -> None:
        """Delete the files directly in `folder` whose names start with `prefix` (an interrupted task's).
        Remotely only the keys with that prefix are listed, never the whole folder of a big run."""
        if not self.remote:
            path = self.path(folder)
            if path.is_dir():
                for entry in os.scandir(path):
                    if entry.name.startswith(prefix) and entry.is_file():
                        os.unlink(entry.path)
            return
        base = self._remote(folder)
        try:
            found = self.fs.find(base, maxdepth=1, prefix=prefix)  # s3fs, gcsfs: a prefix listing
        except TypeError:  # a filesystem without prefix listing
            found = self.fs.glob(f"{base}/{prefix}*")
        if found:
            self.fs.rm(found)

    def make(self) -> None:
        """Create the folder (local); object storage needs no folders."""
        if not self.remote:
            self.path().mkdir(parents=True, exist_ok=True)


# Names within a run folder (or a pass's root within it)


def data(root: str = "") -> str:
    """The Parquet shards of the pass (or corpus step) rooted at `root`."""
    return join(root, DATA)


def progress(root: str = "") -> str:
    """The folder of the progress markers of the pass or corpus step rooted at `root`."""
    return join(root, PROGRESS)


def marker(root: str, name: str) -> str:
    """The progress marker `name` (a task's key, or a corpus step's unit) under `root`."""
    return join(progress(root), name)


def task_marker(root: str, key: str) -> str:
    return marker(root, f"{key}.json")


def removed(root: str, step: str, key: str) -> str:
    """Where `step` writes what it dropped from file or shard `key`."""
    return join(root, f"{REMOVED}/{step}/{key}.jsonl.gz")


def join(*parts: str) -> str:
    return "/".join(part.strip("/") for part in parts if part)

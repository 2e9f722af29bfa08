"""Files anywhere fsspec reaches: local paths, s3://, https:// (gs://, ... where installed).

Inputs are read from there directly; a run folder on object storage is mirrored (`RemoteRunFolder`).

Remote files are streamed, never downloaded whole. A read that fails on the way (a dropped connection, a
503, a redirect loop) is retried with back-off, reopening the file where it was; only when every try has
failed does the error reach the reader, which reports the file with what it kept. Missing files and refused
access are not retried. A read that gets nothing for `$WEBCORPUS_READ_TIMEOUT_S` seconds (default 60) has
failed too, so a server that stops sending in the middle of a file is never waited on forever. S3 takes its
endpoint and keys from the standard AWS variables (`AWS_ENDPOINT_URL`, ...); s3:// needs
`pip install 'webcorpus[s3]'`.
"""

from __future__ import annotations

import glob
import hashlib
import os
import time
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Any

from webcorpus.atomic import atomic_path
from webcorpus.pipeline import run_folder

PERMANENT = (FileNotFoundError, PermissionError, IsADirectoryError)
DEFAULT_READ_TIMEOUT_S = 60.0
# Files written beside a file that is pushed by its name alone (webcorpus/tokens/bpe.py writes them).
COMPANIONS = {run_folder.TOKENIZER: ("tokenizer_config.json", "special_tokens_map.json")}


def read_timeout_s() -> float:
    """Seconds a remote connection or read may go without data before it counts as failed."""
    text = os.environ.get("WEBCORPUS_READ_TIMEOUT_S", str(DEFAULT_READ_TIMEOUT_S))
    try:
        seconds = float(text)
    except ValueError:
        seconds = 0.0
    if not seconds > 0:
        raise ValueError(f"WEBCORPUS_READ_TIMEOUT_S: must be a number of seconds above 0, not {text!r}")
    return seconds


def is_remote(path: str | Path) -> bool:
    return isinstance(path, str) and "://" in path and not path.startswith("file://")


def _is_http(url: str) -> bool:
    return url.startswith(("http://", "https://"))


def _filesystem(url: str) -> tuple[Any, str]:
    """The fsspec filesystem of `url` and the path in it; every connection and read has a timeout."""
    import fsspec

    timeout = read_timeout_s()
    options: dict[str, Any] = {}
    if _is_http(url):
        import aiohttp

        options["client_kwargs"] = {"timeout": aiohttp.ClientTimeout(sock_connect=timeout, sock_read=timeout)}
    elif url.startswith("s3://"):
        options["config_kwargs"] = {"connect_timeout": timeout, "read_timeout": timeout}
    try:
        return fsspec.core.url_to_fs(url, **options)
    except ImportError as error:  # e.g. s3:// without s3fs
        raise ValueError(f"{url}: {error} (pip install 'webcorpus[s3]' for s3://)") from None


def expand(pattern: str) -> list[str]:
    """The files a remote path or glob names, as full URLs, sorted; a folder gives the files under it.

    An HTTP(S) URL without glob characters names one file, taken as it is: HTTP has no folders, and
    guessing one would mean reading the body here. A missing, looping or stalling URL is then one bad
    file, reported when it is read, not the end of the run."""
    read_timeout_s()  # a bad setting stops the run here, before any work
    if _is_http(pattern) and not glob.has_magic(pattern):
        return [pattern]
    fs, path = _filesystem(pattern)
    protocol = pattern.split("://", 1)[0]
    try:
        if glob.has_magic(path):
            found = fs.glob(path)
        elif fs.isdir(path):
            found = [p for p in fs.find(path) if not p.endswith("/")]
        else:
            found = [path] if fs.exists(path) else []
    except (OSError, ValueError):
        raise
    except Exception as error:  # aiohttp's and botocore's errors are not OSErrors
        raise OSError(f"{type(error).__name__}: {error}") from None
    return sorted(p if "://" in p else f"{protocol}://{p}" for p in found)


def join(base: str, relative: str) -> str:
    """`relative` under `base`, a folder path or URL (a CommonCrawl paths list's paths_base)."""
    if is_remote(base):
        return base.rstrip("/") + "/" + relative.lstrip("/")
    return str(Path(base) / relative)


def size(path: str | Path) -> int:
    if not is_remote(path):
        return Path(path).stat().st_size
    fs, inner = _filesystem(str(path))
    return int(fs.size(inner))


def open_input(path: str | Path, attempts: int = 4, backoff_s: float = 0.5) -> IO[bytes]:
    """A binary stream of the file; remote ones retry failed reads (see the module's docstring)."""
    if not is_remote(path):
        return open(path, "rb")
    return RetryingReader(str(path), attempts, backoff_s)


class RemoteRunFolder:
    """A run folder on object storage, worked on in a local folder and copied up as work finishes.

    Object stores have no rename, so nothing is written there until it is complete: each file is put once,
    whole, after the work that made it has finished, and a unit's markers (the names starting with a dot:
    `.progress/`, `.dedup/`, ...) after its outputs, so a marker there always means its outputs are there.
    A run resumed on a machine without the local copy first fetches what the remote folder holds, the same
    way round: each file whole under a temporary name, then renamed, markers last. A local file that differs
    from the remote one (a cut file left by a fetch killed under an older version) is fetched again, and only
    files this run wrote after the fetch are ever put over remote ones.
    """

    def __init__(self, url: str, local: Path) -> None:
        self.url = url.rstrip("/")
        self.local = local
        self.fs, self.root = _filesystem(self.url)
        self.fetched: dict[str, tuple[int, int]] = {}  # relative path: (size, mtime_ns) as the fetch left it

    def fetch(self) -> int:
        """Make every remote file's local copy what the remote folder holds; returns how many were copied."""
        if not self.fs.exists(self.root):
            return 0
        infos = {
            remote[len(self.root) :].lstrip("/"): info for remote, info in self.fs.find(self.root, detail=True).items()
        }
        copied = 0
        for relative in _markers_last(infos):
            target = self.local / relative
            if not (target.is_file() and _same(target, infos[relative])):
                try:
                    with atomic_path(target) as tmp:
                        self.fs.get_file(f"{self.root}/{relative}", str(tmp))
                except Exception as error:  # aiohttp's and botocore's errors are not all OSErrors
                    raise OSError(f"{self.url}/{relative}: {type(error).__name__}: {error}") from None
                copied += 1
            stat = target.stat()
            self.fetched[relative] = (stat.st_size, stat.st_mtime_ns)
        return copied

    def check_writable(self) -> None:
        """Fail now, not after hours of work, when the bucket is missing or refuses writes."""
        probe = f"{self.root}/.webcorpus-write-check"
        self.fs.pipe_file(probe, b"")
        self.fs.rm_file(probe)

    def push(self, paths: list[Path]) -> None:
        """Put these local files (and every file under these folders, and their COMPANIONS), markers last,
        skipping those fetched and unchanged since and those the remote folder already holds the same."""
        found = {f for p in paths if p.exists() for f in ([p] if p.is_file() else p.rglob("*")) if f.is_file()}
        found |= {f.with_name(name) for f in set(found) for name in COMPANIONS.get(f.name, ())}
        files = [f for f in found if f.is_file() and not f.name.endswith(".tmp")]  # a temporary file is never whole
        for relative in _markers_last(f.relative_to(self.local).as_posix() for f in files):
            local = self.local / relative
            stat = local.stat()
            if self.fetched.get(relative) == (stat.st_size, stat.st_mtime_ns):
                continue
            remote = f"{self.root}/{relative}"
            try:
                if _same(local, self.fs.info(remote)):
                    continue
            except FileNotFoundError:
                pass
            self.fs.put_file(str(local), remote)


def _markers_last(paths: Iterable[str]) -> list[str]:
    """Relative paths, outputs before markers (a name starting with a dot, or under such a folder)."""
    return sorted(paths, key=lambda path: (any(part.startswith(".") for part in path.split("/")), path))


def _same(local: Path, info: dict[str, Any]) -> bool:
    """Whether a local file holds what a remote file does: the same size, and the same MD5 where the remote
    one's ETag is its MD5 (S3's, for a file put in one part); a multipart ETag leaves the size alone."""
    if local.stat().st_size != info.get("size"):
        return False
    etag = str(info.get("ETag") or info.get("etag") or "").strip('"')
    if len(etag) != 32:
        return True
    digest = hashlib.md5(usedforsecurity=False)
    with open(local, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest() == etag


class RetryingReader:
    """A sequential reader of a remote file that survives transient failures by reopening where it was."""

    def __init__(self, url: str, attempts: int, backoff_s: float) -> None:
        self.url, self.attempts, self.backoff_s = url, attempts, backoff_s
        self.position = 0
        self.stream: Any = None
        read_timeout_s()  # a bad setting is not a failed read: it is not retried
        self._with_retries(self._open)

    def _open(self) -> None:
        self.close()
        # HTTP: one streamed response (block_size=0: no range requests, so any server will do), which
        # cannot seek, so a reopened one skips what was read before; s3:// and others seek.
        streamed = _is_http(self.url)
        fs, path = _filesystem(self.url)
        try:
            stream = fs.open(path, "rb", **({"block_size": 0} if streamed else {}))
        except FileNotFoundError as error:
            # fsspec's HTTP asks for the size first and calls any failure "not found" (a redirect loop, a
            # refused connection): that failure is the error, retried like any other.
            cause = error.__cause__
            if isinstance(cause, Exception) and getattr(cause, "status", None) != 404:
                raise cause from None
            raise
        if self.position:
            if not streamed:
                stream.seek(self.position)
            else:
                left = self.position
                while left:
                    chunk = stream.read(min(left, 1 << 20))
                    if not chunk:
                        raise EOFError(f"{self.url}: shorter than the {self.position} bytes read before")
                    left -= len(chunk)
        self.stream = stream

    def _with_retries(self, action: Any) -> Any:
        for attempt in range(1, self.attempts + 1):
            try:
                return action()
            except PERMANENT:
                raise
            except Exception as error:  # network errors come in many types (aiohttp, botocore, OSError)
                self.close()  # the next attempt reopens where the last one stopped
                if attempt == self.attempts:
                    what = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
                    raise OSError(f"{what} (after {attempt} attempts)") from None
                time.sleep(self.backoff_s * 2 ** (attempt - 1))

    def read(self, size: int = -1) -> bytes:
        def attempt() -> bytes:
            if self.stream is None:
                self._open()
            return self.stream.read(size)

        data = self._with_retries(attempt)
        self.position += len(data)
        return data

    def tell(self) -> int:
        return self.position

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        if self.stream is not None:
            try:
                self.stream.close()
            except Exception:  # closing a broken connection may fail too; nothing is lost
                pass
            self.stream = None

    def __enter__(self) -> RetryingReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

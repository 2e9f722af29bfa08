"""Files anywhere fsspec reaches: local paths, s3://, https:// (gs://, ... where installed).

Inputs are read from there directly, and so is a run folder on object storage (pipeline/run_folder.py).

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
import os
import time
from pathlib import Path
from typing import IO, Any

PERMANENT = (FileNotFoundError, PermissionError, IsADirectoryError)
DEFAULT_READ_TIMEOUT_S = 60.0


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


def filesystem(url: str) -> tuple[Any, str]:
    """The fsspec filesystem of `url` and the path in it; every connection and read has a timeout."""
    import fsspec

    timeout = read_timeout_s()
    options: dict[str, Any] = {}
    if _is_http(url):
        import aiohttp

        options["client_kwargs"] = {"timeout": aiohttp.ClientTimeout(sock_connect=timeout, sock_read=timeout)}
    else:
        # Other machines write the same folders: a listing is asked afresh, never taken from a cache.
        options["use_listings_cache"] = False
    if url.startswith("s3://"):
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
    fs, path = filesystem(pattern)
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
    fs, inner = filesystem(str(path))
    return int(fs.size(inner))


def open_input(path: str | Path, attempts: int = 4, backoff_s: float = 0.5) -> IO[bytes]:
    """A binary stream of the file; remote ones retry failed reads (see the module's docstring)."""
    if not is_remote(path):
        return open(path, "rb")
    return RetryingReader(str(path), attempts, backoff_s)


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
        fs, path = filesystem(self.url)
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

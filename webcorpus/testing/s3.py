"""moto's S3 server on 127.0.0.1 (a real S3 API over HTTP, not an in-process mock), for tests and benchmarks."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

KEY = SECRET = "test"


@contextmanager
def moto_server() -> Iterator[dict[str, str]]:
    """Start moto's server on a free port; yields the environment that reaches it (AWS_ENDPOINT_URL and
    keys), and stops it at the end."""
    binary = shutil.which("moto_server") or str(Path(sys.executable).with_name("moto_server"))
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen([binary, "-H", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        for _ in range(400):  # until it answers (a state, not a duration: it gives up after 20 s)
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
                break
            except OSError:
                time.sleep(0.05)
        yield {"AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}", "AWS_ACCESS_KEY_ID": KEY,
               "AWS_SECRET_ACCESS_KEY": SECRET, "AWS_DEFAULT_REGION": "us-east-1"}  # fmt: skip
    finally:
        server.terminate()
        server.wait()


def bucket_filesystem(env: dict[str, str]) -> Any:
    """An s3fs filesystem on that server. Runs write the buckets through other connections, so every
    listing is asked afresh (no listings cache)."""
    import s3fs

    return s3fs.S3FileSystem(client_kwargs={"endpoint_url": env["AWS_ENDPOINT_URL"]}, key=KEY, secret=SECRET,
                             use_listings_cache=False)  # fmt: skip

"""webcorpus picks Arrow's memory pool (webcorpus/__init__.py): jemalloc, which keeps freed batch memory
for the next batch, unless the user chose one. Processes that import webcorpus before pyarrow (the CLI, the
local executor's workers) get it."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(
    sys.platform != "linux" or os.uname().machine != "x86_64", reason="set only where pyarrow's wheels have jemalloc"
)
SHOW_POOL = "import webcorpus, pyarrow; print(pyarrow.default_memory_pool().backend_name)"


def pool_of_a_new_process(environment: dict[str, str]) -> str:
    done = subprocess.run(
        [sys.executable, "-c", SHOW_POOL], env=environment, capture_output=True, text=True, check=True
    )
    assert done.stderr == ""  # no warning about an unknown pool
    return done.stdout.strip()


def test_a_process_importing_webcorpus_reads_into_jemalloc():
    environment = {k: v for k, v in os.environ.items() if k != "ARROW_DEFAULT_MEMORY_POOL"}
    assert pool_of_a_new_process(environment) == "jemalloc"


def test_the_pool_a_user_chose_is_kept():
    assert pool_of_a_new_process({**os.environ, "ARROW_DEFAULT_MEMORY_POOL": "system"}) == "system"

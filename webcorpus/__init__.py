"""webcorpus: CommonCrawl WARC files to language-model training data, FineWeb style."""

import os
import sys

__version__ = "0.1.0"

# Arrow's memory pool, which pyarrow picks once, when it is imported: jemalloc keeps the memory a batch
# freed for the next batch, where Arrow's default pool (mimalloc) hands it back to the system within
# milliseconds, so that a step streaming Parquet batches page-faulted and zeroed its buffers anew on every
# batch, in kernel time (docs/benchmarks.md, "Tokenizing"). Set on import of this package, so that worker
# processes, which import webcorpus before pyarrow, get it too; a value the user set is kept. Only where
# pyarrow's wheels are built with jemalloc (elsewhere Arrow would warn and keep its default).
if sys.platform == "linux" and os.uname().machine == "x86_64":
    os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "jemalloc")

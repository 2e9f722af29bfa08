"""Kernel CPU time of writing a file in chunks of different sizes: why `tokenize` writes tokens 64 KiB at a time.

    python bench/data/write_chunks.py [--megabytes 112] [--rounds 3] [--folder /tmp]

Writes the same bytes (the size of the token piece `bench/data/tokenize_speed.py` writes) to a new file in
FOLDER with write() calls of 16 KiB, 64 KiB, 1 MiB and 3 MiB (3 MiB: what one batch of 1,024 web pages
gives), in a different order each round, and prints each write's kernel CPU seconds (getrusage). Linux
gives a buffered write page-cache folios as large as the write; on a virtual machine that hands free memory
back to its host (free page reporting), large folios come from such memory and the host must fault it in
again, so large writes can cost many times the small ones. Elsewhere the size should matter little: the
same bytes are copied, in more calls.
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile

SIZES = (16 * 1024, 64 * 1024, 1024 * 1024, 3 * 1024 * 1024)


def write_in_chunks(path: str, data: memoryview, chunk: int) -> float:
    """Kernel CPU seconds of writing `data` to a new file at `path`, `chunk` bytes per write()."""
    before = resource.getrusage(resource.RUSAGE_SELF).ru_stime
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    try:
        for start in range(0, len(data), chunk):
            os.write(descriptor, data[start : start + chunk])
    finally:
        os.close(descriptor)
    return resource.getrusage(resource.RUSAGE_SELF).ru_stime - before


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--megabytes", type=int, default=112)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--folder", default=tempfile.gettempdir())
    args = parser.parse_args()
    data = memoryview(os.urandom(1024 * 1024) * args.megabytes)
    with tempfile.TemporaryDirectory(dir=args.folder) as tmp:
        for round_ in range(1, args.rounds + 1):
            order = SIZES[round_ % len(SIZES) :] + SIZES[: round_ % len(SIZES)]  # each size first once in a while
            figures = []
            for chunk in order:  # all four files kept until the round ends: no write reuses another's pages
                path = os.path.join(tmp, f"chunks-{chunk}")
                figures.append(f"{chunk // 1024} KiB: {write_in_chunks(path, data, chunk):.2f} s")
            for chunk in order:
                os.remove(os.path.join(tmp, f"chunks-{chunk}"))
            print(f"round {round_}, {args.megabytes} MB, kernel CPU per write size: " + ", ".join(figures))


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""What the driver of a run carries as the corpus grows: its peak memory and the bytes it reads and writes.

A run folder on S3 (moto's S3 server on 127.0.0.1), the Ray executor (a local Ray started by the run, so
every task runs in a Ray worker process, never in the driver), the dev WARCs copied `--scale` times over:

    read_warc, url_filter, extract, langid [en], gopher_quality, write_parquet, train_tokenizer, tokenize

The driver is `webcorpus run` in a process of its own; when it exits it prints its peak resident memory
(getrusage) and its `rchar`/`wchar` from /proc/self/io: every byte it read or wrote through a system call,
files and sockets alike (S3, Ray's control traffic). The whole bucket's size is printed beside them. With
`--baseline CHECKOUT`, the same runs of another checkout of webcorpus (an older one that worked in a local
staging copy and pushed the run folder from the driver) alternate with this one's.

    python bench/data/driver_footprint.py [--scales 1 8] [--rounds 2] [--baseline /path/to/checkout]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from webcorpus.testing.s3 import bucket_filesystem, moto_server

HERE = Path(__file__).resolve().parents[2]
DEV_WARCS = HERE.parent / "shared" / "data" / "warc"
PIPELINE = """\
input: {input}
output: unused
removed: false
steps:
  - read_warc
  - url_filter
  - extract
  - langid: {{languages: [en]}}
  - gopher_quality
  - write_parquet
  - train_tokenizer: {{vocab_size: 4096}}
  - tokenize: {{shard_tokens: 100000}}
"""
# Runs `webcorpus run ...` (argv after -c) and, at exit, reports the process's own I/O and peak memory.
DRIVER = (
    "import atexit, resource, sys\n"
    "def report():\n"
    "    io = dict(line.split(': ') for line in open('/proc/self/io').read().splitlines())\n"
    "    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
    "    print(f\"FOOTPRINT {io['rchar']} {io['wchar']} {rss}\", file=sys.stderr)\n"
    "atexit.register(report)\n"
    "sys.argv = ['webcorpus', *sys.argv[1:]]\n"
    "from webcorpus.cli import main\n"
    "main()\n"
)


def run(tree: Path, job: Path, url: str, work: Path, env: dict[str, str]) -> tuple[float, int, int, int]:
    """One run of `tree`'s webcorpus: (wall seconds, driver bytes read, written, peak memory in KB)."""
    staging = ["--staging", str(work / "staging")] if "--staging" in _help(tree) else []
    command = [sys.executable, "-c", DRIVER, "run", str(job), "-o", url, "-w", "2", "--executor", "ray",
               "--no-progress", *staging]  # fmt: skip
    environment = {**os.environ, **env, "PYTHONPATH": str(tree), "WEBCORPUS_SCRATCH": str(work / "scratch")}
    environment.pop("RAY_ADDRESS", None)
    started = time.perf_counter()
    result = subprocess.run(command, cwd=tree, env=environment, capture_output=True, text=True)
    wall = time.perf_counter() - started
    found = re.search(r"FOOTPRINT (\d+) (\d+) (\d+)", result.stderr)
    if result.returncode != 0 or found is None:
        raise RuntimeError(f"{tree}: exit {result.returncode}: {result.stderr.strip().splitlines()[-3:]}")
    return wall, int(found.group(1)), int(found.group(2)), int(found.group(3))


_HELP: dict[Path, str] = {}


def _help(tree: Path) -> str:
    if tree not in _HELP:
        _HELP[tree] = subprocess.run([sys.executable, "-m", "webcorpus.cli", "run", "--help"], cwd=tree,
                                     env={**os.environ, "PYTHONPATH": str(tree)}, capture_output=True,
                                     text=True).stdout  # fmt: skip
    return _HELP[tree]


def bucket_bytes(env: dict[str, str], prefix: str) -> int:
    return sum(info["size"] for info in bucket_filesystem(env).find(prefix, detail=True).values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scales", type=int, nargs="+", default=[1, 8], help="copies of the dev WARCs")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--baseline", type=Path, help="another checkout of webcorpus to run alternately")
    parser.add_argument("--warcs", type=Path, default=DEV_WARCS, help="folder of the dev-*.warc.gz files")
    args = parser.parse_args()
    warcs = sorted(args.warcs.glob("dev-*.warc.gz"))
    if not warcs:
        sys.exit(f"{args.warcs}: no dev-*.warc.gz (the shared data)")
    sides = {"this": HERE, **({"baseline": args.baseline.resolve()} if args.baseline else {})}
    with moto_server() as env, tempfile.TemporaryDirectory() as tmp:
        bucket_filesystem(env).mkdir("runs")
        work = Path(tmp)
        jobs = {}
        for scale in args.scales:
            folder = work / f"warcs-{scale}x"
            folder.mkdir()
            for copy in range(scale):
                for warc in warcs:
                    (folder / f"{copy:02d}-{warc.name}").symlink_to(warc)
            jobs[scale] = work / f"job-{scale}x.yaml"
            jobs[scale].write_text(PIPELINE.format(input=f"{folder}/*.warc.gz"))
        print(f"{len(warcs)} dev WARCs x {args.scales}; driver peak memory and bytes through its system calls")
        number = 0
        for round_ in range(1, args.rounds + 1):
            order = list(sides) if round_ % 2 else list(reversed(sides))
            for scale in args.scales:
                for name in order:
                    number += 1
                    url = f"s3://runs/{number:03d}"
                    wall, read, written, rss = run(sides[name], jobs[scale], url, work / f"run-{number}", env)
                    stored = bucket_bytes(env, f"runs/{number:03d}")
                    print(f"round {round_} {scale}x {name:<9} {wall:6.1f} s  driver peak {rss / 1024:6.0f} MB  "
                          f"read {read / 2**20:7.1f} MB  written {written / 2**20:7.1f} MB  "
                          f"(bucket {stored / 2**20:6.1f} MB)", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Bookkeeping over a long input list: this checkout against another (`--baseline`), alternating.

A `warc.paths` list of N entries naming files that do not exist, so every task is bookkeeping only (the read
fails, the file is reported as bad, the task's marker is written). Each side runs, in its own checkout,

    python -m webcorpus.cli run pipelines/fineweb.yaml --input LIST --output OUT --shard 0/1 -w 2

once into a new folder (the run) and once more over it (the resume), timed with /usr/bin/time (wall seconds,
peak memory of the driver). Rounds alternate which side goes first.

    python bench/data/many_inputs.py --baseline /path/to/old/checkout [--files 20000] [--rounds 2]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parents[2]


def timed(tree: Path, paths: Path, out: Path) -> tuple[float, int]:
    command = ["/usr/bin/time", "-f", "TIME %e %M", sys.executable, "-m", "webcorpus.cli", "run",
               "pipelines/fineweb.yaml", "--input", str(paths), "--output", str(out), "--shard", "0/1", "-w", "2",
               "--no-progress"]  # fmt: skip
    result = subprocess.run(command, cwd=tree, env={**os.environ, "PYTHONPATH": str(tree)}, capture_output=True,
                            text=True)  # fmt: skip
    found = re.search(r"TIME ([\d.]+) (\d+)", result.stderr)
    if found is None:
        raise RuntimeError(f"{tree}: {result.stderr.strip().splitlines()[-1:]}")
    return float(found.group(1)), int(found.group(2)) // 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", type=Path, required=True, help="another checkout of webcorpus")
    parser.add_argument("--files", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    sides = {"this": HERE, "baseline": args.baseline.resolve()}
    with tempfile.TemporaryDirectory() as work:
        paths = Path(work) / "warc.paths"
        paths.write_text("\n".join(f"crawl-data/CC/segments/1/warc/missing-{i:07d}.warc.gz" for i in range(args.files)))
        print(f"{args.files:,} input files; this {HERE}, baseline {sides['baseline']}")
        for round_ in range(1, args.rounds + 1):
            order = list(sides) if round_ % 2 else list(reversed(sides))
            for name in order:
                out = Path(work) / f"out-{name}"
                shutil.rmtree(out, ignore_errors=True)
                run, run_mb = timed(sides[name], paths, out)
                resume, resume_mb = timed(sides[name], paths, out)
                print(f"round {round_} {name:<9} run {run:7.1f} s {run_mb:5d} MB   ", end="")
                print(f"resume {resume:6.1f} s {resume_mb:5d} MB")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""A whole local run, this checkout against another (`--baseline`), alternating: did a change slow it down?

Each side runs, in its own checkout and a new output folder,

    python -m webcorpus.cli run pipelines/fineweb.yaml --input WARCS --output OUT -w 2

(every step: extraction to token shards), timed with /usr/bin/time (wall seconds, the driver's peak memory).
Rounds alternate which side goes first. Prints each run and the ratio of the medians, and checks that both
sides wrote the same Parquet shards and token shards.

    python bench/data/local_run_speed.py --baseline /path/to/old/checkout [--rounds 2] [WARC ...]
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parents[2]
DEV_WARCS = sorted(str(p) for p in (HERE.parent / "shared" / "data" / "warc").glob("dev-*.warc.gz"))


def timed(tree: Path, warcs: list[str], out: Path) -> tuple[float, int]:
    command = ["/usr/bin/time", "-f", "TIME %e %M", sys.executable, "-m", "webcorpus.cli", "run",
               "pipelines/fineweb.yaml", *[a for w in warcs for a in ("--input", w)], "--output", str(out),
               "-w", "2", "--no-progress"]  # fmt: skip
    result = subprocess.run(command, cwd=tree, env={**os.environ, "PYTHONPATH": str(tree)}, capture_output=True,
                            text=True)  # fmt: skip
    found = re.search(r"TIME ([\d.]+) (\d+)", result.stderr)
    if result.returncode != 0 or found is None:
        raise RuntimeError(f"{tree}: {result.stderr.strip().splitlines()[-3:]}")
    return float(found.group(1)), int(found.group(2)) // 1024


def outputs(run: Path) -> dict[str, bytes]:
    wanted = {".parquet", ".bin", ".idx"}
    return {p.relative_to(run).as_posix(): p.read_bytes() for p in sorted(run.rglob("*"))
            if p.is_file() and p.suffix in wanted and not p.name.startswith(".")}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("warcs", nargs="*", default=DEV_WARCS, help="default: the shared dev WARCs")
    parser.add_argument("--baseline", type=Path, required=True, help="another checkout of webcorpus")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    if not args.warcs:
        sys.exit("no WARCs given and no shared dev WARCs found")
    sides = {"this": HERE, "baseline": args.baseline.resolve()}
    walls: dict[str, list[float]] = {name: [] for name in sides}
    with tempfile.TemporaryDirectory() as work:
        print(f"{len(args.warcs)} WARCs; this {HERE}, baseline {sides['baseline']}")
        for round_ in range(1, args.rounds + 1):
            order = list(sides) if round_ % 2 else list(reversed(sides))
            for name in order:
                out = Path(work) / f"{name}-{round_}"
                wall, peak = timed(sides[name], args.warcs, out)
                walls[name].append(wall)
                print(f"round {round_} {name:<9} {wall:7.1f} s  driver peak {peak:5d} MB", flush=True)
        same = outputs(Path(work) / "this-1") == outputs(Path(work) / "baseline-1")
    this, baseline = statistics.median(walls["this"]), statistics.median(walls["baseline"])
    print(f"median: this {this:.1f} s, baseline {baseline:.1f} s, this/baseline {this / baseline:.3f}")
    print(f"same Parquet and token shards: {same}")


if __name__ == "__main__":
    main()

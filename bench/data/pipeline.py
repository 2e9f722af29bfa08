"""Throughput of the FineWeb first stage on the shared development WARCs.

    python bench/data/pipeline.py [--workers 2] [--pipeline pipelines/fineweb.yaml] [WARC ...]

Prints wall time, pages/s per core and each stage's time per page (per page that reached the
stage, which is how datatrove reports it, and per input page). Reference figures for the same
two files are in ../shared/data/README.md.
"""

from __future__ import annotations

import argparse
import glob
import os
import sys
import tempfile
from pathlib import Path

from webcorpus.pipeline.config import load_pipeline
from webcorpus.pipeline.runner import format_table, run_pipeline

REPO = Path(__file__).resolve().parents[2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    dev_warcs = sorted(glob.glob(str(REPO.parent / "shared/data/warc/dev-*.warc.gz")))
    parser.add_argument("warcs", nargs="*", default=dev_warcs)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--pipeline", default=str(REPO / "pipelines" / "fineweb.yaml"))
    args = parser.parse_args()
    if not args.warcs:
        sys.exit("no input: ../shared/data/warc/dev-*.warc.gz is absent; pass WARC files")

    config = load_pipeline(args.pipeline)
    config.input = args.warcs
    config.removed = False
    # FineWeb's first stage: the steps up to the first corpus step.
    roles = [step.role for step in config.steps]
    config.steps = config.steps[: roles.index("corpus")] if "corpus" in roles else config.steps
    with tempfile.TemporaryDirectory() as tmp:
        config.output = str(Path(tmp) / "out")
        result = run_pipeline(config, workers=args.workers, progress=False)
    print(format_table(result))
    pages = result.steps[0].stats.documents_in
    cores = min(args.workers, os.cpu_count() or 1, len(args.warcs))
    print(f"\ninput files {len(args.warcs)}, workers {args.workers}, response records read {pages}")
    rate = pages / result.wall_s
    print(f"wall {result.wall_s:.1f} s, {rate:.1f} pages/s, {rate / cores:.1f} pages/s per core")
    print(f"kept {result.documents_out} documents")
    print(f"\n{'stage':<14}{'ms/page reaching it':>22}{'ms/input page':>16}")
    for report in result.steps:
        name, stats = report.name, report.stats
        reached = stats.documents_in or 1
        print(f"{name:<14}{1000 * stats.time_s / reached:>22.2f}{1000 * stats.time_s / max(pages, 1):>16.2f}")


if __name__ == "__main__":
    main()

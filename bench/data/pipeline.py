"""FineWeb's first stage, ours against datatrove's, side by side on the shared development WARCs.

    python bench/data/pipeline.py [--workers 2] [--rounds 2] [--venv DIR] [--ours-only] [WARC ...]

The first stage of pipelines/fineweb.yaml (read, URL filter, quick_langid, extract, langid, the four
quality filters, Parquet; the steps before the first corpus step) against ../shared/bench/datatrove_fineweb.py
(datatrove 0.10.1's FineWeb example, English only, a 5 s extraction timeout so machine load cannot change
what it keeps), installed in a throw-away virtualenv (or --venv), and against our exact path (the same
pipeline without quick_langid: every page extracted, then filtered). The three take turns, --rounds times
each, in this one job. Prints each run's wall time and pages/s per core, the ratios, our table and each
step's time per page for both of our paths, whether our two paths keep the same pages with the same
texts, and how far our kept set and datatrove's agree.
"""

from __future__ import annotations

import argparse
import glob
import gzip
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from quality_vs_datatrove import make_venv  # this folder's neighbour (run as a script, its folder is on the path)

from webcorpus.parquet import read_documents
from webcorpus.pipeline.config import load_pipeline
from webcorpus.pipeline.runner import RunResult, format_table, run_pipeline

REPO = Path(__file__).resolve().parents[2]
DATATROVE_SIDE = REPO.parent / "shared" / "bench" / "datatrove_fineweb.py"


def run_ours(args, warcs: list[str], out: Path, exact: bool) -> tuple[float, RunResult, dict[str, str]]:
    """Our first stage; `exact` leaves quick_langid out. Returns seconds, the result, kept url -> text."""
    config = load_pipeline(args.pipeline)
    config.input, config.output, config.removed = warcs, str(out), False
    roles = [step.role for step in config.steps]
    config.steps = config.steps[: roles.index("corpus")] if "corpus" in roles else config.steps
    if exact:
        config.steps = [step for step in config.steps if step.name != "quick_langid"]
    if args.languages is not None:
        for step in config.steps:
            if step.name in ("quick_langid", "langid"):
                step.options["languages"] = [code for code in args.languages.split(",") if code]
    start = time.perf_counter()
    result = run_pipeline(config, workers=args.workers, progress=False)
    return time.perf_counter() - start, result, {d.url: d.text for d in read_documents(out / "data")}


def print_steps(result: RunResult, pages: int) -> None:
    print(format_table(result))
    print(f"\n{'step':<18}{'ms/page reaching it':>22}{'ms/input page':>16}")
    for report in result.steps:
        stats = report.stats
        per_reached = 1000 * stats.time_s / (stats.documents_in or 1)
        print(f"{report.name:<18}{per_reached:>22.2f}{1000 * stats.time_s / max(pages, 1):>16.2f}")


def run_datatrove(python: Path, args, warcs: list[str], work: Path) -> tuple[float, set[str]]:
    inputs = work / "in"
    inputs.mkdir(parents=True)
    for warc in warcs:
        (inputs / Path(warc).name).symlink_to(Path(warc).resolve())
    start = time.perf_counter()
    subprocess.run([python, DATATROVE_SIDE, inputs, work / "out", str(args.workers)], check=True, capture_output=True)
    seconds = time.perf_counter() - start
    rows = [json.loads(line) for path in (work / "out" / "output").glob("*.jsonl.gz") for line in gzip.open(path, "rt")]
    return seconds, {row["metadata"].get("url") for row in rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    dev_warcs = sorted(glob.glob(str(REPO.parent / "shared/data/warc/dev-*.warc.gz")))
    parser.add_argument("warcs", nargs="*", default=dev_warcs)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--pipeline", default=str(REPO / "pipelines" / "fineweb.yaml"))
    parser.add_argument("--venv", type=Path, help="reuse (or create) datatrove's virtualenv here")
    parser.add_argument("--ours-only", action="store_true", help="skip datatrove")
    parser.add_argument(
        "--languages", help="comma-separated languages for quick_langid and langid ('' for none); implies --ours-only"
    )
    args = parser.parse_args()
    if not args.warcs:
        sys.exit("no input: ../shared/data/warc/dev-*.warc.gz is absent; pass WARC files")
    cores = min(args.workers, os.cpu_count() or 1, len(args.warcs))
    with tempfile.TemporaryDirectory() as tmp:
        python = None
        if not args.ours_only and args.languages is None:
            if not DATATROVE_SIDE.exists():
                sys.exit(f"{DATATROVE_SIDE}: missing (datatrove's side of the comparison)")
            python = make_venv(args.venv or Path(tmp) / "venv")
        for round_number in range(1, args.rounds + 1):
            work = Path(tmp) / f"round{round_number}"
            seconds, result, ours = run_ours(args, args.warcs, work / "ours", exact=False)
            pages = result.steps[0].stats.documents_in
            exact_s, exact_result, exact = run_ours(args, args.warcs, work / "exact", exact=True)
            line = (
                f"round {round_number}: webcorpus {seconds:.1f} s ({pages / seconds / cores:.1f} pages/s per core), "
                f"exact path {exact_s:.1f} s ({pages / exact_s / cores:.1f}; {exact_s / seconds:.2f}x)"
            )
            if python is not None:
                theirs_s, theirs = run_datatrove(python, args, args.warcs, work / "datatrove")
                line += f", datatrove {theirs_s:.1f} s ({pages / theirs_s / cores:.1f})"
                line += f"; webcorpus {theirs_s / seconds:.2f}x as fast"
            print(line, flush=True)
    print(f"\ninput files {len(args.warcs)}, workers {args.workers}, response records read {pages}\n")
    print_steps(result, pages)
    print("\nexact path (no quick_langid):")
    print_steps(exact_result, pages)
    same_texts = sum(ours[url] == exact.get(url) for url in ours)
    print(
        f"\nkept: webcorpus {len(ours)}, exact path {len(exact)}, in both {len(ours.keys() & exact.keys())}, "
        f"same text {same_texts}; only exact: {sorted(exact.keys() - ours.keys())}; "
        f"only with quick_langid: {sorted(ours.keys() - exact.keys())}"
    )
    if python is not None:
        print(f"datatrove kept {len(theirs)}, in common with webcorpus {len(ours.keys() & theirs)}")


if __name__ == "__main__":
    main()

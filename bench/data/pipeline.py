"""FineWeb's first stage, ours against datatrove's, as whole commands, side by side.

    python bench/data/pipeline.py [--input dev|english] [--workers 2] [--rounds 2] [--venv DIR] [--ours-only]
                                  [--languages en,de] [WARC ...]

Three commands take turns, --rounds times each, in this one job:
- webcorpus: `webcorpus run` on the first stage of pipelines/fineweb.yaml (read, URL filter, quick_langid,
  extract, langid, the four quality filters, Parquet with the removed documents; the steps before the first
  corpus step), written to a temporary YAML file;
- exact: the same without quick_langid, and trafilatura exactly as installed (`extract` with
  `python_selectors: false`): every page extracted by plain trafilatura with FineWeb's settings, then
  filtered. webcorpus must keep the same pages with the same texts, byte for byte;
- datatrove: ../shared/bench/datatrove_fineweb.py (datatrove 0.10.1's FineWeb example, English only, a 5 s
  extraction timeout so machine load cannot change what it keeps, its exclusion writers on), installed in
  a throw-away virtualenv (or --venv).

Each is a fresh process (imports, model loading and worker start-up count), timed by the wall clock and by
CPU seconds (user + system of the command and every process it started, orphans included: Linux only;
bench/data/commands.py).
Pages per CPU second is the per-core figure. Inputs: `--input dev` (default) is
../shared/data/warc/dev-*.warc.gz (949 pages, 18% English), `--input english` bench/data/english/*.warc.gz
(762 pages, 55% English; build it first with bench/data/build_english_mix.py), or WARC files given.
Prints each run, the ratios, each step's time per page from stats.json for our two commands, and how the
kept sets agree.
"""

from __future__ import annotations

import argparse
import glob
import gzip
import json
import os
import sys
import tempfile
from pathlib import Path

import yaml
from commands import become_subreaper, timed  # this folder's neighbours (run as a script, its folder is on the path)
from quality_vs_datatrove import make_venv

from webcorpus.parquet import read_documents
from webcorpus.pipeline.config import load_pipeline

REPO = Path(__file__).resolve().parents[2]
DATATROVE_SIDE = REPO.parent / "shared" / "bench" / "datatrove_fineweb.py"
INPUTS = {
    "dev": str(REPO.parent / "shared" / "data" / "warc" / "dev-*.warc.gz"),
    "english": str(REPO / "bench" / "data" / "english" / "english-*.warc.gz"),
}
WEBCORPUS = [sys.executable, "-c", "from webcorpus.cli import main; main()"]


def first_stage(pipeline: str, exact: bool, languages: list[str] | None) -> dict:
    """The YAML of the pipeline's steps before its first corpus step; `exact`: no quick_langid, plain trafilatura."""
    roles = [step.role for step in load_pipeline(pipeline).steps]
    raw = yaml.safe_load(Path(pipeline).read_text())
    steps = raw["steps"][: roles.index("corpus")] if "corpus" in roles else raw["steps"]
    kept = []
    for step in steps:
        ((name, options),) = step.items()
        options = dict(options or {})
        if exact and name == "quick_langid":
            continue
        if exact and name == "extract":
            options["python_selectors"] = False
        if languages is not None and name in ("quick_langid", "langid"):
            options["languages"] = languages
        kept.append({name: options})
    return {"steps": kept, "removed": raw.get("removed", False)}


def timed_or_exit(command: list[str]) -> tuple[float, float]:
    """Wall and CPU seconds of one command (commands.timed); stops the benchmark if it failed."""
    timing = timed(command)
    if timing.returncode != 0:
        sys.exit(f"{' '.join(map(str, command))} failed ({timing.returncode}); rerun it to see why")
    return timing.wall, timing.cpu


def run_ours(yaml_file: Path, warcs: list[str], out: Path, workers: int) -> tuple[float, float, dict, dict]:
    inputs = [arg for warc in warcs for arg in ("-i", warc)]
    command = [*WEBCORPUS, "run", str(yaml_file), *inputs, "-o", str(out), "-w", str(workers), "--no-progress"]
    wall, cpu = timed_or_exit(command)
    stats = json.loads((out / "stats.json").read_text())
    return wall, cpu, {d.url: d.text for d in read_documents(out / "data")}, stats


def run_datatrove(python: Path, warcs: list[str], work: Path, workers: int) -> tuple[float, float, set[str]]:
    inputs = work / "in"
    inputs.mkdir(parents=True)
    for warc in warcs:
        (inputs / Path(warc).name).symlink_to(Path(warc).resolve())
    wall, cpu = timed_or_exit([str(python), str(DATATROVE_SIDE), str(inputs), str(work / "out"), str(workers)])
    rows = [json.loads(line) for path in (work / "out" / "output").glob("*.jsonl.gz") for line in gzip.open(path, "rt")]
    return wall, cpu, {row["metadata"].get("url") for row in rows}


def print_steps(stats: dict, pages: int) -> None:
    print(f"{'step':<18}{'in':>6}{'kept':>6}{'CPU ms/page reaching it':>25}{'CPU ms/input page':>19}{'start-up s':>12}")
    for step in stats["steps"]:
        cpu_ms = 1000 * step.get("cpu_s", 0.0)
        reached = step["documents_in"] or 1
        print(
            f"{step['step']:<18}{step['documents_in']:>6}{step['kept']:>6}{cpu_ms / reached:>25.2f}"
            f"{cpu_ms / max(pages, 1):>19.2f}{step.get('startup_s', 0.0):>12.2f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("warcs", nargs="*", help="WARC files (default: the --input set)")
    parser.add_argument("--input", choices=sorted(INPUTS), default="dev", help="which benchmark input (see above)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--pipeline", default=str(REPO / "pipelines" / "fineweb.yaml"))
    parser.add_argument("--venv", type=Path, help="reuse (or create) datatrove's virtualenv here")
    parser.add_argument("--ours-only", action="store_true", help="skip datatrove")
    parser.add_argument(
        "--languages", help="comma-separated languages for quick_langid and langid ('' for none); implies --ours-only"
    )
    args = parser.parse_args()
    warcs = args.warcs or sorted(glob.glob(INPUTS[args.input]))
    if not warcs:
        sys.exit(f"no input: {INPUTS[args.input]} matches nothing (see --help); or pass WARC files")
    become_subreaper()
    languages = None if args.languages is None else [code for code in args.languages.split(",") if code]
    with tempfile.TemporaryDirectory() as tmp:
        python = None
        if not args.ours_only and languages is None:
            if not DATATROVE_SIDE.exists():
                sys.exit(f"{DATATROVE_SIDE}: missing (datatrove's side of the comparison)")
            python = make_venv(args.venv or Path(tmp) / "venv")
        yamls = {}
        for name, exact in (("webcorpus", False), ("exact", True)):
            yamls[name] = Path(tmp) / f"{name}.yaml"
            yamls[name].write_text(yaml.safe_dump(first_stage(args.pipeline, exact, languages), sort_keys=False))
        for round_number in range(1, args.rounds + 1):
            work = Path(tmp) / f"round{round_number}"
            wall, cpu, ours, stats = run_ours(yamls["webcorpus"], warcs, work / "ours", args.workers)
            pages = stats["steps"][0]["documents_in"]
            exact_wall, exact_cpu, exact, exact_stats = run_ours(yamls["exact"], warcs, work / "exact", args.workers)
            line = (
                f"round {round_number}: webcorpus {wall:.1f} s wall, {cpu:.1f} s CPU "
                f"({pages / cpu:.1f} pages per CPU s); "
                f"exact {exact_wall:.1f} s, {exact_cpu:.1f} s ({pages / exact_cpu:.1f})"
            )
            if python is not None:
                theirs_wall, theirs_cpu, theirs = run_datatrove(python, warcs, work / "datatrove", args.workers)
                line += (
                    f"; datatrove {theirs_wall:.1f} s, {theirs_cpu:.1f} s ({pages / theirs_cpu:.1f}); webcorpus "
                    f"{theirs_wall / wall:.2f}x wall, {theirs_cpu / cpu:.2f}x per core"
                )
            print(line, flush=True)
    print(
        f"\ninput files {len(warcs)}, workers {args.workers}, pages (HTML responses) {pages}, "
        f"load average {os.getloadavg()[0]:.1f}\n"
    )
    print("webcorpus (last round):")
    print_steps(stats, pages)
    print("\nexact (last round):")
    print_steps(exact_stats, pages)
    same_texts = sum(ours[url] == exact.get(url) for url in ours)
    print(
        f"\nkept: webcorpus {len(ours)}, exact {len(exact)}, in both {len(ours.keys() & exact.keys())}, "
        f"same text {same_texts}; only exact: {sorted(exact.keys() - ours.keys())}; "
        f"only webcorpus: {sorted(ours.keys() - exact.keys())}"
    )
    if python is not None:
        print(f"datatrove kept {len(theirs)}, in common with webcorpus {len(ours.keys() & theirs)}")


if __name__ == "__main__":
    main()

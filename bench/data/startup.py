#!/usr/bin/env python3
"""Where a small run's seconds go before its first page, this checkout against another, alternating.

Each job runs as the CLI runs it, in a new output folder, with 2 worker processes:

    sample: python -m webcorpus.cli run fineweb -o OUT -w 2 --no-progress         (the packaged sample)
    dev:    python -m webcorpus.cli run pipelines/fineweb.yaml -i DEV-00000 -i DEV-00001 -o OUT -w 2 --no-progress

and is traced without touching the code under test: a `sitecustomize` put first on PYTHONPATH (so the
driver and every spawned worker load it) installs an import hook that

- times the import of a few heavy modules in each process (torch, transformers, spacy, presidio_analyzer,
  trafilatura, fasttext, pyarrow, matplotlib, ...; cumulative: torch inside spacy counts in both), and
- wraps, once their modules are loaded, the driver's passes (`_Run.run_document_pass`, `run_corpus_pass`),
  its checks and first-pass build (`_Run.prepare`), the report (`webcorpus.report.html.write_report`), and
  in every process `DocumentPassRunner.__init__` (building a pass's steps: imports, models) and the first
  document its reader yields.

Each process appends its events (one JSON line each) to a trace file. Per run it prints: wall and CPU
seconds (the CLI and all its workers, from getrusage), the seconds inside steps (stats.json: wall spent in
steps, summed over workers, start-up excluded), per pass the driver's seconds and how long it took until a
worker had its first document, per worker process the seconds from its start to its pass's steps being
built (interpreter, imports, models) and the heavy modules it loaded, and what the driver spent outside
the passes (imports, checks, report). Then the median per side, and whether both sides wrote the same
bytes (every Parquet shard, token shard and tokenizer.json).

    python bench/data/startup.py --baseline /tmp/startup-base [--rounds 2] [--jobs sample,dev]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parents[2]
DEV_WARCS = [str(HERE.parent / "shared" / "data" / "warc" / f"dev-0000{i}.warc.gz") for i in (0, 1)]
if not Path(DEV_WARCS[0]).exists():
    DEV_WARCS = [f"/work/shared/data/warc/dev-0000{i}.warc.gz" for i in (0, 1)]
HEAVY = ("torch", "transformers", "spacy", "thinc", "presidio_analyzer", "trafilatura", "fasttext", "pyarrow",
         "matplotlib", "tldextract", "phonenumbers", "lxml", "datasketch", "tokenizers", "tiktoken", "numpy",
         "ray")  # fmt: skip

# The tracer every process of a traced run loads first (as `sitecustomize`). It must not import webcorpus
# itself, or it would change what it measures.
TRACER = textwrap.dedent('''
    import json, os, sys, time
    _PATH = os.environ.get("STARTUP_TRACE")
    _HEAVY = set(os.environ.get("STARTUP_HEAVY", "").split(","))

    def _process_start():
        """This process's start on the wall clock (from /proc: before the interpreter began)."""
        try:
            with open("/proc/self/stat") as f:
                ticks = int(f.read().rsplit(")", 1)[1].split()[19])
            with open("/proc/uptime") as f:
                uptime = float(f.read().split()[0])
            return time.time() - uptime + ticks / os.sysconf("SC_CLK_TCK")
        except Exception:
            return time.time()

    def emit(event, **fields):
        if not _PATH:
            return
        line = json.dumps({"pid": os.getpid(), "ppid": os.getppid(), "event": event, "t": time.time(),
                           "cpu": time.process_time(), **fields})
        fd = os.open(_PATH, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, (line + "\\n").encode())
        finally:
            os.close(fd)

    def _loaded():
        return sorted(m for m in _HEAVY if m in sys.modules)

    def _patch_tasks(module):
        runner_class = module.DocumentPassRunner
        init = runner_class.__init__

        def traced_init(self, spec, *args, **kwargs):
            emit("build_begin", root=spec.root, steps=[s.name for s in spec.steps])
            init(self, spec, *args, **kwargs)
            emit("build_end", root=spec.root, loaded=_loaded())
            reader, seen = self.reader, [False]
            read = reader.read

            def traced_read(path):
                for document in read(path):
                    if not seen[0]:
                        seen[0] = True
                        emit("first_document", root=spec.root)
                    yield document

            reader.read = traced_read

        runner_class.__init__ = traced_init

    def _patch_runner(module):
        run_class = module._Run

        def wrap(name, describe):
            original = getattr(run_class, name)

            def traced(self, *args, **kwargs):
                what = describe(args)
                emit("driver_begin", what=what)
                try:
                    return original(self, *args, **kwargs)
                finally:
                    emit("driver_end", what=what, loaded=_loaded())

            setattr(run_class, name, traced)

        wrap("prepare", lambda args: "prepare (checks, first pass built in the driver)")
        wrap("run_document_pass", lambda args: "pass " + "+".join(s.name for s in args[0].steps))
        wrap("run_corpus_pass", lambda args: "corpus " + args[0].step.name)

    def _patch_report(module):
        write = module.write_report

        def traced(*args, **kwargs):
            emit("driver_begin", what="report.html")
            try:
                return write(*args, **kwargs)
            finally:
                emit("driver_end", what="report.html")

        module.write_report = traced

    _PATCHES = {"webcorpus.pipeline.tasks": _patch_tasks, "webcorpus.pipeline.runner": _patch_runner,
                "webcorpus.report.html": _patch_report}

    class _Hook:
        """Times the heavy modules' imports; patches the modules above once they are loaded."""

        def find_spec(self, name, path=None, target=None):
            if name not in _HEAVY and name not in _PATCHES:
                return None
            for finder in sys.meta_path:
                if finder is self or not hasattr(finder, "find_spec"):
                    continue
                spec = finder.find_spec(name, path, target)
                if spec is not None:
                    break
            else:
                return None
            loader = spec.loader
            if loader is None or not hasattr(loader, "exec_module"):
                return spec
            execute = loader.exec_module

            def exec_module(module, _execute=execute, _name=name):
                wall, cpu = time.perf_counter(), time.process_time()
                _execute(module)
                if _name in _PATCHES:
                    _PATCHES[_name](module)
                else:
                    emit("import", module=_name, wall=time.perf_counter() - wall, cpu_s=time.process_time() - cpu)

            loader.exec_module = exec_module
            return spec

    if _PATH:
        sys.meta_path.insert(0, _Hook())
        emit("process_start", started=_process_start())
''')


def run_job(tree: Path, job: str, out: Path, trace: Path, tracer: Path, workers: int) -> dict[str, Any]:
    """Run `job` with the code in `tree`; its wall and CPU seconds, stats.json and trace events."""
    if job == "sample":
        arguments = ["run", "fineweb"]
    else:
        arguments = ["run", "pipelines/fineweb.yaml", *[a for w in DEV_WARCS for a in ("--input", w)]]
    command = [sys.executable, "-m", "webcorpus.cli", *arguments, "--output", str(out), "-w", str(workers),
               "--no-progress"]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": f"{tracer}:{tree}", "STARTUP_TRACE": str(trace),
           "STARTUP_HEAVY": ",".join(HEAVY)}  # fmt: skip
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.time()
    done = subprocess.run(command, cwd=tree, env=env, capture_output=True, text=True)
    wall = time.time() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise RuntimeError(f"{tree} {job}: exit {done.returncode}: {done.stderr.strip().splitlines()[-5:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    events = [json.loads(line) for line in trace.read_text().splitlines()]
    stats = json.loads((out / "stats.json").read_text())
    return {"wall": wall, "cpu": cpu, "started": started, "events": events, "stats": stats, "table": done.stdout}


def analyse(run: dict[str, Any]) -> dict[str, Any]:
    """The figures printed for one run (see the module doc)."""
    events, started = run["events"], run["started"]
    by_pid: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for event in events:
        by_pid[event["pid"]].append(event)
    driver = next(e["pid"] for e in events if e["event"] == "process_start" and e["ppid"] == os.getpid())
    figures: dict[str, Any] = {"wall": run["wall"], "cpu": run["cpu"]}
    steps = run["stats"]["steps"]
    figures["in_steps"] = sum(s["time_s"] for s in steps if s["role"] != "corpus") + sum(
        s["wall_s"] for s in steps if s["role"] == "corpus"
    )
    figures["startup_recorded"] = sum(s.get("startup_s", 0.0) for s in steps)
    cpu_by_step = defaultdict(list)  # a step's CPU seconds (stats.json: summed over workers, start-up included)
    for step in steps:
        cpu_by_step[step["step"]].append(step["cpu_s"])
    # The driver's stretches (passes, checks, report) in order.
    spans, open_ = [], {}
    for event in by_pid[driver]:
        if event["event"] == "driver_begin":
            open_[event["what"]] = event["t"]
        elif event["event"] == "driver_end":
            spans.append((event["what"], open_.pop(event["what"]), event["t"], event.get("loaded", [])))
    driver_start = next(e for e in by_pid[driver] if e["event"] == "process_start")
    figures["driver_imports_before_run"] = spans[0][1] - driver_start["started"] if spans else 0.0
    passes = []
    for what, begin, end, _ in spans:
        row = {"what": what, "seconds": end - begin}
        if what.startswith("pass "):
            names = what.removeprefix("pass ").split("+")
            row["cpu"] = sum(cpu_by_step[name].pop(0) for name in names if cpu_by_step[name])
            firsts = [e["t"] for e in events if e["event"] == "first_document" and begin <= e["t"] <= end]
            row["to_first_document"] = min(firsts) - begin if firsts else None
            workers = []
            for pid, own in by_pid.items():
                start = next((e for e in own if e["event"] == "process_start"), None)
                built = [e for e in own if e["event"] == "build_end" and begin <= e["t"] <= end]
                if pid == driver or not built or start is None:
                    continue
                building = [e for e in own if e["event"] == "build_begin" and e["t"] <= built[0]["t"]][-1]
                new = not any(e["event"] == "build_end" and e["t"] < begin for e in own)  # else kept from a pass before
                since = start["started"] if new else begin
                cpu_before = 0.0 if new else building["cpu"]
                imports = {e["module"]: e["wall"] for e in own if e["event"] == "import" and since <= e["t"] <= end}
                workers.append({"pid": pid, "new": new, "to_built": built[0]["t"] - since,
                                "build": built[0]["t"] - building["t"], "cpu_to_built": built[0]["cpu"] - cpu_before,
                                "loaded": built[0]["loaded"], "imports": imports})  # fmt: skip
            row["workers"] = workers
        passes.append(row)
    figures["spans"] = passes
    # The driver's time between its stretches (its own work between passes: markers, the record, stats.json).
    ends = [driver_start["started"]] + [end for _, _, end, _ in spans]
    figures["gaps"] = [(what, begin - ends[i]) for i, (what, begin, _, _) in enumerate(spans)]
    in_spans = sum(p["seconds"] for p in passes if not p["what"].startswith("report"))
    figures["outside_passes"] = run["wall"] - in_spans
    last = max(e["t"] for e in by_pid[driver])
    figures["driver_exit"] = started + run["wall"] - last  # from its last event (the report) to its exit
    driver_imports = {e["module"]: e["wall"] for e in by_pid[driver] if e["event"] == "import"}
    figures["driver_imports"] = driver_imports
    figures["processes"] = len(by_pid)
    return figures


def show(side: str, job: str, figures: dict[str, Any]) -> None:
    print(f"\n[{side}] {job}: wall {figures['wall']:.2f} s, CPU {figures['cpu']:.2f} s (all processes), "
          f"{figures['processes']} processes traced; inside steps {figures['in_steps']:.2f} s (summed over workers), "
          f"start-up recorded in stats.json {figures['startup_recorded']:.2f} s")  # fmt: skip
    print(f"  driver: {figures['driver_imports_before_run']:.2f} s from its start to the run's checks; "
          f"outside passes and corpus steps {figures['outside_passes']:.2f} s; after the report to its exit "
          f"{figures['driver_exit']:.2f} s")  # fmt: skip
    heavy = ", ".join(f"{m} {s:.2f}" for m, s in sorted(figures["driver_imports"].items(), key=lambda x: -x[1])[:6])
    print(f"  driver imports (cumulative s): {heavy or '-'}")
    gaps = ", ".join(f"{seconds:.2f} before {what.split('+')[0]}" for what, seconds in figures["gaps"][1:])
    print(f"  driver between its stretches (s): {gaps}")
    for row in figures["spans"]:
        first = row.get("to_first_document")
        extra = f", first document after {first:.2f} s" if first is not None else ""
        if "cpu" in row:
            extra += f"; its steps' CPU {row['cpu']:.2f} s (summed over workers, start-up included)"
        print(f"  {row['seconds']:6.2f} s  {row['what']}{extra}")
        for worker in row.get("workers", []):
            imports = ", ".join(f"{m} {s:.2f}" for m, s in sorted(worker["imports"].items(), key=lambda x: -x[1])[:5])
            since = "its start" if worker["new"] else "the pass's start (worker kept from an earlier pass)"
            print(f"             worker {worker['pid']}: {worker['to_built']:.2f} s from {since} to the steps built "
                  f"(CPU {worker['cpu_to_built']:.2f} s; building {worker['build']:.2f} s); "
                  f"imports {imports or '-'}")  # fmt: skip


def outputs(run: Path) -> dict[str, str]:
    wanted = {".parquet", ".bin", ".idx"}
    return {p.relative_to(run).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(run.rglob("*"))
            if p.is_file() and (p.suffix in wanted or p.name == "tokenizer.json")
            and not any(part.startswith(".") for part in p.relative_to(run).parts)}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", type=Path, help="another checkout of webcorpus (the 'before' side)")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--jobs", default="sample,dev", help="comma-separated: sample, dev")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--tables", action="store_true", help="print each run's table too")
    args = parser.parse_args()
    sides = {"this": HERE}
    if args.baseline:
        sides = {"baseline": args.baseline.resolve(), "this": HERE}
    jobs = args.jobs.split(",")
    results: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    hashes: dict[tuple[str, str], list[dict[str, str]]] = defaultdict(list)
    print(
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; sides: "
        + ", ".join(f"{k} {v}" for k, v in sides.items())
        + f"; {args.workers} workers; {os.cpu_count()} CPUs"
    )
    with tempfile.TemporaryDirectory() as work:
        tracer = Path(work) / "tracer"
        tracer.mkdir()
        (tracer / "sitecustomize.py").write_text(TRACER)
        for round_ in range(1, args.rounds + 1):
            order = list(sides) if round_ % 2 else list(reversed(sides))  # alternate who goes first
            for job in jobs:
                for side in order:
                    name = f"{side}-{job}-{round_}"
                    out, trace = Path(work) / name, Path(work) / f"{name}.trace"
                    run = run_job(sides[side], job, out, trace, tracer, args.workers)
                    figures = analyse(run)
                    results[side, job].append(figures)
                    hashes[side, job].append(outputs(out))
                    print(f"\n=== round {round_}, {job}, {side}")
                    if args.tables:
                        print(run["table"])
                    show(side, job, figures)
    print("\nmedians:")
    for job in jobs:
        for side in sides:
            runs = results[side, job]
            wall = statistics.median(r["wall"] for r in runs)
            cpu = statistics.median(r["cpu"] for r in runs)
            outside = statistics.median(r["outside_passes"] for r in runs)
            print(f"  {job:<7}{side:<9} wall {wall:6.2f} s  CPU {cpu:6.2f} s  driver outside passes "
                  f"{outside:5.2f} s   (runs: {', '.join(format(r['wall'], '.2f') for r in runs)})")  # fmt: skip
        every = [h for side in sides for h in hashes[side, job]]
        same = all(h == every[0] for h in every)
        print(f"  {job}: {len(every[0])} output files (Parquet, token shards, tokenizer.json); "
              f"{'identical bytes in every run' if same else 'OUTPUTS DIFFER'}")  # fmt: skip


if __name__ == "__main__":
    main()

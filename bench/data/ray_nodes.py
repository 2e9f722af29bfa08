#!/usr/bin/env python3
"""Ray's overhead per input file on a real 1-node and 2-node cluster of this machine, against the local executor.

    python bench/data/ray_nodes.py [--files 40] [--pages 20] [--rounds 2] [--inputs 'path/*.warc.gz']

The same pipeline (pipelines/fineweb.yaml's steps up to its first corpus step, `removed: false`) on the same
inputs (--files small WARCs of --pages distinct English pages each, made with webcorpus.testing.sample_warc,
or the WARCs --inputs names) runs in four configurations:

    local-1   the local executor, 1 worker process
    ray-1     a Ray cluster: a head with 0 CPUs and 1 worker node of 1 CPU
    local-2   the local executor, 2 worker processes
    ray-2     a Ray cluster: a head with 0 CPUs and 2 worker nodes of 1 CPU each

Each cluster is started once (`ray start --block` per node, each node with its own ports and temp folder, on
127.0.0.1) and killed at the end; the time to start and stop it is printed, not counted. The driver is this
process: it connects to a cluster before a run (not counted) and times only `run_pipeline`, so a run's wall
seconds hold what Ray adds per task (scheduling, shipping the plan, building the steps in a new worker,
results), not the connection. Every round runs the four configurations, in an order that turns by one each
round; --rounds is at least 2. Printed: each run's wall seconds; then per configuration the mean, and for
ray-N the overhead per input file, (ray-N - local-N) / files, in milliseconds.
"""

from __future__ import annotations

import argparse
import glob
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
RAY = Path(sys.executable).with_name("ray")
CORPUS_STEPS_FROM = "minhash_dedup"  # fineweb.yaml's first corpus step


def make_inputs(folder: Path, files: int, pages: int) -> list[str]:
    sys.path.insert(0, str(REPO / "tests"))
    from conftest import many_pages

    from webcorpus.testing.sample_warc import write_warc

    for i in range(files):
        write_warc(folder / f"part-{i:04d}.warc.gz", many_pages(pages, start=i * pages))
    return sorted(str(p) for p in folder.glob("*.warc.gz"))


def first_stage(inputs: list[str], output: Path):
    from webcorpus.pipeline.config import load_pipeline

    config = load_pipeline(REPO / "pipelines" / "fineweb.yaml")
    names = [step.name for step in config.steps]
    config.steps = config.steps[: names.index(CORPUS_STEPS_FROM)]
    config.input, config.output, config.removed = inputs, str(output), False
    return config


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=40, help="small WARC files to make (default 40)")
    parser.add_argument("--pages", type=int, default=20, help="pages in each made WARC file (default 20)")
    parser.add_argument("--inputs", help="a glob of WARC files to use instead of making them")
    parser.add_argument("--rounds", type=int, default=2, help="rounds of the four configurations (at least 2)")
    args = parser.parse_args()
    os.environ["RAY_AUTH_MODE"] = "token"  # a cluster of `ray start` wants its token from the driver
    import ray

    from webcorpus.pipeline.executors import LocalExecutor, RayExecutor
    from webcorpus.pipeline.runner import run_pipeline
    from webcorpus.testing.ray_cluster import RayCluster

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        if args.inputs:
            inputs = sorted(glob.glob(args.inputs))
            if not inputs:
                sys.exit(f"--inputs {args.inputs}: no file")
        else:
            (work / "warcs").mkdir()
            inputs = make_inputs(work / "warcs", args.files, args.pages)
        files = len(inputs)
        clusters = {}
        try:
            for nodes in (1, 2):
                started = time.perf_counter()
                clusters[nodes] = RayCluster(dict(os.environ), head_cpus=0)
                clusters[nodes].add_workers({f"worker{i}": work / f"scratch-{nodes}-{i}" for i in range(nodes)})
                print(f"ray-{nodes}: cluster of a head and {nodes} node(s) started in "
                      f"{time.perf_counter() - started:.1f} s", flush=True)  # fmt: skip
            configurations = ["local-1", "ray-1", "local-2", "ray-2"]
            seconds: dict[str, list[float]] = {name: [] for name in configurations}
            documents = None
            for round_number in range(1, max(2, args.rounds) + 1):
                turn = (round_number - 1) % len(configurations)
                for name in configurations[turn:] + configurations[:turn]:
                    kind, workers = name.split("-")
                    if kind == "ray":  # connected here (quietly), so the executor only uses the connection
                        ray.init(address=clusters[int(workers)].address, logging_level="ERROR", log_to_driver=False)
                        executor = RayExecutor(int(workers), clusters[int(workers)].address)
                    else:
                        executor = LocalExecutor(int(workers))
                    config = first_stage(inputs, work / f"out-{name}-{round_number}")
                    try:
                        started = time.perf_counter()
                        result = run_pipeline(config, workers=int(workers), progress=False, executor=executor)
                        elapsed = time.perf_counter() - started
                    finally:
                        executor.close()
                        if ray.is_initialized():
                            ray.shutdown()
                    documents = result.steps[0].stats.documents_in
                    seconds[name].append(elapsed)
                    print(f"round {round_number} {name:<8} {elapsed:7.2f} s", flush=True)
        finally:
            for nodes, cluster in clusters.items():
                stopping = time.perf_counter()
                cluster.close()
                print(f"ray-{nodes}: cluster stopped in {time.perf_counter() - stopping:.2f} s")
    print(f"\n{files} input files, {documents} pages, {len(seconds['ray-1'])} runs per configuration (mean):")
    for name in configurations:
        mean = sum(seconds[name]) / len(seconds[name])
        line = f"  {name:<8} {mean:7.2f} s"
        if name.startswith("ray"):
            local = sum(seconds[name.replace("ray", "local")]) / len(seconds[name])
            line += f"   (ray - local) / files = {(mean - local) / files * 1000:+7.1f} ms per file"
        print(line)


if __name__ == "__main__":
    main()

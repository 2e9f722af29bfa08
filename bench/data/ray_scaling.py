"""FineWeb's first stage on the Ray executor against the local one, on 1 and 2 workers of this machine.

    python bench/data/ray_scaling.py [--rounds 2] [WARC ...]

The steps of pipelines/fineweb.yaml up to the first corpus step, on the shared development WARCs, with
`removed: false`. For each worker count the two executors take turns, --rounds times; Ray runs on a local
Ray started once per worker count with that many CPUs, so its start-up is not counted, only what it adds
per file (scheduling, shipping the plan, building the steps in each worker). Prints pages/s and the ratio.
"""

from __future__ import annotations

import argparse
import glob
import sys
import tempfile
import time
from pathlib import Path

from webcorpus.pipeline.config import load_pipeline
from webcorpus.pipeline.executors import LocalExecutor, RayExecutor
from webcorpus.pipeline.runner import run_pipeline

REPO = Path(__file__).resolve().parents[2]


def first_stage(warcs: list[str], output: Path):
    config = load_pipeline(REPO / "pipelines" / "fineweb.yaml")
    roles = [step.role for step in config.steps]
    config.steps = config.steps[: roles.index("corpus")]
    config.input, config.output, config.removed = warcs, str(output), False
    return config


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "warcs", nargs="*", default=sorted(glob.glob(str(REPO.parent / "shared/data/warc/dev-*.warc.gz")))
    )
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    if not args.warcs:
        sys.exit("no input: ../shared/data/warc/dev-*.warc.gz is absent; pass WARC files")
    with tempfile.TemporaryDirectory() as tmp:
        for workers in (1, 2):
            ray = RayExecutor(workers)
            try:
                for round_number in range(1, args.rounds + 1):
                    rates = {}
                    for name, executor in (("local", LocalExecutor(workers)), ("ray", ray)):
                        config = first_stage(args.warcs, Path(tmp) / f"{name}-{workers}-{round_number}")
                        start = time.perf_counter()
                        result = run_pipeline(config, workers=workers, progress=False, executor=executor)
                        seconds = time.perf_counter() - start
                        rates[name] = result.steps[0].stats.documents_in / seconds
                    print(
                        f"{workers} worker(s), round {round_number}: local {rates['local']:.1f} pages/s, "
                        f"ray {rates['ray']:.1f} pages/s, ray/local {rates['ray'] / rates['local']:.3f}",
                        flush=True,
                    )
            finally:
                ray.close()


if __name__ == "__main__":
    main()

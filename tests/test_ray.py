"""The Ray executor on a real Ray cluster (started by the run, or by `ray start --head` on 127.0.0.1)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import REPO, many_pages

pytest.importorskip("ray")

from webcorpus.testing.sample_warc import write_warc  # noqa: E402

CLI = [sys.executable, "-m", "webcorpus.cli"]
RAY = Path(sys.executable).with_name("ray")


def outputs(run: Path) -> dict[Path, bytes]:
    """Every Parquet, token shard, index and tokenizer file of a run folder."""
    suffixes = {".parquet", ".bin", ".idx"}
    found = [p for p in run.rglob("*") if p.is_file() and (p.suffix in suffixes or p.name == "tokenizer.json")]
    return {p.relative_to(run): p.read_bytes() for p in sorted(found) if not p.name.startswith(".")}


def webcorpus(*args, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *map(str, args)], capture_output=True, text=True, **kwargs)


def test_ray_gives_the_local_executor_s_output_byte_for_byte(tmp_path):
    job = REPO / "pipelines" / "fineweb.yaml"
    local = webcorpus("run", job, "-o", tmp_path / "local", "-w", "2", "--no-progress")
    assert local.returncode == 0, local.stderr
    # No address and no RAY_ADDRESS: the run starts a local Ray and stops it.
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    ray = webcorpus("run", job, "-o", tmp_path / "ray", "-w", "2", "--executor", "ray", "--no-progress", env=env)
    assert ray.returncode == 0, ray.stderr
    expected = outputs(tmp_path / "local")
    assert len([p for p in expected if p.suffix == ".parquet"]) >= 6 and any(p.suffix == ".bin" for p in expected)
    assert outputs(tmp_path / "ray") == expected
    summary = json.loads((tmp_path / "ray" / "stats.json").read_text())
    assert [s["kept"] for s in summary["steps"]] == [
        s["kept"] for s in json.loads((tmp_path / "local" / "stats.json").read_text())["steps"]
    ]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """A real one-node Ray cluster on 127.0.0.1, as `ray start --head` makes it."""
    temp = tmp_path_factory.mktemp("ray")
    port = 6390 + os.getpid() % 500
    started = subprocess.run(
        [RAY, "start", "--head", "--node-ip-address", "127.0.0.1", "--port", str(port), "--num-cpus", "2",
         "--include-dashboard", "false", "--temp-dir", str(temp), "--disable-usage-stats"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert started.returncode == 0, started.stderr[-2000:]
    yield f"127.0.0.1:{port}"
    subprocess.run([RAY, "stop", "--force"], capture_output=True)


# A cluster started by `ray start` requires its token (in ~/.ray/auth_token) from every driver.
TOKEN = {**os.environ, "RAY_AUTH_MODE": "token"}


def ray_task_processes() -> list[int]:
    """Ray worker processes running one of our document tasks (Ray titles a busy worker ray::FUNCTION)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "cmdline").read_bytes().startswith(b"ray::run_document_task"):
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


@pytest.fixture(scope="module")
def warcs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("warcs")
    for i in range(6):
        write_warc(folder / f"part-{i}.warc.gz", many_pages(120, start=i * 120))
    job = folder / "job.yaml"
    job.write_text(
        f"input: {folder}/*.warc.gz\n"
        "steps:\n  - read_warc\n  - url_filter\n  - extract\n  - langid: {languages: [en]}\n"
        "  - gopher_quality\n  - write_parquet: {rows_per_shard: 25}\n  - minhash_dedup\n"
    )
    reference = folder / "reference"
    done = webcorpus("run", job, "-o", reference, "-w", "2", "--no-progress")
    assert done.returncode == 0, done.stderr
    return job, outputs(reference)


def on_cluster(job: Path, out: Path, cluster: str, **popen) -> subprocess.Popen:
    """`webcorpus run JOB` on the test cluster, in the background."""
    command = [*CLI, "run", job, "-o", out, "--executor", "ray", "--ray-address", cluster, "--no-progress"]
    return subprocess.Popen(command, env=TOKEN, **popen)


def test_a_killed_ray_worker_is_retried_and_the_output_is_unchanged(cluster, warcs, tmp_path):
    job, expected = warcs
    out = tmp_path / "out"
    run = on_cluster(job, out, cluster, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    killed = None
    while run.poll() is None and killed is None:  # wait for a state (a task running), not a duration
        busy = ray_task_processes()
        if busy:
            os.kill(busy[0], signal.SIGKILL)
            killed = busy[0]
        time.sleep(0.01)
    stdout, stderr = run.communicate(timeout=600)
    assert killed is not None, "every task finished before one could be killed"
    assert run.returncode == 0, stderr[-3000:]
    assert outputs(out) == expected
    assert len(list((out / ".progress").glob("*.json"))) == 6


def test_a_killed_driver_resumes_from_the_markers(cluster, warcs, tmp_path):
    job, expected = warcs
    out = tmp_path / "out"
    run = on_cluster(job, out, cluster, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    while run.poll() is None and not list((out / ".progress").glob("*.json")):
        time.sleep(0.01)
    os.killpg(run.pid, signal.SIGKILL)
    run.wait()
    assert run.returncode == -signal.SIGKILL, "the run finished before its driver could be killed"
    again = webcorpus("run", job, "-o", out, "--executor", "ray", "--ray-address", cluster, "--no-progress", env=TOKEN)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "already done" in again.stdout and "(0 already done)" not in again.stdout
    assert outputs(out) == expected


def test_the_extraction_time_bound_holds_inside_ray_workers():
    import ray

    def compute_under_a_limit() -> str:  # defined here, so Ray ships it by value to the worker
        from webcorpus.stages.timelimit import TimeLimitExceeded, time_limit

        try:
            with time_limit(0.05):  # CPU time: the block computes, as extraction does
                until = time.monotonic() + 5
                while time.monotonic() < until:
                    pass
        except TimeLimitExceeded:
            return "stopped"
        return "ran to the end"

    ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False)
    try:
        assert ray.get(ray.remote(compute_under_a_limit).remote()) == "stopped"
    finally:
        ray.shutdown()

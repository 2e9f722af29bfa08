"""The Ray executor on a real Ray cluster (started by the run, or by `ray start --head` on 127.0.0.1)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from conftest import REPO, many_pages

pytest.importorskip("ray")

from webcorpus.testing.ray_cluster import RayCluster  # noqa: E402
from webcorpus.testing.s3 import bucket_filesystem, moto_server  # noqa: E402
from webcorpus.testing.sample_warc import write_warc  # noqa: E402

CLI = [sys.executable, "-m", "webcorpus.cli"]
RAY = Path(sys.executable).with_name("ray")


def is_output(relative: str) -> bool:
    """A Parquet shard, token shard, index, tokenizer, or file of removed documents (not a marker)."""
    parts = relative.split("/")
    if any(part.startswith(".") for part in parts):
        return False
    removed = "removed" in parts[:-1] and relative.endswith(".jsonl.gz")
    return removed or relative.endswith((".parquet", ".bin", ".idx")) or parts[-1] == "tokenizer.json"


def outputs(run: Path) -> dict[str, bytes]:
    """Every output file of a local run folder (is_output), by its path in the folder."""
    found = sorted(p.relative_to(run).as_posix() for p in run.rglob("*") if p.is_file())
    return {relative: (run / relative).read_bytes() for relative in found if is_output(relative)}


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
    assert len([p for p in expected if p.endswith(".parquet")]) >= 6 and any(p.endswith(".bin") for p in expected)
    assert outputs(tmp_path / "ray") == expected
    summary = json.loads((tmp_path / "ray" / "stats.json").read_text())
    assert [s["kept"] for s in summary["steps"]] == [
        s["kept"] for s in json.loads((tmp_path / "local" / "stats.json").read_text())["steps"]
    ]


@pytest.fixture(scope="module")
def cluster():
    """A real one-node Ray cluster on 127.0.0.1, as `ray start --head` makes it (2 CPUs)."""
    ray = RayCluster(TOKEN, head_cpus=2)
    yield ray
    ray.close()


# A cluster started by `ray start` requires its token (in ~/.ray/auth_token) from every driver.
TOKEN = {**os.environ, "RAY_AUTH_MODE": "token"}


def ray_task_processes(cluster: RayCluster) -> list[int]:
    """The cluster's Ray worker processes running one of our document tasks."""
    return [pid for pid, title in cluster.busy("head") if title == "run_document_task"]


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
        "  - train_tokenizer: {vocab_size: 1024}\n  - tokenize\n"
    )
    reference = folder / "reference"
    done = webcorpus("run", job, "-o", reference, "-w", "2", "--no-progress")
    assert done.returncode == 0, done.stderr
    return job, outputs(reference)


def on_cluster(job: Path, out: Path | str, cluster: RayCluster | str, **popen) -> subprocess.Popen:
    """`webcorpus run JOB` on the test cluster, in the background."""
    command = [*CLI, "run", job, "-o", out, "--executor", "ray", "--ray-address", str(cluster), "--no-progress"]
    return subprocess.Popen(command, env=TOKEN, **popen)


def test_a_killed_ray_worker_is_retried_and_the_output_is_unchanged(cluster, warcs, tmp_path):
    job, expected = warcs
    out = tmp_path / "out"
    run = on_cluster(job, out, cluster, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    killed = None
    while run.poll() is None and killed is None:  # wait for a state (a task running), not a duration
        busy = ray_task_processes(cluster)
        if busy:
            os.kill(busy[0], signal.SIGKILL)
            killed = busy[0]
        time.sleep(0.01)
    stdout, stderr = run.communicate(timeout=600)
    assert killed is not None, "every task finished before one could be killed"
    assert run.returncode == 0, stderr[-3000:]
    assert outputs(out) == expected
    assert len(list((out / ".progress").glob("*.json"))) == 6
    assert any(p.startswith("minhash_dedup/removed/") for p in expected) and any(p.endswith(".bin") for p in expected)


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


# --- Two worker nodes (1 CPU each) and a head that runs no task, each node with its own scratch root ---

WORKERS = ("w1", "w2")


@pytest.fixture(scope="module")
def s3_server():
    """moto's S3 server on 127.0.0.1; the environment that reaches it."""
    pytest.importorskip("s3fs")
    with moto_server() as env:
        yield env


def bucket_fs(s3_env: dict):
    return bucket_filesystem(s3_env)


@pytest.fixture(scope="module")
def two_nodes(tmp_path_factory, s3_server):
    """Head (0 CPUs, where the driver connects) and worker nodes w1 and w2 (1 CPU each), every node with the
    S3 server's environment and its own WEBCORPUS_SCRATCH (created by whoever uses it, not here)."""
    root = tmp_path_factory.mktemp("nodes")
    # The driver's own scratch root too: a node never sees it (nor the driver a node's).
    cluster = RayCluster({**TOKEN, **s3_server, "WEBCORPUS_SCRATCH": str(root / "scratch-driver")})
    cluster.scratch["driver"] = root / "scratch-driver"
    cluster.add_workers({name: root / f"scratch-{name}" for name in WORKERS})
    yield cluster
    cluster.close()


@pytest.fixture()
def nodes(two_nodes):
    """The two-node cluster with both workers up (a node an earlier test killed joins again, as a new node
    with the same scratch root), and both scratch roots absent."""
    two_nodes.add_workers({name: two_nodes.scratch[name] for name in WORKERS if not two_nodes.alive(name)})
    for scratch in two_nodes.scratch.values():
        shutil.rmtree(scratch, ignore_errors=True)
    return two_nodes


class RunFolder:
    """A run folder in tmp_path ("local") or on the S3 server ("s3": a new bucket, inputs there too)."""

    def __init__(self, kind: str, tmp_path: Path, s3_env: dict, warc_folder: Path) -> None:
        self.kind, self.fs = kind, None
        if kind == "local":
            self.url, self.inputs = str(tmp_path / "run"), []
            return
        self.fs = bucket_fs(s3_env)
        bucket = "run-" + hashlib.sha256(str(tmp_path).encode()).hexdigest()[:16]
        self.fs.mkdir(bucket)
        for warc in sorted(warc_folder.glob("*.warc.gz")):
            self.fs.put(str(warc), f"{bucket}/warcs/{warc.name}")
        self.url, self.inputs = f"s3://{bucket}/run", ["--input", f"s3://{bucket}/warcs/*.warc.gz"]

    def files(self) -> list[str]:
        if self.fs is None:
            run = Path(self.url)
            return sorted(p.relative_to(run).as_posix() for p in run.rglob("*") if p.is_file())
        prefix = self.url.removeprefix("s3://") + "/"
        return sorted(key.removeprefix(prefix) for key in self.fs.find(prefix))

    def outputs(self) -> dict[str, bytes]:
        if self.fs is None:
            return outputs(Path(self.url))
        return {key: self.fs.cat(f"{self.url}/{key}") for key in self.files() if is_output(key)}

    def markers(self) -> list[str]:
        """The first pass's task markers written so far."""
        if self.fs is None:
            return [p.name for p in (Path(self.url) / ".progress").glob("*.json")]
        try:
            return [key.rsplit("/", 1)[-1] for key in self.fs.ls(f"{self.url}/.progress", refresh=True)]
        except FileNotFoundError:
            return []


@pytest.fixture(params=["local", "s3"])
def folder(request, tmp_path, s3_server, warcs):
    job, _ = warcs
    return RunFolder(request.param, tmp_path, s3_server, job.parent)


def holds_something(folder: Path) -> bool:
    try:
        return any(folder.iterdir())
    except OSError:  # absent, or removed while listed
        return False


def run_on_nodes(cluster: RayCluster, folder: RunFolder, job: Path, kill_when=None) -> tuple[set, tuple | None]:
    """`webcorpus run JOB -o FOLDER` on the two-node cluster, its state polled until it ends: which worker
    nodes' scratch roots held something, and, once `kill_when(cluster, folder)` gives (a node, the functions
    it is running), that node killed whole and its scratch root deleted with it. Returns (the nodes whose
    scratch was seen in use, what kill_when gave or None)."""
    command = [*CLI, "run", job, "-o", folder.url, *folder.inputs, "--executor", "ray", "--ray-address",
               cluster.address, "--no-progress"]  # fmt: skip
    run = subprocess.Popen(list(map(str, command)), env=cluster.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True)  # fmt: skip
    used, killed = set(), None
    try:
        while run.poll() is None:
            # A node's scratch root is made by the first remote write there (run_folder.scratch_root).
            used |= {name for name in WORKERS if cluster.scratch[name].exists()}
            if kill_when is not None and killed is None:
                killed = kill_when(cluster, folder)
                if killed:
                    cluster.kill(killed[0])
                    shutil.rmtree(cluster.scratch[killed[0]], ignore_errors=True)
            time.sleep(0.01)
        _, stderr = run.communicate(timeout=300)
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
    assert run.returncode == 0, stderr[-3000:]
    return used, killed


def tasks_on(cluster: RayCluster, before: dict[str, Counter], function: str = "run_document_task") -> dict[str, int]:
    """How many `function` tasks started on each worker node since `before` (tasks_ran of each)."""
    return {name: cluster.tasks_ran(name)[function] - before[name][function] for name in WORKERS}


def check_scratch(cluster: RayCluster, folder: RunFolder, used: set, alive: tuple[str, ...] = WORKERS) -> None:
    """What a run folder on object storage promises of scratch: each surviving node's scratch root was made
    during the run (its tasks wrote their files there before putting them) and is empty after it; the
    driver's holds nothing either."""
    if folder.kind != "s3":
        return
    for name in alive:
        assert name in used, f"{name}: no task used its scratch root {cluster.scratch[name]}"
        assert cluster.scratch[name].is_dir() and not holds_something(cluster.scratch[name]), name
    assert not holds_something(cluster.scratch["driver"]), "the driver left files in its scratch root"


def test_two_nodes_share_the_tasks_and_give_the_local_output(nodes, folder, warcs):
    job, expected = warcs
    before = {name: nodes.tasks_ran(name) for name in WORKERS}
    used, _ = run_on_nodes(nodes, folder, job)
    assert folder.outputs() == expected
    placed = tasks_on(nodes, before)
    assert sum(placed.values()) == 6 and all(placed.values()), placed  # each node ran some of the 6 files
    check_scratch(nodes, folder, used)


def first_pass_task_after_a_marker(cluster: RayCluster, folder: RunFolder) -> tuple[str, list[str]] | None:
    """w1, once it is in the middle of a document task and some task's marker is in the run folder."""
    busy = [function for _, function in cluster.busy("w1")]
    if "run_document_task" in busy and folder.markers():
        return "w1", busy
    return None


# On the bucket only: a killed node's files on a shared disk is the easier case, and the suite's time is short.
@pytest.mark.parametrize("folder", ["s3"], indirect=True)
def test_a_node_killed_in_the_first_pass_is_replaced_by_the_other(nodes, folder, warcs):
    job, expected = warcs
    before = {name: nodes.tasks_ran(name) for name in WORKERS}
    used, killed = run_on_nodes(nodes, folder, job, kill_when=first_pass_task_after_a_marker)
    assert killed is not None, "the run finished before w1 could be killed"
    assert folder.outputs() == expected
    assert len(folder.markers()) == 6
    placed = tasks_on(nodes, before)
    assert sum(placed.values()) >= 7, placed  # the lost task started again, on w2
    check_scratch(nodes, folder, used, alive=("w2",))


def in_a_corpus_unit(cluster: RayCluster, folder: RunFolder) -> tuple[str, list[str]] | None:
    """w1, once it runs a unit of minhash_dedup (the first corpus step: signatures, buckets...), before that
    step has finished (it writes dedup_stats.json last)."""
    busy = [function for _, function in cluster.busy("w1")]
    if "run_timed" in busy and "minhash_dedup/dedup_stats.json" not in folder.files():
        return "w1", busy
    return None


# On the bucket only: a killed node's files on a shared disk is the easier case, and the suite's time is short.
@pytest.mark.parametrize("folder", ["s3"], indirect=True)
def test_a_node_killed_in_minhash_dedup_is_replaced_by_the_other(nodes, folder, warcs):
    job, expected = warcs
    before = {name: nodes.tasks_ran(name) for name in WORKERS}
    used, killed = run_on_nodes(nodes, folder, job, kill_when=in_a_corpus_unit)
    assert killed is not None, "the run finished before w1 could be killed"
    assert "run_timed" in killed[1], killed  # every corpus unit runs as run_timed(run_unit, ...) (executors.py)
    assert folder.outputs() == expected
    assert all(tasks_on(nodes, before).values())  # both nodes ran document tasks before the kill
    check_scratch(nodes, folder, used, alive=("w2",))

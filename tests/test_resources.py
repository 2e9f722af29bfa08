"""Steps declare resources and batches: where the planner cuts passes, how executors size and place them, and
that a batched filter writes exactly what the same filter writes one document at a time.

The filters here are test-only steps, put into the registry for one test at a time (`registered`), so no
other test (nor docs/steps.md) ever sees them.
"""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path

import pytest
from conftest import REPO, many_pages

from webcorpus.document import Document
from webcorpus.pipeline import registry
from webcorpus.pipeline.config import load_pipeline
from webcorpus.pipeline.executors import LocalExecutor
from webcorpus.pipeline.plan import CorpusPass, DocumentPass, plan, visible_gpus
from webcorpus.pipeline.run_folder import Folder
from webcorpus.pipeline.runner import run_pipeline
from webcorpus.pipeline.step import Filter, Resources
from webcorpus.testing.sample_warc import write_warc

# Each filter_batch call of BatchedTail, in order: how many documents it was given.
BATCH_CALLS: list[int] = []


class Tail(Filter):
    """Drops every `drop_every`-th page (by the number its URL ends in) and cuts the text of the others to
    `max_chars`, so drops, reasons and rewritten lengths all show in the stats."""

    name = "test_tail"
    summary = "test only"
    option_help = {"drop_every": "Drop pages whose number divides by this.", "max_chars": "Keep this many."}

    def __init__(self, drop_every: int = 3, max_chars: int = 500) -> None:
        super().__init__()
        self.drop_every, self.max_chars = drop_every, max_chars

    def filter(self, document: Document) -> str | None:
        number = int(document.url.rsplit("/", 1)[1])
        if number % self.drop_every == 0:
            return "every_nth" if number % 2 else "every_nth_even"
        document.text = document.text[: self.max_chars]
        return None

    def filter_batch(self, documents: list[Document]) -> list[str | None]:
        BATCH_CALLS.append(-len(documents))  # never called with batch_size 1 (the per-document path)
        return super().filter_batch(documents)


class BatchedTail(Tail):
    name = "test_tail_batched"
    batch_size = 4

    def filter_batch(self, documents: list[Document]) -> list[str | None]:
        BATCH_CALLS.append(len(documents))
        # Its own verdicts over the whole list at once, as a model step would compute them.
        numbers = [int(d.url.rsplit("/", 1)[1]) for d in documents]
        reasons: list[str | None] = []
        for document, number in zip(documents, numbers):
            if number % self.drop_every == 0:
                reasons.append("every_nth" if number % 2 else "every_nth_even")
            else:
                document.text = document.text[: self.max_chars]
                reasons.append(None)
        return reasons


class GpuTail(Tail):
    name = "test_gpu"
    resources = Resources(gpus=1)

    def filter(self, document: Document) -> str | None:
        # Where this document ran: each worker process must see only its own GPU.
        document.metadata["worker"] = [os.getpid(), os.environ.get("CUDA_VISIBLE_DEVICES")]
        return super().filter(document)


class GpuTail2(GpuTail):
    name = "test_gpu_2"


class MemoryTail(Tail):
    name = "test_memory"
    resources = Resources(memory_gb=2)


class MemoryTail2(MemoryTail):
    name = "test_memory_2"


class TwoCpuTail(Tail):
    name = "test_two_cpus"
    resources = Resources(cpus=2)


class PidTail(Tail):
    """Tail that writes down the worker process it ran in."""

    name = "test_pid"

    def filter(self, document: Document) -> str | None:
        document.metadata["worker"] = os.getpid()
        return super().filter(document)


class PidMemoryTail(MemoryTail):
    name = "test_pid_memory"

    def filter(self, document: Document) -> str | None:
        document.metadata["worker_2"] = os.getpid()
        return super().filter(document)


TEST_STEPS = [Tail, BatchedTail, GpuTail, GpuTail2, MemoryTail, MemoryTail2, TwoCpuTail, PidTail, PidMemoryTail]


@pytest.fixture
def registered(monkeypatch):
    """The test steps in the registry for this test only (monkeypatch puts STEPS back afterwards)."""
    for cls in TEST_STEPS:
        monkeypatch.setitem(registry.STEPS, cls.name, f"{__name__}:{cls.__name__}")
    BATCH_CALLS.clear()


def pipeline(tmp_path: Path, steps: list[str], name: str = "pipeline.yaml", inputs: str = "in/*.warc") -> Path:
    path = tmp_path / name
    lines = [f"input: {tmp_path / inputs}", f"output: {tmp_path / 'out'}", "removed: true", "steps:"]
    path.write_text("\n".join(lines + [f"  - {step}" for step in steps]) + "\n")
    return path


def document_passes(config_path: Path) -> list[DocumentPass | CorpusPass]:
    return plan(load_pipeline(config_path), Folder("/run"))[1]


def summary_of(unit: DocumentPass | CorpusPass) -> tuple:
    if isinstance(unit, CorpusPass):
        return ("corpus", unit.step.name)
    return (unit.output.url(unit.root), [(s.name, s.folder, s.implicit) for s in unit.steps], unit.resources)


# ---- planning ------------------------------------------------------------------------------------------


def test_the_plan_cuts_a_pass_exactly_where_resources_change(registered, tmp_path):
    steps = ["read_warc", "url_filter", "test_tail", "test_gpu", "test_gpu_2", "test_tail_batched",
             "write_parquet: {rows_per_shard: 10}"]  # fmt: skip
    passes = document_passes(pipeline(tmp_path, steps))
    gpu, default = Resources(gpus=1), Resources()
    assert [summary_of(p) for p in passes] == [
        ("/run", [("read_warc", "read_warc", False), ("url_filter", "url_filter", False),
                  ("test_tail", "test_tail", False), ("write_parquet", "test_tail_write_parquet", True)], default),
        ("/run/test_gpu", [("read_parquet", "test_gpu_read_parquet", True), ("test_gpu", "test_gpu", False),
                           ("test_gpu_2", "test_gpu_2", False), ("write_parquet", "test_gpu_2_write_parquet", True)],
         gpu),
        ("/run/test_tail_batched", [("read_parquet", "test_tail_batched_read_parquet", True),
                                    ("test_tail_batched", "test_tail_batched", False),
                                    ("write_parquet", "write_parquet", False)], default),
    ]  # fmt: skip
    assert passes[2].steps[-1].options == {"rows_per_shard": 10}  # the YAML's writer ends the last pass
    assert len({p.fingerprint for p in passes}) == 3


def test_no_cut_between_filters_that_need_the_same_resources_nor_after_the_reader(registered, tmp_path):
    # The reader goes with the filters after it: a GPU filter right after it makes one GPU pass.
    passes = document_passes(pipeline(tmp_path, ["read_warc", "test_gpu", "test_gpu_2", "write_parquet"]))
    assert [summary_of(p)[1:] for p in passes] == [
        ([("read_warc", "read_warc", False), ("test_gpu", "test_gpu", False), ("test_gpu_2", "test_gpu_2", False),
          ("write_parquet", "write_parquet", False)], Resources(gpus=1)),
    ]  # fmt: skip
    passes = document_passes(pipeline(tmp_path, ["read_warc", "test_memory", "test_memory_2", "minhash_dedup"]))
    assert [type(p).__name__ for p in passes] == ["DocumentPass", "CorpusPass"]
    assert passes[0].resources == Resources(memory_gb=2)
    # Default-resource filters around a differing one: three passes, one cut on each side of it.
    steps = ["read_warc", "test_tail", "test_two_cpus", "test_tail_batched", "minhash_dedup", "pii"]
    passes = document_passes(pipeline(tmp_path, steps))
    assert [summary_of(p)[0] if isinstance(p, DocumentPass) else "corpus" for p in passes] == [
        "/run", "/run/test_two_cpus", "/run/test_tail_batched", "corpus", "/run/pii"
    ]  # fmt: skip
    assert [p.resources.cpus for p in passes if isinstance(p, DocumentPass)] == [1, 2, 1, 1]


# Computed with the planner as it was before resources existed (commit 1294fdd): a run folder made then
# must resume now, so the passes, their folders and fingerprints may not change.
FINEWEB_PLANS = {
    "fineweb.yaml": [
        ("7876d0e672f816f0", "", ["read_warc", "url_filter", "quick_langid", "extract", "langid", "gopher_repetition",
                                  "gopher_quality", "c4_quality", "fineweb_quality", "write_parquet"]),
        ("corpus", "minhash_dedup"),
        ("339fc36df44b8af0", "pii", ["read_parquet", "pii", "write_parquet"]),
        ("corpus", "train_tokenizer"),
        ("corpus", "tokenize"),
    ],
    "fineweb2.yaml": [
        ("87cee1b7181b566f", "", ["read_warc", "url_filter", "extract", "langid", "gopher_repetition",
                                  "fineweb_quality", "gopher_quality", "write_parquet"]),
        ("corpus", "minhash_dedup"),
        ("ce90251c34d926a7", "pii", ["read_parquet", "pii", "write_parquet"]),
        ("corpus", "train_tokenizer"),
        ("corpus", "tokenize"),
    ],
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(FINEWEB_PLANS))
def test_default_resource_pipelines_plan_exactly_as_before(name):
    passes = plan(load_pipeline(REPO / "pipelines" / name), Folder("/run"))[1]
    found = [
        ("corpus", p.step.name)
        if isinstance(p, CorpusPass)
        else (
            p.fingerprint,
            p.root,
            [s.name for s in p.steps],
        )
        for p in passes
    ]
    assert found == FINEWEB_PLANS[name]
    assert all(p.resources == Resources() for p in passes if isinstance(p, DocumentPass))


# ---- batches -------------------------------------------------------------------------------------------


def run_with(tmp_path: Path, folder: str, steps: list[str], workers: int = 1, executor=None) -> Path:
    root = tmp_path / folder
    root.mkdir()
    config = load_pipeline(pipeline(root, steps, inputs="../in/*.warc.gz"))
    run_pipeline(config, workers=workers, progress=False, executor=executor)
    return root / "out"


def write_inputs(tmp_path: Path, files: int = 2, pages: int = 23) -> None:
    (tmp_path / "in").mkdir()
    for i in range(files):  # 23 pages a file: five batches of four and one of three
        write_warc(tmp_path / "in" / f"{i}.warc.gz", many_pages(pages, start=i * pages))


def comparable(out: Path, filter_name: str) -> dict:
    """Everything a run wrote that must not depend on batching, the filter's name taken out."""
    summary = json.loads((out / "stats.json").read_text())
    steps = [
        {k: v for k, v in s.items() if k not in ("time_s", "cpu_s", "startup_s", "wall_s", "step", "output")}
        for s in summary["steps"]
    ]
    removed = {
        p.name: gzip.decompress(p.read_bytes()).replace(f'"{filter_name}:'.encode(), b'"FILTER:')
        for p in sorted((out / "removed" / filter_name).iterdir())
    }
    shards = {p.name: p.read_bytes() for p in sorted((out / "data").glob("*.parquet"))}
    return {"steps": steps, "removed": removed, "shards": shards}


def test_a_batched_filter_writes_and_counts_exactly_what_it_does_one_by_one(registered, tmp_path):
    write_inputs(tmp_path)
    before = ["read_warc", "url_filter"]
    one_by_one = run_with(tmp_path, "one", [*before, "test_tail", "write_parquet"])
    assert BATCH_CALLS == []  # batch_size 1 never goes through filter_batch
    batched = run_with(tmp_path, "batched", [*before, "test_tail_batched", "write_parquet"])
    assert BATCH_CALLS == [4, 4, 4, 4, 4, 3] * 2  # per input file, the last batch short

    expected, found = comparable(one_by_one, "test_tail"), comparable(batched, "test_tail_batched")
    assert found["shards"] and found["shards"] == expected["shards"]  # byte for byte
    assert found["removed"] == expected["removed"]  # the same drops, reasons and order
    assert found["steps"] == expected["steps"]
    tail = found["steps"][2]
    assert tail["documents_in"] == 46 and tail["kept"] == 30
    assert tail["dropped"] == {"every_nth": 8, "every_nth_even": 8}
    assert tail["characters_out"] == 30 * 500 < tail["characters_in"]
    assert set(tail["distributions"]) == {"domain_dropped", "domain_kept", "language_dropped", "language_kept",
                                          "length_in", "length_out"}  # fmt: skip


def test_a_filter_batch_that_loses_a_verdict_fails_the_task(registered, tmp_path, monkeypatch):
    monkeypatch.setattr(BatchedTail, "filter_batch", lambda self, documents: [None] * (len(documents) - 1))
    step = BatchedTail()
    documents = [Document(id=str(i), url=f"https://a.example/{i}", text="x", metadata={}) for i in range(5)]
    with pytest.raises(ValueError, match="test_tail_batched: filter_batch gave 3 verdicts for 4 documents"):
        list(step.run(documents))


def test_a_pass_cut_for_resources_reads_what_the_pass_before_wrote(registered, tmp_path):
    write_inputs(tmp_path)
    one_pass = run_with(tmp_path, "one", ["read_warc", "test_tail", "test_tail_batched: {drop_every: 2}"])
    two_passes = run_with(tmp_path, "two", ["read_warc", "test_tail", "test_memory: {drop_every: 2}"])
    from webcorpus.parquet import read_documents

    expected = [(d.url, d.text) for d in read_documents(one_pass / "data")]
    assert expected and [(d.url, d.text) for d in read_documents(two_passes / "test_memory" / "data")] == expected
    summary = json.loads((two_passes / "stats.json").read_text())
    assert [(s["step"], s["implicit"]) for s in summary["steps"]] == [
        ("read_warc", False), ("test_tail", False), ("write_parquet", True), ("read_parquet", True),
        ("test_memory", False), ("write_parquet", True),
    ]  # fmt: skip


def test_the_passes_of_a_local_run_share_one_pool_of_workers(registered, tmp_path):
    # Two passes (the second needs memory, so the planner cuts there), each with two tasks on two workers:
    # the second pass's tasks run in the processes the first pass started (no new interpreters, imports).
    write_inputs(tmp_path, files=2, pages=6)
    executor = LocalExecutor(2, start_method="fork")  # forked: the workers see the registered test steps
    try:
        out = run_with(tmp_path, "run", ["read_warc", "test_pid", "test_pid_memory: {drop_every: 5}"], workers=2,
                       executor=executor)  # fmt: skip
        assert executor.task_pool is None  # let go once the run's last document pass was done
    finally:
        executor.close()
    from webcorpus.parquet import read_documents

    documents = list(read_documents(out / "test_pid_memory" / "data"))
    first, second = {d.metadata["worker"] for d in documents}, {d.metadata["worker_2"] for d in documents}
    assert documents and os.getpid() not in first | second
    assert len(first | second) <= 2  # two workers in all, not two per pass


# ---- GPUs on the local executor --------------------------------------------------------------------------


def test_visible_gpus_come_from_cuda_visible_devices(monkeypatch):
    for listed, count in [("0,1", 2), ("", 0), ("-1", 0), ("3, 5", 2), ("2,-1,3", 1)]:
        monkeypatch.setenv("CUDA_VISIBLE_DEVICES", listed)
        assert visible_gpus() == count, listed


def test_the_local_worker_count_follows_the_gpus(registered, tmp_path, monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")
    cpu, gpu = document_passes(pipeline(tmp_path, ["read_warc", "test_tail", "test_gpu"]))
    assert cpu.local_workers(16, tasks=100) == 16 and cpu.local_workers(16, tasks=3) == 3  # as before
    assert gpu.local_workers(16, tasks=10) == 2  # one per GPU, never one per CPU worker
    assert gpu.local_workers(16, tasks=1) == 1
    assert gpu.worker_gpus(2) == ["0", "1"]
    (two_cpus,) = document_passes(pipeline(tmp_path, ["read_warc", "test_two_cpus"]))
    assert two_cpus.local_workers(16, tasks=100) == 8
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "4,5,6,7")
    gpu.resources = Resources(gpus=2)
    assert gpu.local_workers(16, tasks=10) == 2 and gpu.worker_gpus(2) == ["4,5", "6,7"]
    gpu.resources = Resources(gpus=0.5)
    assert gpu.local_workers(16, tasks=10) == 8 and gpu.worker_gpus(4) == ["4", "4", "5", "5"]


def test_a_pass_needing_a_gpu_on_a_machine_without_one_fails_before_any_work(registered, tmp_path, monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")  # no GPU, whatever machine runs the test
    write_inputs(tmp_path)
    (tmp_path / "run").mkdir()
    config = load_pipeline(pipeline(tmp_path / "run", ["read_warc", "test_gpu", "write_parquet"], inputs="../in/*"))
    with pytest.raises(ValueError) as failure:
        run_pipeline(config, workers=2, progress=False)
    message = str(failure.value)
    assert "\n" not in message and message.startswith("step 'test_gpu' needs 1 GPU(s) per worker, but this machine")
    out = tmp_path / "run" / "out"
    assert not list(out.glob("data/*")) and not list(out.glob(".progress/*")) and not list(out.glob("removed/*/*"))
    # The same when the GPU pass comes after a CPU pass: checked before the CPU pass starts.
    (tmp_path / "run2").mkdir()
    config = load_pipeline(pipeline(tmp_path / "run2", ["read_warc", "test_tail", "test_gpu"], inputs="../in/*"))
    with pytest.raises(ValueError, match="^step 'test_gpu' needs 1 GPU"):
        run_pipeline(config, workers=1, progress=False)
    assert not (tmp_path / "run2" / "out").exists()


def test_each_local_worker_of_a_gpu_pass_sees_only_its_own_gpu(registered, tmp_path, monkeypatch):
    # No GPU is touched: the test step only records what its worker process was given. Forked workers, so
    # they see the test steps this test registered.
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")
    write_inputs(tmp_path, files=4, pages=5)
    out = run_with(tmp_path, "run", ["read_warc", "test_gpu"], workers=8,
                   executor=LocalExecutor(8, start_method="fork"))  # fmt: skip
    from webcorpus.parquet import read_documents

    workers = {tuple(d.metadata["worker"]) for d in read_documents(out / "data")}
    assert os.getpid() not in {pid for pid, _ in workers}  # ran in a pool, not in this process
    assert len({pid for pid, _ in workers}) <= 2  # two GPUs: two processes, not eight
    devices = {pid: {device for p, device in workers if p == pid} for pid, _ in workers}
    assert all(len(seen) == 1 for seen in devices.values()) and set().union(*devices.values()) <= {"0", "1"}
    assert len({next(iter(seen)) for seen in devices.values()}) == len(devices)  # never two on one GPU
    assert os.environ["CUDA_VISIBLE_DEVICES"] == "0,1"  # this process's own setting untouched


# ---- Ray and a real GPU ------------------------------------------------------------------------------------


def test_ray_is_asked_for_the_pass_resources():
    assert Resources().ray_options() == {"num_cpus": 1}
    assert Resources(cpus=2, gpus=1, memory_gb=1.5).ray_options() == {
        "num_cpus": 2, "num_gpus": 1, "memory": 3 << 29
    }  # fmt: skip
    assert Resources(cpus=0, gpus=0.25).ray_options() == {"num_gpus": 0.25}
    with pytest.raises(ValueError, match="negative"):
        Resources(gpus=-1)


class CudaTail(GpuTail):
    """Puts each kept document's length through its GPU, as a model step would its batch."""

    name = "test_cuda"

    def filter(self, document: Document) -> str | None:
        import torch

        reason = super().filter(document)
        if reason is None:
            document.metadata["length"] = int(torch.tensor([len(document.text)], device="cuda").item())
        return reason


TEST_STEPS.append(CudaTail)


@pytest.mark.gpu
def test_a_gpu_pass_runs_on_the_gpus(registered, tmp_path, monkeypatch):
    # torch counts GPUs through NVML, without starting CUDA in this process, which the forked workers below
    # could then not use.
    monkeypatch.setenv("PYTORCH_NVML_BASED_CUDA_CHECK", "1")
    # Checked here, not at collection: counting GPUs may import torch, which the rest of the file never needs.
    if visible_gpus() == 0:
        pytest.skip("needs a GPU")
    write_inputs(tmp_path, files=4, pages=5)
    # Forked workers see the registered test steps; the parent never touched CUDA (counting GPUs does not).
    out = run_with(tmp_path, "run", ["read_warc", "test_tail", "test_cuda"], workers=2,
                   executor=LocalExecutor(2, start_method="fork"))  # fmt: skip
    from webcorpus.parquet import read_documents

    documents = list(read_documents(out / "test_cuda" / "data"))
    assert len(documents) == 20 - 7  # pages 0..19, every third one dropped
    assert all(d.metadata["length"] == len(d.text) == 500 for d in documents)

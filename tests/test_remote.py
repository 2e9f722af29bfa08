"""Inputs over HTTP (a local server, some of its answers failing) and S3 (moto's S3 server on 127.0.0.1)."""

from __future__ import annotations

import gzip
import json
import os
import socket
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import many_pages

from webcorpus.cli import main
from webcorpus.testing.s3 import bucket_filesystem, moto_server
from webcorpus.testing.sample_warc import write_warc

JOB = """\
input: {input}
output: {output}
workers: 1
steps:
  - read_warc: {reader}
  - extract
  - langid: {{languages: [en]}}
  - write_parquet
"""


def run(tmp_path: Path, name: str, inputs: str, reader: str = "{}", env: dict | None = None) -> Path:
    out = tmp_path / name
    job = tmp_path / f"{name}.yaml"
    job.write_text(JOB.format(input=inputs, output=out, reader=reader))
    old = dict(os.environ)
    os.environ.update(env or {})
    try:
        result = CliRunner().invoke(main, ["run", str(job), "--no-progress"])
    finally:
        os.environ.clear()
        os.environ.update(old)
    assert result.exit_code == 0, result.output
    return out


def shards(out: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((out / "data").glob("*.parquet"))}


@pytest.fixture(scope="module")
def crawl(tmp_path_factory) -> Path:
    """A CommonCrawl-like folder: crawl-data/.../a.warc.gz, b.warc.gz and a warc.paths.gz listing them."""
    root = tmp_path_factory.mktemp("crawl")
    names = []
    for i, name in enumerate(("a", "b")):
        relative = f"crawl-data/CC-TEST/segments/1/warc/{name}.warc.gz"
        write_warc(root / relative, many_pages(12, start=i * 12))
        names.append(relative)
    (root / "warc.paths.gz").write_bytes(gzip.compress(("\n".join(names) + "\n").encode(), mtime=0))
    return root


class FlakyHandler(SimpleHTTPRequestHandler):
    """Serves a folder; the first GET of each file named in `drop_once` is cut off half-way, every GET
    of a file named in `always_fail` answers 503, `loop.warc.gz` redirects to itself, and `stall.warc.gz`
    sends its headers (no Content-Type) and part of its body, then nothing until the test ends."""

    drop_once: set[str] = set()
    always_fail: set[str] = set()
    served: list[str] = []
    release = threading.Event()

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        name = self.path.rsplit("/", 1)[-1]
        self.served.append(name)
        if name in self.always_fail:
            self.send_error(503, "try again later")
            return
        if name == "loop.warc.gz":
            self.send_response(302)
            self.send_header("Location", self.path)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if name == "stall.warc.gz":
            self.send_response(200)
            self.send_header("Content-Length", "100000")
            self.end_headers()
            self.wfile.write(b"\x1f\x8b" + bytes(1000))
            self.wfile.flush()
            self.release.wait()
            return
        if name in self.drop_once:
            self.drop_once.discard(name)
            body = Path(self.translate_path(self.path)).read_bytes()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        super().do_GET()

    def log_message(self, *args) -> None:
        pass


@pytest.fixture()
def http_server(crawl):
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(FlakyHandler, directory=str(crawl)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    FlakyHandler.release.set()
    server.shutdown()
    FlakyHandler.release.clear()
    FlakyHandler.drop_once, FlakyHandler.always_fail, FlakyHandler.served = set(), set(), []


def test_https_paths_list_gives_the_local_output_even_when_reads_fail_on_the_way(tmp_path, crawl, http_server):
    local = run(tmp_path, "local", str(crawl / "warc.paths.gz"))
    assert len(shards(local)) == 2
    # The list on the server, its entries relative to the list's folder there.
    FlakyHandler.drop_once = {"a.warc.gz"}  # the first read of a.warc.gz breaks off half-way
    remote = run(tmp_path, "remote", f"{http_server}/warc.paths.gz")
    assert FlakyHandler.served.count("a.warc.gz") == 2, FlakyHandler.served  # retried once, from where it broke
    assert shards(remote) == shards(local)
    # A local list with a remote paths_base, as with CommonCrawl's https://data.commoncrawl.org/.
    based = run(tmp_path, "based", str(crawl / "warc.paths.gz"), reader=f"{{paths_base: '{http_server}/'}}")
    assert shards(based) == shards(local)


def test_a_file_that_keeps_failing_is_reported_and_the_run_goes_on(tmp_path, crawl, http_server):
    FlakyHandler.always_fail = {"b.warc.gz"}
    out = run(tmp_path, "out", f"{http_server}/warc.paths.gz")
    summary = json.loads((out / "stats.json").read_text())
    assert any("b.warc.gz" in bad and "503" in bad for bad in summary["bad_files"]), summary["bad_files"]
    assert FlakyHandler.served.count("b.warc.gz") == 4  # every attempt
    assert len(shards(out)) == 1  # a.warc.gz's documents are all there


def test_a_url_that_stalls_mid_body_times_out_and_is_one_bad_file(tmp_path, crawl, http_server):
    good = f"{http_server}/crawl-data/CC-TEST/segments/1/warc/a.warc.gz"
    out = run(tmp_path, "out", f"[{http_server}/stall.warc.gz, {good}]", env={"WEBCORPUS_READ_TIMEOUT_S": "0.5"})
    bad = json.loads((out / "stats.json").read_text())["bad_files"]
    assert any("stall.warc.gz" in line and "Timeout" in line for line in bad), bad
    assert len(shards(out)) == 1  # a.warc.gz's documents are all there
    wrong = CliRunner().invoke(main, ["run", str(tmp_path / "out.yaml")], env={"WEBCORPUS_READ_TIMEOUT_S": "0"})
    assert wrong.exit_code == 1 and "WEBCORPUS_READ_TIMEOUT_S: must be a number of seconds above 0" in wrong.output


def test_a_url_that_redirects_to_itself_is_one_bad_file(tmp_path, crawl, http_server):
    good = f"{http_server}/crawl-data/CC-TEST/segments/1/warc/a.warc.gz"
    out = run(tmp_path, "out", f"[{http_server}/loop.warc.gz, {good}]")
    bad = json.loads((out / "stats.json").read_text())["bad_files"]
    assert any("loop.warc.gz" in line and "TooManyRedirects" in line for line in bad), bad
    assert len(shards(out)) == 1


@pytest.fixture(scope="module")
def s3_server():
    pytest.importorskip("s3fs")
    with moto_server() as env:
        yield env


def test_s3_inputs_give_the_local_output(tmp_path, crawl, s3_server):

    fs = bucket_filesystem(s3_server)
    fs.mkdir("commoncrawl")
    fs.put(str(crawl / "crawl-data"), "commoncrawl/crawl-data", recursive=True)
    local = run(tmp_path, "local", f"{crawl}/crawl-data/CC-TEST/segments/1/warc/*.warc.gz")
    remote = run(tmp_path, "remote", "s3://commoncrawl/crawl-data/CC-TEST/segments/1/warc/*.warc.gz", env=s3_server)
    assert len(shards(local)) == 2 and shards(remote) == shards(local)


def s3_run(job: Path, url: str, scratch: Path, env: dict, *args: str) -> str:
    """`webcorpus run JOB -o URL` with this machine's scratch folder at `scratch`; returns its output."""
    old = dict(os.environ)
    os.environ.update(env)
    os.environ["WEBCORPUS_SCRATCH"] = str(scratch)
    try:
        result = CliRunner().invoke(main, ["run", str(job), "-o", url, "--no-progress", *args])
    finally:
        os.environ.clear()
        os.environ.update(old)
    assert result.exit_code == 0, result.output + repr(result.exception)
    return result.output


def bucket_files(fs, prefix: str) -> dict[str, bytes]:
    return {key.removeprefix(prefix): fs.cat(key) for key in fs.find(prefix)}


def test_a_run_folder_on_s3_is_written_by_the_tasks_and_holds_the_local_run_s_files(tmp_path, s3_server):
    from conftest import REPO

    fs = bucket_filesystem(s3_server)
    fs.mkdir("runs")
    job = REPO / "pipelines" / "fineweb.yaml"
    local = tmp_path / "local"
    assert CliRunner().invoke(main, ["run", str(job), "-o", str(local), "--no-progress", "-w", "1"]).exit_code == 0

    # Two worker processes, each writing its tasks' and units' files to the bucket itself.
    s3_run(job, "s3://runs/fineweb", tmp_path / "machine-a", s3_server, "-w", "2")
    expected = {
        p.relative_to(local).as_posix(): p.read_bytes()
        for p in local.rglob("*")
        if p.is_file() and (p.suffix in {".parquet", ".bin", ".idx", ".gz"} or p.name.startswith("tokenizer"))
    }
    remote = bucket_files(fs, "runs/fineweb/")
    assert any(name.startswith("removed/") for name in expected) and any(name.endswith(".bin") for name in expected)
    assert {k: remote.get(k) for k in expected} == expected
    assert ".progress/00000.json" in remote and "stats.json" in remote and "report.html" in remote
    assert remote["tokenizer_config.json"] == (local / "tokenizer_config.json").read_bytes()  # transformers' files
    assert not any(name.startswith("tokens/.work/") for name in remote)  # token pieces go once the shards are made
    # The machine kept only temporary files, and none is left.
    assert [p for p in (tmp_path / "machine-a").rglob("*") if p.is_file()] == []

    missing = CliRunner().invoke(main, ["run", str(job), "-o", "s3://no-such-bucket/x", "--no-progress"], env=s3_server)
    assert missing.exit_code == 1 and missing.output.startswith("Error: s3://no-such-bucket/x: ")
    assert missing.output.count("\n") == 1

    # Another machine (nothing of the run on its disk) resumes from the bucket's markers alone.
    again = s3_run(job, "s3://runs/fineweb", tmp_path / "machine-b", s3_server, "-w", "1")
    assert "(2 already done)" in again and "already trained" in again
    after = bucket_files(fs, "runs/fineweb/")
    assert after.keys() == remote.keys()
    assert {k: after[k] for k in expected} == expected


def test_an_interrupted_task_s_leftovers_in_the_bucket_are_replaced(tmp_path, crawl, s3_server):

    fs = bucket_filesystem(s3_server)
    fs.mkdir("cut")
    job = tmp_path / "job.yaml"
    job.write_text(JOB.format(input=crawl / "warc.paths.gz", output="unused", reader="{}"))
    s3_run(job, "s3://cut/run", tmp_path / "machine-a", s3_server)
    before = {k: v for k, v in bucket_files(fs, "cut/run/").items() if k.endswith(".parquet")}
    assert len(before) == 2
    # As if file 0's task had died after putting a shard (one its rerun does not make) and before its marker.
    fs.pipe("cut/run/data/00000_00007.parquet", b"an attempt's leftover")
    fs.rm("cut/run/.progress/00000.json")
    output = s3_run(job, "s3://cut/run", tmp_path / "machine-b", s3_server)
    assert "(1 already done)" in output
    assert {k: v for k, v in bucket_files(fs, "cut/run/").items() if k.endswith(".parquet")} == before


def test_a_write_to_the_bucket_that_fails_leaves_no_object(tmp_path, s3_server, monkeypatch):

    from webcorpus.pipeline.run_folder import Folder

    for key, value in s3_server.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("WEBCORPUS_SCRATCH", str(tmp_path / "scratch"))
    fs = bucket_filesystem(s3_server)
    fs.mkdir("writes")
    folder = Folder("s3://writes/run")
    with pytest.raises(RuntimeError):
        with folder.writing("data/a.parquet") as tmp:
            tmp.write_bytes(b"half of it")
            raise RuntimeError("the worker died here")
    assert not fs.exists("writes/run/data/a.parquet")
    folder.write_json(".progress/x.json", {"result": 1})
    assert folder.names(".progress") == {"x.json"} and folder.read_json(".progress/x.json") == {"result": 1}
    assert [p for p in (tmp_path / "scratch").rglob("*") if p.is_file()] == []

"""Inputs over HTTP (a local server, some of its answers failing) and S3 (moto's S3 server on 127.0.0.1)."""

from __future__ import annotations

import gzip
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import many_pages

from webcorpus.cli import main
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
    moto = shutil.which("moto_server") or str(Path(sys.executable).with_name("moto_server"))
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen([moto, "-H", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)  # fmt: skip
    endpoint = f"http://127.0.0.1:{port}"
    env = {"AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
           "AWS_DEFAULT_REGION": "us-east-1"}  # fmt: skip
    for _ in range(200):  # until it answers
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
            break
        except OSError:
            time.sleep(0.05)
    yield env
    server.terminate()
    server.wait()


def test_s3_inputs_give_the_local_output(tmp_path, crawl, s3_server):
    import s3fs

    fs = s3fs.S3FileSystem(client_kwargs={"endpoint_url": s3_server["AWS_ENDPOINT_URL"]}, key="test", secret="test")
    fs.mkdir("commoncrawl")
    fs.put(str(crawl / "crawl-data"), "commoncrawl/crawl-data", recursive=True)
    local = run(tmp_path, "local", f"{crawl}/crawl-data/CC-TEST/segments/1/warc/*.warc.gz")
    remote = run(tmp_path, "remote", "s3://commoncrawl/crawl-data/CC-TEST/segments/1/warc/*.warc.gz", env=s3_server)
    assert len(shards(local)) == 2 and shards(remote) == shards(local)


def test_a_run_folder_on_s3_holds_the_local_run_s_files_and_resumes_elsewhere(tmp_path, s3_server):
    import s3fs
    from conftest import REPO

    fs = s3fs.S3FileSystem(client_kwargs={"endpoint_url": s3_server["AWS_ENDPOINT_URL"]}, key="test", secret="test")
    fs.mkdir("runs")
    job = REPO / "pipelines" / "fineweb.yaml"
    local = tmp_path / "local"
    assert CliRunner().invoke(main, ["run", str(job), "-o", str(local), "--no-progress", "-w", "1"]).exit_code == 0

    def remote_run(staging: Path):
        old = dict(os.environ)
        os.environ.update(s3_server)
        try:
            args = ["run", str(job), "-o", "s3://runs/fineweb", "--staging", str(staging), "--no-progress", "-w", "1"]
            return CliRunner().invoke(main, args)
        finally:
            os.environ.clear()
            os.environ.update(old)

    first = remote_run(tmp_path / "machine-a")
    assert first.exit_code == 0, first.output
    wanted = {".parquet", ".bin", ".idx"}
    expected = {
        p.relative_to(local).as_posix(): p.read_bytes()
        for p in local.rglob("*")
        if p.suffix in wanted or p.name == "tokenizer.json"
    }
    remote = {key.removeprefix("runs/fineweb/"): fs.cat(key) for key in fs.find("runs/fineweb")}
    assert {k: remote[k] for k in expected} == expected
    assert ".progress/00000.json" in remote and "stats.json" in remote
    assert remote["tokenizer_config.json"] == (local / "tokenizer_config.json").read_bytes()  # transformers' files
    assert remote["special_tokens_map.json"] == (local / "special_tokens_map.json").read_bytes()
    assert not any(key.startswith("minhash_dedup/.dedup/") for key in remote)  # intermediate work stays local

    missing = CliRunner().invoke(main, ["run", str(job), "-o", "s3://no-such-bucket/x", "--no-progress"], env=s3_server)
    assert missing.exit_code == 1 and missing.output.startswith("Error: s3://no-such-bucket/x: ")
    assert missing.output.count("\n") == 1

    again = remote_run(tmp_path / "machine-b")  # no local copy: it fetches what the bucket holds
    assert again.exit_code == 0, again.output
    assert "(2 already done)" in again.output
    assert {key.removeprefix("runs/fineweb/"): fs.cat(key) for key in fs.find("runs/fineweb")}.keys() == remote.keys()


def s3_run(job: Path, url: str, staging: Path, env: dict) -> None:
    old = dict(os.environ)
    os.environ.update(env)
    try:
        args = ["run", str(job), "-o", url, "--staging", str(staging), "--no-progress", "-w", "1"]
        result = CliRunner().invoke(main, args)
    finally:
        os.environ.clear()
        os.environ.update(old)
    assert result.exit_code == 0, result.output


def test_a_cut_file_in_staging_never_reaches_the_bucket(tmp_path, crawl, s3_server):
    import s3fs

    fs = s3fs.S3FileSystem(client_kwargs={"endpoint_url": s3_server["AWS_ENDPOINT_URL"]}, key="test", secret="test")
    fs.mkdir("cut")
    job = tmp_path / "job.yaml"
    job.write_text(JOB.format(input=crawl / "warc.paths.gz", output="unused", reader="{}"))
    s3_run(job, "s3://cut/run", tmp_path / "machine-a", s3_server)
    before = {key: fs.cat(key) for key in fs.find("cut/run") if key.endswith(".parquet")}
    assert len(before) == 2
    # What a fetch killed in the middle of a shard left under the old code: the tasks' markers (fetched
    # first) and a shard's first bytes; and a shard of the right size and ends but other bytes between.
    staging = tmp_path / "machine-b"
    cut, zeroed = (key.removeprefix("cut/run/") for key in sorted(before))
    (staging / "data").mkdir(parents=True)
    (staging / cut).write_bytes(before[f"cut/run/{cut}"][:1000])
    whole = before[f"cut/run/{zeroed}"]
    (staging / zeroed).write_bytes(whole[:1000] + bytes(len(whole) - 2000) + whole[-1000:])  # only the hash differs
    fs.get("cut/run/.progress", str(staging / ".progress"), recursive=True)
    s3_run(job, "s3://cut/run", staging, s3_server)
    assert {key: fs.cat(key) for key in before} == before
    assert {key: (staging / key.removeprefix("cut/run/")).read_bytes() for key in before} == before


def test_a_fetch_that_breaks_off_leaves_no_file_at_a_final_path(tmp_path, crawl, http_server):
    from webcorpus.storage import RemoteRunFolder

    FlakyHandler.drop_once = {"a.warc.gz"}  # fetching the run folder (the crawl folder here) breaks there
    warcs = "crawl-data/CC-TEST/segments/1/warc"
    folder = RemoteRunFolder(f"{http_server}/{warcs}", tmp_path / "staging")
    with pytest.raises(OSError, match="a.warc.gz: ClientPayloadError"):
        folder.fetch()
    assert [p.name for p in (tmp_path / "staging").rglob("*") if p.is_file()] == []
    assert folder.fetch() == 2  # the second try fetches both, whole
    assert (tmp_path / "staging" / "a.warc.gz").read_bytes() == (crawl / warcs / "a.warc.gz").read_bytes()

"""The whole first stage, from the YAML runner and from the shell, on the bundled sample."""

import gzip
import json
import os
import signal
import subprocess
import sys
import time

from click.testing import CliRunner
from conftest import REPO, many_pages

from webcorpus.cli import main
from webcorpus.parquet import read_documents
from webcorpus.testing.sample_warc import write_warc

CLI = [sys.executable, "-m", "webcorpus.cli"]
EXPECTED_URLS = {
    "https://www.riverside-gardening.org/guides/composting-at-home",
    "https://news.harbourtown-gazette.com/2024/05/library-reopens",
    "https://www.seaside-cafe-reviews.co.uk/reviews/lighthouse-tearoom",
    "https://blog.quietkitchen.net/recipes/lentil-soup",
    "https://www.northfield-astronomy.org/articles/observing-jupiter",
}
SYNDICATED_COPY = "https://www.weekend-gardener.example.com/2024/composting"


def run_cli(*args):
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert result.exit_code == 0, result.output + str(result.exception)
    return result


def test_fineweb_pipeline_on_the_sample(tmp_path):
    out = tmp_path / "out"
    result = run_cli("run", REPO / "pipelines" / "fineweb.yaml", "--output", out, "--workers", "2", "--no-progress")
    # The first stage keeps a syndicated copy of an article; near-duplicate removal then drops it.
    assert {d.url for d in read_documents(out / "data")} == EXPECTED_URLS | {SYNDICATED_COPY}
    docs = list(read_documents(out / "minhash_dedup" / "data"))
    assert {d.url for d in docs} == EXPECTED_URLS
    # PII runs after dedup, as in FineWeb; the finished corpus is its output.
    assert [d.text for d in read_documents(out / "pii" / "data")] == [d.text for d in docs]
    assert all(d.metadata["language"] == "en" and d.metadata["language_score"] > 0.65 for d in docs)
    assert all("Privacy policy" not in d.text for d in docs)

    summary = json.loads((out / "stats.json").read_text())
    assert [s["step"] for s in summary["steps"] if not s["implicit"]] == [
        "read_warc", "url_filter", "quick_langid", "extract", "langid", "gopher_repetition", "gopher_quality",
        "c4_quality", "fineweb_quality", "write_parquet", "minhash_dedup", "pii", "train_tokenizer", "tokenize",
    ]  # fmt: skip
    stages = {s["step"]: s for s in summary["steps"]}
    assert stages["read_warc"]["dropped"] == {"content_type": 3, "http_status": 2}
    assert stages["url_filter"]["dropped"] == {"banned_word": 1, "domain": 1}
    assert stages["extract"]["dropped"] == {"no_text": 1}
    assert stages["quick_langid"]["dropped"] == {"language": 3}  # not extracted: langid would drop them
    assert stages["langid"]["dropped"] == {"language": 2, "low_score": 1}
    assert stages["gopher_repetition"]["dropped"] == {"top_2_gram": 1}
    assert stages["gopher_quality"]["dropped"] == {"short_doc": 1}
    assert stages["c4_quality"]["dropped"] == {"curly_bracket": 1}
    assert stages["fineweb_quality"]["dropped"] == {"line_punct_ratio": 1}
    assert stages["minhash_dedup"]["dropped"] == {"near_duplicate": 1}
    assert stages["minhash_dedup"]["summary"]["removed"] == 1
    assert stages["tokenize"]["kept"] == 5 and stages["tokenize"]["counts"]["tokens"] > 0
    assert summary["documents_out"] == 5 and summary["final_data"] == str(out / "pii" / "data")
    assert (
        "language 3" in result.output and "removed 1" in result.output and "5 documents from 2 files" in result.output
    )

    reasons = set()
    for path in (out / "removed").rglob("*.jsonl.gz"):
        reasons |= {json.loads(line)["metadata"]["drop_reason"] for line in gzip.open(path, "rt")}
    assert reasons == {
        "read_warc:content_type",
        "read_warc:http_status",
        "url_filter:domain",
        "url_filter:banned_word",
        "quick_langid:language",
        "extract:no_text",
        "langid:language",
        "langid:low_score",
        "gopher_repetition:top_2_gram",
        "gopher_quality:short_doc",
        "c4_quality:curly_bracket",
        "fineweb_quality:line_punct_ratio",
    }

    # A second run finds everything done and changes nothing.
    before = {p: p.read_bytes() for p in (out / "data").iterdir()}
    again = run_cli("run", REPO / "pipelines" / "fineweb.yaml", "--output", out, "--no-progress")
    assert "(2 already done)" in again.output
    assert {p: p.read_bytes() for p in (out / "data").iterdir()} == before
    removed = [
        json.loads(line)
        for line in gzip.open(next((out / "minhash_dedup" / "removed" / "minhash_dedup").iterdir()), "rt")
    ]
    assert [(r["url"], r["metadata"]["duplicate_of"]) for r in removed] == [
        (SYNDICATED_COPY, next(d.id for d in docs if d.url.endswith("composting-at-home")))
    ]

    # Changing the pipeline and reusing the folder would mix two configurations: refused.
    changed = tmp_path / "changed.yaml"
    changed.write_text((REPO / "pipelines" / "fineweb.yaml").read_text().replace("[en]", "[de]"))
    refused = CliRunner().invoke(main, ["run", str(changed), "--output", str(out), "--no-progress"])
    assert refused.exit_code == 1 and "different pipeline configuration" in refused.output


def test_output_is_byte_identical_whatever_the_worker_count(tmp_path):
    outputs = []
    for workers in ("1", "2"):
        out = tmp_path / f"w{workers}"
        run_cli("run", REPO / "pipelines" / "fineweb.yaml", "-o", out, "-w", workers, "--no-progress")
        outputs.append({p.relative_to(out): p.read_bytes() for p in sorted((out / "data").iterdir())})
    assert outputs[0] == outputs[1] and outputs[0]


def test_shell_pipe_matches_the_runner(tmp_path):
    sample = REPO / "pipelines" / "sample"
    cli = " ".join(CLI)
    pipe = (
        f"{cli} read-warc {sample}/*.warc.gz | {cli} url-filter | {cli} extract "
        f"| {cli} langid --languages en | {cli} gopher-repetition | {cli} gopher-quality | {cli} c4-quality "
        f"| {cli} fineweb-quality | {cli} stream-minhash-dedup | {cli} write-parquet {tmp_path / 'out'}"
    )
    done = subprocess.run(pipe, shell=True, capture_output=True, text=True, cwd=REPO, check=True)
    assert "langid: 16 in, 10 kept" in done.stderr
    assert "fineweb_quality: 7 in, 6 kept, dropped line_punct_ratio: 1" in done.stderr
    assert "stream_minhash_dedup: 6 in, 5 kept, dropped near_duplicate: 1" in done.stderr
    assert {d.url for d in read_documents(tmp_path / "out")} == EXPECTED_URLS


def test_stats_command(tmp_path):
    out = tmp_path / "out"
    run_cli("run", REPO / "pipelines" / "fineweb.yaml", "-o", out, "--no-progress")
    final = out / "pii" / "data"
    # On the run folder: the finished corpus once (not data/ and every later folder added up), named.
    assert json.loads(run_cli("stats", out, "--json").output)["documents"] == 5
    assert f"its finished corpus is {final}" in run_cli("stats", out).output
    summary = json.loads(run_cli("stats", final, "--json").output)
    assert summary["documents"] == 5
    assert summary["languages"] == {"en": 5}
    assert summary["characters"] == sum(len(d.text) for d in read_documents(final))
    assert sum(summary["length_histogram"].values()) == 5
    assert "blog.quietkitchen.net" in summary["top_domains"]
    text = run_cli("stats", final).output
    assert "documents   5" in text and "languages" in text and "top domains" in text


def _pipeline(tmp_path, inputs, out):
    path = tmp_path / f"{out.name}.yaml"
    path.write_text(
        f"input: {inputs}\noutput: {out}\nworkers: 2\n"
        "steps:\n  - read_warc\n  - url_filter\n  - extract\n  - langid: {languages: [en]}\n"
        "  - write_parquet: {rows_per_shard: 7}\n"
    )
    return path


def _files(folder):
    """The run's outputs; stats.json, report.html and pipeline.yaml describe the run (its times, its folder)
    and differ."""
    return {
        p.relative_to(folder): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.suffix not in (".json", ".html") and p.name != "pipeline.yaml"
    }


def test_killed_run_resumes_to_exactly_the_uninterrupted_output(tmp_path):
    inputs = tmp_path / "warcs"
    for i in range(8):
        write_warc(inputs / f"part-{i:02d}.warc.gz", many_pages(30, start=i * 30))
    pattern = f"{inputs}/*.warc.gz"

    reference = tmp_path / "reference"
    subprocess.run(
        [*CLI, "run", _pipeline(tmp_path, pattern, reference), "--no-progress"], check=True, capture_output=True
    )

    out = tmp_path / "killed"
    config = _pipeline(tmp_path, pattern, out)
    process = subprocess.Popen(
        [*CLI, "run", config, "--no-progress"],
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    # Wait (for a state, not a duration) until some file has shards but no completion marker.
    while process.poll() is None:
        progress = {p.stem for p in (out / ".progress").glob("*.json")}
        started = {p.name[:5] for p in (out / "data").glob("*.parquet")} if (out / "data").exists() else set()
        if started - progress:
            break
        time.sleep(0.005)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL, "the run finished before it could be killed"
    assert len(list((out / ".progress").glob("*.json"))) < 8

    subprocess.run([*CLI, "run", config, "--no-progress"], check=True, capture_output=True)
    assert _files(out) == _files(reference)
    assert len(list(read_documents(out / "data"))) == len(list(read_documents(reference / "data")))


def test_stats_reports_foreign_and_corrupt_shards_by_path(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    out = tmp_path / "out"
    run_cli("run", REPO / "pipelines" / "fineweb.yaml", "-o", out, "--no-progress", "--workers", "1")
    final = out / "pii" / "data"
    pq.write_table(pa.table({"x": [1]}), final / "foreign.parquet")
    (final / "broken.parquet").write_bytes(b"PAR1 not really")
    result = CliRunner().invoke(main, ["stats", str(final), "--json"])
    assert result.exit_code == 0
    summary = json.loads(result.stdout)
    assert summary["documents"] == 5
    assert len(summary["bad_shards"]) == 2
    assert any("foreign.parquet: not a webcorpus document shard" in b for b in summary["bad_shards"])
    assert any("broken.parquet" in b for b in summary["bad_shards"])


def test_a_stage_used_twice_keeps_separate_exclusion_files(tmp_path):
    config = tmp_path / "twice.yaml"
    config.write_text(
        f"input: {REPO / 'pipelines' / 'sample'}/*.warc.gz\noutput: {tmp_path / 'out'}\n"
        "steps:\n  - read_warc\n  - extract\n  - langid: {label_only: true}\n"
        "  - langid: {languages: [en]}\n  - write_parquet\n"
    )
    run_cli("run", config, "--no-progress", "--workers", "1")
    removed = {p.name for p in (tmp_path / "out" / "removed").iterdir()}
    assert removed == {"read_warc", "extract", "langid_3"}
    # No url_filter or quality filters here: every English page stays, blocklisted ones included.
    assert len(list(read_documents(tmp_path / "out" / "data"))) == 12


def test_a_dead_worker_fails_its_file_instead_of_hanging(tmp_path, monkeypatch, make_warc):
    from webcorpus.pipeline import runner
    from webcorpus.pipeline.config import load_pipeline
    from webcorpus.pipeline.executors import LocalExecutor

    for i in range(3):
        make_warc(f"in/{i}.warc.gz", many_pages(3, start=i * 3))
    original = runner.DocumentPassRunner.run_task
    parent = os.getpid()

    def crash_on_second_file(self, task, counter=None):
        if os.getpid() != parent and task.index == 1:
            os._exit(1)  # as a segfault or the OOM killer would end it
        return original(self, task, counter)

    monkeypatch.setattr(runner.DocumentPassRunner, "run_task", crash_on_second_file)
    config = load_pipeline(REPO / "pipelines" / "fineweb.yaml")
    config.input, config.output = [str(tmp_path / "in" / "*.warc.gz")], str(tmp_path / "out")
    # Forked workers inherit the patched method (spawned ones would import the module afresh).
    result = runner.run_pipeline(config, workers=2, progress=False, executor=LocalExecutor(2, start_method="fork"))
    assert any("1.warc.gz: a worker process died" in f for f in result.failed)
    assert not (tmp_path / "out" / ".progress" / "00001.json").exists()

    monkeypatch.setattr(runner.DocumentPassRunner, "run_task", original)
    again = runner.run_pipeline(config, workers=2, progress=False)
    assert again.failed == [] and len(list((tmp_path / "out" / ".progress").glob("*.json"))) == 3


def test_a_corpus_step_in_the_middle_with_document_steps_after_it(tmp_path):
    config = tmp_path / "middle.yaml"
    config.write_text(
        f"input: {REPO / 'pipelines' / 'sample'}/*.warc.gz\n"
        "steps:\n  - read_warc\n  - extract\n  - langid: {languages: [en]}\n"
        "  - minhash_dedup\n  - pii: {replacement: tag}\n  - exact_dedup\n"
    )
    outputs = []
    for workers in ("1", "2"):  # in-process, and spawned worker processes
        out = tmp_path / f"w{workers}"
        result = run_cli("run", config, "-o", out, "-w", workers, "--no-progress")
        outputs.append(_files(out))
    assert outputs[0] == outputs[1]
    summary = json.loads((out / "stats.json").read_text())
    assert [(s["step"], s["implicit"]) for s in summary["steps"]] == [
        ("read_warc", False), ("extract", False), ("langid", False), ("write_parquet", True),
        ("minhash_dedup", False), ("read_parquet", True), ("pii", False), ("exact_dedup", False),
        ("write_parquet", True),
    ]  # fmt: skip
    steps = {s["step"]: s for s in summary["steps"]}
    # No quality filters: every English page reaches dedup, near-copies among them included.
    assert steps["minhash_dedup"]["documents_in"] == 12 and steps["minhash_dedup"]["kept"] == 9
    assert steps["pii"]["documents_in"] == 9 and steps["exact_dedup"]["kept"] == 9
    assert summary["final_data"] == str(out / "pii" / "data")
    assert len(list(read_documents(out / "pii" / "data"))) == 9
    assert "read_parquet *" in result.output and "added by the runner" in result.output


def test_train_help_imports_no_data_library():
    probe = (
        "import sys; from webcorpus.cli import main\n"
        "try:\n    main(['train', '--help'])\nexcept SystemExit:\n    pass\n"
        "print(sorted(m for m in ('trafilatura', 'presidio_analyzer', 'pyarrow', 'datasketch') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert "--max-steps" in done.stdout and "--kernels" not in done.stdout
    assert done.stdout.strip().endswith("[]")


def _rest_of_fineweb(tmp_path, inputs):
    """The main job without tokenizing (quicker), over `inputs`."""
    text = (REPO / "pipelines" / "fineweb.yaml").read_text().replace("webcorpus:sample/*.warc.gz", inputs)
    path = tmp_path / "job.yaml"
    path.write_text(text.split("  - train_tokenizer")[0])
    return path


def test_slices_on_separate_machines_merge_to_exactly_the_single_run(tmp_path):
    inputs = tmp_path / "warcs"
    for i in range(4):
        write_warc(inputs / f"part-{i}.warc.gz", many_pages(6, start=i * 6) + many_pages(2, start=0))  # copies
    job = _rest_of_fineweb(tmp_path, f"{inputs}/*.warc.gz")
    run_cli("run", job, "-o", tmp_path / "single", "--no-progress")
    for i in range(2):
        result = run_cli("run", job, "-o", tmp_path / "runs" / str(i), "--shard", f"{i}/2", "--no-progress")
        assert f"slice {i}/2 done" in result.output
    assert not (tmp_path / "runs" / "0" / "minhash_dedup").exists()  # corpus steps wait for every slice
    merged = run_cli("run", job, "-o", tmp_path / "merged", "--merge", tmp_path / "runs" / "*", "--no-progress")
    assert "24 documents from 4 files" not in merged.output  # duplicates went
    for folder in ("minhash_dedup/data", "pii/data"):
        assert _files(tmp_path / "merged" / folder) == _files(tmp_path / "single" / folder)
    single = json.loads((tmp_path / "single" / "stats.json").read_text())
    both = json.loads((tmp_path / "merged" / "stats.json").read_text())
    assert [(s["step"], s["documents_in"], s["kept"]) for s in both["steps"]] == [
        (s["step"], s["documents_in"], s["kept"]) for s in single["steps"]
    ]

    # A missing slice, or a run of another pipeline, is refused before anything runs.
    refused = CliRunner().invoke(
        main, ["run", str(job), "-o", str(tmp_path / "x"), "--merge", str(tmp_path / "runs" / "0")]
    )
    assert refused.exit_code == 1 and "slices 1/2 are missing" in refused.output
    assert not (tmp_path / "x").exists()


def test_two_shards_of_one_name_are_refused_never_overwritten(tmp_path):
    # Two machines that ran the whole input each (no --shard) both wrote data/00000_00000.parquet.
    for node in ("a", "b"):
        run_cli("run", REPO / "pipelines" / "fineweb.yaml", "-o", tmp_path / node, "--no-progress", "-w", "1")
    result = CliRunner().invoke(
        main, ["minhash-dedup", str(tmp_path / "a" / "data"), str(tmp_path / "b" / "data"), str(tmp_path / "out")]
    )
    assert result.exit_code == 1
    assert "two input shards are named 00000_00000.parquet" in result.output and "nothing was run" in result.output
    assert not (tmp_path / "out").exists()
    # Run folders stand for their finished corpus; distinct names go through, every row accounted for.
    both = CliRunner().invoke(main, ["minhash-dedup", str(tmp_path / "a"), str(tmp_path / "out"), "--no-progress"])
    assert both.exit_code == 0 and "5 documents in 2 shards" in both.output


def test_invalid_unicode_in_json_lines_is_replaced_and_counted_by_every_stage():
    lines = (
        b'{"id":"s","url":"https://e.com/","text":"bad \\ud800 x and more words here","metadata":{}}\n'
        b'{"id":"b","url":"https://e.com/b","text":"raw \xff\xfe bytes","metadata":{}}\n'
        b'{"id":"g","url":"https://e.com/g","text":"fine text","metadata":{}}\n'
    )
    for stage in ("url-filter", "pii", "stream-minhash-dedup", "exact-dedup", "langid"):
        done = subprocess.run([*CLI, stage], input=lines, capture_output=True, timeout=120)
        assert done.returncode == 0, (stage, done.stderr.decode()[-800:])
        out = [json.loads(line) for line in done.stdout.decode("utf-8").splitlines()]
        assert [d["id"] for d in out] == ["s", "b", "g"] or stage == "langid", (stage, out)
        assert all("\ud800" not in d["text"] for d in out)
        assert "invalid_unicode_replaced: 2" in done.stderr.decode(), (stage, done.stderr.decode())


def test_a_second_run_into_a_busy_folder_is_refused_naming_the_holder(tmp_path):
    from webcorpus.atomic import lock_folder

    out = tmp_path / "out"
    held = lock_folder(out)  # as a run in progress holds it
    try:
        result = CliRunner().invoke(main, ["run", str(REPO / "pipelines" / "fineweb.yaml"), "-o", str(out)])
        assert result.exit_code == 1 and result.output.count("\n") == 1
        assert f"in use by another run (process {os.getpid()})" in result.output
        assert not (out / "data").exists()
    finally:
        held.close()
    run_cli("run", REPO / "pipelines" / "fineweb.yaml", "-o", out, "--no-progress")  # free again


def _merge(job, out, *runs):
    merges = [arg for run in runs for arg in ("--merge", str(run))]
    return CliRunner().invoke(main, ["run", str(job), "-o", str(out), "--no-progress", *merges])


def test_a_merge_refuses_slices_with_shards_gone_or_cut_from_another_input_list(tmp_path):
    import shutil

    for i in range(3):
        write_warc(tmp_path / "warcs" / f"part-{i}.warc.gz", many_pages(2, start=i * 2))
    job = tmp_path / "job.yaml"
    job.write_text(
        f"input: {tmp_path}/warcs/*.warc.gz\noutput: {tmp_path}/out\nworkers: 1\n"
        "steps:\n  - read_warc\n  - extract\n  - write_parquet\n  - minhash_dedup\n"
    )
    runs = tmp_path / "runs"
    for i in range(2):
        run_cli("run", job, "-o", runs / str(i), "--shard", f"{i}/2", "--no-progress")

    # A copy of slice 0 whose shards are gone, or one of them cut short: refused, naming the file.
    gone = tmp_path / "gone"
    shutil.copytree(runs / "0", gone)
    for shard in (gone / "data").glob("*.parquet"):
        shard.unlink()
    refused = _merge(job, tmp_path / "x", gone, runs / "1")
    assert refused.exit_code == 1 and f"{gone}/data/00000_00000.parquet: missing" in refused.output
    cut = tmp_path / "cut"
    shutil.copytree(runs / "0", cut)
    shard = cut / "data" / "00002_00000.parquet"
    shard.write_bytes(shard.read_bytes()[:-100])
    refused = _merge(job, tmp_path / "x", cut, runs / "1")
    assert refused.exit_code == 1 and f"{shard}: " in refused.output and "truncated" in refused.output

    # Slice 1 of another input list (one file fewer): files would be done twice or never.
    run_cli("run", job, "-i", tmp_path / "warcs" / "part-[12].warc.gz", "-o", tmp_path / "other", "--shard", "1/2",
            "--no-progress")  # fmt: skip
    refused = _merge(job, tmp_path / "x", runs / "0", tmp_path / "other")
    assert refused.exit_code == 1 and "were cut from different input lists (3 and 2 files" in refused.output

    # A slice of three among slices of two is named as what it is.
    run_cli("run", job, "-o", tmp_path / "third", "--shard", "0/3", "--no-progress")
    refused = _merge(job, tmp_path / "x", runs / "0", runs / "1", tmp_path / "third")
    third = f"{tmp_path / 'third'} is slice 0/3 but {runs / '0'} is one of 2"
    assert refused.exit_code == 1 and third in refused.output
    assert not (tmp_path / "x").exists()

    merged = _merge(job, tmp_path / "merged", runs / "*")
    assert merged.exit_code == 0 and "documents from 3 files" in merged.output, merged.output


def test_an_output_path_that_is_a_file_is_one_line_before_anything_is_written(tmp_path):
    taken = tmp_path / "taken"
    taken.write_text("not a folder")
    for output in (taken, taken / "run"):
        result = CliRunner().invoke(main, ["run", str(REPO / "pipelines" / "fineweb.yaml"), "-o", str(output)])
        assert result.exit_code == 1 and result.output.count("\n") == 1, result.output
        assert f"{taken}: is a file, not a folder" in result.output and "Errno" not in result.output
    assert taken.read_text() == "not a folder"

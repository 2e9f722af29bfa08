"""A newcomer's first hour (issue 33): the recipes ship in the wheel and run by name from any folder,
`init` writes one out, `--limit` and `--dry-run` try a configuration cheaply, and every run leaves a record
of what made it (RUN/pipeline.yaml)."""

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import yaml
from click.testing import CliRunner
from conftest import REPO, many_pages

from webcorpus import __version__
from webcorpus.cli import main
from webcorpus.pipeline.config import load_pipeline
from webcorpus.pipeline.record import DEPENDENCIES, INPUTS_LISTED, inputs_record
from webcorpus.testing.sample_warc import write_warc


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def first_stage(tmp_path: Path, files: int = 2, pages: int = 6) -> Path:
    """A quick pipeline (read, write) over `files` WARCs of `pages` pages each."""
    for i in range(files):
        write_warc(tmp_path / "warcs" / f"part-{i}.warc.gz", many_pages(pages, start=i * pages))
    path = tmp_path / "job.yaml"
    path.write_text(
        f"input: {tmp_path / 'warcs'}/*.warc.gz\noutput: {tmp_path / 'out'}\n"
        "steps:\n  - read_warc: {}\n  - write_parquet: {rows_per_shard: 1000}\n"
    )
    return path


def test_a_wheel_runs_the_main_job_by_name_from_another_folder(tmp_path):
    # Build the wheel (not an editable install), unpack it into a folder of its own and run the main job by
    # name from an empty folder, the checkout off sys.path: the recipes, their sample and the blocklists must
    # all be inside the package.
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", tmp_path / "dist",
         REPO],
        check=True, capture_output=True,
    )  # fmt: skip
    [wheel] = (tmp_path / "dist").glob("webcorpus-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    packaged = {Path(name).parent for name in names if name.endswith("__init__.py")}
    assert packaged == {p.parent.relative_to(REPO) for p in (REPO / "webcorpus").rglob("__init__.py")}
    for recipe in (
        "fineweb.yaml",
        "fineweb2.yaml",
        *(f"sample/{p.name}" for p in (REPO / "pipelines/sample").iterdir()),
    ):
        assert f"webcorpus/recipes/{recipe}" in names
    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", site, wheel], check=True)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    environment = {**os.environ, "PYTHONPATH": str(site)}

    def webcorpus(*args):
        return subprocess.run([sys.executable, "-m", "webcorpus.cli", *args], cwd=elsewhere, env=environment,
                              capture_output=True, text=True)  # fmt: skip

    where = subprocess.run([sys.executable, "-c", "import webcorpus; print(webcorpus.__file__)"], cwd=elsewhere,
                           env=environment, capture_output=True, text=True, check=True).stdout  # fmt: skip
    assert where.startswith(str(site))
    done = webcorpus("run", "fineweb", "-w", "1", "-o", "out")  # progress bars on: they must stay off stdout
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("step "), done.stdout[:200]  # no empty lines above the table
    assert "5 documents from 2 files" in done.stdout
    assert (elsewhere / "out" / "tokens" / "webcorpus_val_000000.bin").exists()
    record = yaml.safe_load((elsewhere / "out" / "pipeline.yaml").read_text())
    assert record["input"] == ["webcorpus:sample/*.warc.gz"] and record["record"]["inputs"]["files"] == 2

    written = webcorpus("init", "fineweb")
    assert written.returncode == 0, written.stderr
    assert (elsewhere / "fineweb.yaml").read_text() == (REPO / "pipelines" / "fineweb.yaml").read_text()
    again = webcorpus("init", "fineweb")
    assert again.returncode == 1 and "already exists" in again.stderr


def test_a_recipe_runs_by_name_a_file_of_that_name_wins_and_a_wrong_name_lists_them(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    planned = invoke("run", "fineweb2", "--dry-run")
    assert planned.exit_code == 0, planned.output
    assert "pipelines/fineweb2.yaml: checked" in planned.output and "input: 2 files" in planned.output
    wrong = invoke("run", "finweb")
    assert wrong.exit_code == 1
    assert wrong.output.strip() == "Error: finweb: no such file, and not a recipe (recipes: fineweb, fineweb2)"
    (tmp_path / "fineweb2").mkdir()  # a folder of that name does not hide the recipe
    assert invoke("run", "fineweb2", "--dry-run").exit_code == 0
    # `webcorpus:` inputs work in the step subcommands too.
    read = invoke("read-warc", "webcorpus:sample/*.warc.gz")
    assert read.exit_code == 0 and read.output.count('"url"') == 19
    scripts = invoke("slurm", "fineweb", "-n", 2, "--runs", tmp_path / "runs", "-o", tmp_path / "merged")
    assert scripts.exit_code == 0 and "fineweb.yaml --shard" in (tmp_path / "runs" / "slices.sbatch").read_text()
    (tmp_path / "fineweb").write_text("steps: []\n")
    mine = invoke("run", "fineweb")
    assert mine.exit_code == 1 and "fineweb:1: steps: must be a non-empty list" in mine.output


def test_init_writes_a_recipe_out_and_never_overwrites(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = invoke("init", "fineweb2", "recipes/multi.yaml")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "recipes" / "multi.yaml").read_text() == (REPO / "pipelines" / "fineweb2.yaml").read_text()
    assert invoke("init", "fineweb", "recipes").exit_code == 0
    assert (tmp_path / "recipes" / "fineweb.yaml").is_file()
    (tmp_path / "recipes" / "fineweb.yaml").write_text("my edits")
    refused = invoke("init", "fineweb", "recipes")
    assert refused.exit_code == 1 and "already exists" in refused.output
    assert (tmp_path / "recipes" / "fineweb.yaml").read_text() == "my edits"
    assert "not a recipe (recipes: fineweb, fineweb2)" in invoke("init", "nope").output
    # The copy runs from anywhere: its input is the sample inside the package.
    assert invoke("run", tmp_path / "recipes" / "multi.yaml", "--dry-run").exit_code == 0


def test_limit_reads_at_most_n_documents_per_file_and_a_limited_run_never_resumes_as_whole(tmp_path):
    job = first_stage(tmp_path)
    out = tmp_path / "out"
    limited = invoke("run", job, "--limit", 2, "-w", 1, "--no-progress")
    assert limited.exit_code == 0, limited.output
    stats = json.loads((out / "stats.json").read_text())
    assert stats["steps"][0]["kept"] == 4 and stats["documents_out"] == 4  # 2 of each file's 6
    assert stats["record"]["limit"] == 2
    full = invoke("run", job, "-w", 1, "--no-progress")
    assert full.exit_code == 1
    assert "holds a run limited to 2 documents per input file (--limit 2); rerun with --limit 2" in full.output
    other = invoke("run", job, "--limit", 3, "-w", 1, "--no-progress")
    assert other.exit_code == 1 and "--limit 2" in other.output
    same = invoke("run", job, "--limit", 2, "-w", 1, "--no-progress")
    assert same.exit_code == 0 and "(2 already done)" in same.output
    # Without the record (an older folder), the markers still refuse it: the limit is in their fingerprint.
    (out / "pipeline.yaml").unlink()
    assert "different pipeline configuration" in invoke("run", job, "-w", 1, "--no-progress").output
    # And a full run is not finished by a limited one.
    whole = tmp_path / "whole"
    assert invoke("run", job, "-o", whole, "-w", 1, "--no-progress").exit_code == 0
    assert (
        "holds a full run (no --limit); rerun without --limit"
        in invoke("run", job, "-o", whole, "--limit", 1, "--no-progress").output
    )


def test_dry_run_checks_lists_and_plans_but_runs_and_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "dry"
    result = invoke("run", "fineweb", "-o", out, "--dry-run", "--limit", 5, "-w", 2)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[1] == "input: 2 files from webcorpus:sample/*.warc.gz"
    assert lines[2].endswith("sample-00000.warc.gz") and lines[3].endswith("sample-00001.warc.gz")
    assert "executor: local, 2 workers; at most 5 documents per input file (--limit)" in lines
    assert "plan: 5 passes" in lines
    assert any(line.strip().startswith("read_warc, url_filter,") and line.endswith("-> data/") for line in lines)
    assert (
        "       minhash_dedup -> minhash_dedup" in lines
        and "       read_parquet *, pii, write_parquet * -> pii/data/" in lines
    )
    assert "  1. per document, one task per input file (2), each worker 1 CPU:" in lines
    assert not out.exists() and list(tmp_path.iterdir()) == []

    bad = tmp_path / "bad.yaml"
    bad.write_text("input: x\noutput: y\nsteps:\n  - read_warc: {}\n  - langid: {threshhold: 2}\n")
    refused = invoke("run", bad, "--dry-run")
    assert refused.exit_code == 1 and refused.output.count("\n") == 1 and "bad.yaml:5" in refused.output
    missing = invoke("run", "fineweb", "--dry-run", "-i", tmp_path / "nothing-here.warc.gz")
    assert missing.exit_code == 1 and "no such file" in missing.output

    job = first_stage(tmp_path / "done")
    assert invoke("run", job, "-w", 1, "--no-progress").exit_code == 0
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    resumed = invoke("run", job, "--dry-run")
    assert resumed.exit_code == 0 and "(resumes: 2 of 2 files already done)" in resumed.output
    other = invoke("run", job, "--dry-run", "--limit", 1)
    assert other.exit_code == 1 and "holds a full run (no --limit); rerun without --limit" in other.output
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before


def test_every_run_records_what_made_it_and_a_resume_adds_its_attempt(tmp_path):
    job = first_stage(tmp_path)
    out = tmp_path / "out"
    assert invoke("run", job, "-w", 1, "--no-progress", "-o", out).exit_code == 0
    text = (out / "pipeline.yaml").read_text()
    document = yaml.safe_load(text)
    record = document["record"]
    assert record["webcorpus"] == __version__ and set(record["dependencies"]) == set(DEPENDENCIES)
    assert record["dependencies"]["trafilatura"] and record["dependencies"]["pyarrow"]
    assert (record["executor"], record["workers"], record["limit"], record["source"]) == ("local", 1, None, str(job))
    assert record["inputs"]["files"] == 2 and record["inputs"]["list"][0].endswith("part-0.warc.gz")
    assert record["started"].endswith("+00:00") and record["ended"] >= record["started"]
    assert document["workers"] == 1 and document["output"] == str(out)  # the flags, applied
    # It is a pipeline: loading it gives the same steps, so `webcorpus run RUN/pipeline.yaml` runs it again.
    reloaded = load_pipeline(out / "pipeline.yaml")
    assert [(s.name, s.options) for s in reloaded.steps] == [(s.name, s.options) for s in load_pipeline(job).steps]
    stats = json.loads((out / "stats.json").read_text())
    assert stats["pipeline"] == str(out / "pipeline.yaml") and stats["pipeline_source"] == str(job)
    report = (out / "report.html").read_text()
    assert "id='run-record'" in report and f"webcorpus</td><td class='text'>{__version__}" in report

    again = invoke("run", out / "pipeline.yaml", "-w", 2, "--no-progress")  # resumes: every file is done
    assert again.exit_code == 0 and "(2 already done)" in again.output
    resumed = yaml.safe_load((out / "pipeline.yaml").read_text())["record"]
    assert len(resumed["attempts"]) == 2 and resumed["started"] == record["started"]
    assert [a["workers"] for a in resumed["attempts"]] == [1, 2] and resumed["ended"] == resumed["attempts"][1]["ended"]
    assert "attempts</td><td class='text'>2 (resumed)" in (out / "report.html").read_text()


def test_a_huge_input_list_is_recorded_as_a_count_and_a_hash():
    few, many = [f"f{i}" for i in range(3)], [f"f{i}" for i in range(INPUTS_LISTED + 1)]
    assert inputs_record(few)["list"] == few
    assert "list" not in inputs_record(many) and inputs_record(many)["files"] == INPUTS_LISTED + 1
    assert inputs_record(many)["sha256"] != inputs_record(many[:-1])["sha256"]


def test_a_mistyped_command_gets_the_nearest_ones():
    result = invoke("rnu", "fineweb")
    assert result.exit_code == 2 and "No such command 'rnu'. Did you mean 'run'?" in result.output
    assert "Did you mean 'url-filter' or" in invoke("url-filtr").output
    assert "Did you mean" not in invoke("zzzzzz").output


def test_stats_does_not_walk_into_hidden_folders(tmp_path):
    (tmp_path / ".venv" / "lib").mkdir(parents=True)
    (tmp_path / ".venv" / "lib" / "test-data.parquet").write_bytes(b"not ours")
    (tmp_path / "data").mkdir()
    table = pa.table({"url": ["https://a.example/"], "text": ["hello"], "language": ["en"]})
    pq.write_table(table, tmp_path / "data" / "00000_00000.parquet")
    result = invoke("stats", tmp_path)
    assert result.exit_code == 0, result.output
    assert f"{tmp_path}: 1 shards" in result.output and "skipped" not in result.output

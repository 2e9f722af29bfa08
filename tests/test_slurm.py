"""`webcorpus slurm`: the sbatch scripts are valid bash, quote what users give, and, run slice by slice as
Slurm would run them, give the single run's corpus byte for byte. A real one-node Slurm is used where one
answers (docs/slurm.md says how to start one)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from subprocess import PIPE
from typing import Any

import pytest
from click.testing import CliRunner
from conftest import many_pages

from webcorpus.cli import EXIT_NOTHING_KEPT, main
from webcorpus.pipeline.slurm import (
    NOTHING_KEPT_STATUS,
    SlurmError,
    merge_script_path,
    sbatch_value,
    slurm_scripts,
    submit,
    write_scripts,
)

REPO = Path(__file__).resolve().parent.parent
HOSTILE = "a b 'c' \"d\" $(touch PWNED) `touch PWNED` ; touch PWNED \\ %x\nsecond line"
HOSTILE_DIR = 'runs a\'b "c" $(touch PWNED) `touch PWNED` ;& [x] %x'  # no line break: it goes into #SBATCH


def fake_python(tmp_path: Path) -> Path:
    """An interpreter that writes its arguments, NUL-separated, to $ARGV_OUT and does nothing else."""
    path = tmp_path / "bin" / "python"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('#!/bin/sh\nfor arg in "$@"; do printf \'%s\\0\' "$arg"; done > "$ARGV_OUT"\n')
    path.chmod(0o755)
    return path


def run_script(script: Path, cwd: Path, index: int | None = None, wait: bool = True, **env: str) -> Any:
    """Run `script` with bash as a Slurm node would (array index `index`); a Popen if not `wait`."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("SLURM_")} | env
    if index is not None:
        environment["SLURM_ARRAY_TASK_ID"] = str(index)
    command = ["bash", str(script)]
    if not wait:
        return subprocess.Popen(command, env=environment, stdout=PIPE, stderr=PIPE, text=True, cwd=cwd)
    return subprocess.run(command, env=environment, capture_output=True, text=True, cwd=cwd)


def argv(path: Path) -> list[str]:
    return path.read_bytes().decode().split("\0")[:-1]


def test_the_scripts_are_bash_with_the_array_the_logs_and_both_commands(tmp_path):
    scripts = slurm_scripts(
        "job.yaml", 12, "runs", "out", inputs=["crawl/*.warc.gz"], partition="cpu", time="02:00:00",
        cpus_per_task=8, mem="16G", python="/opt/venv/bin/python", workdir=tmp_path,
    )  # fmt: skip
    array, merge = write_scripts(scripts, tmp_path / "runs" / "slices.sbatch", tmp_path / "runs")
    assert merge == merge_script_path(array) == tmp_path / "runs" / "slices-merge.sbatch"
    assert (tmp_path / "runs" / "logs").is_dir()  # Slurm does not make the folder of --output
    for script in (array, merge):
        assert subprocess.run(["bash", "-n", str(script)]).returncode == 0
        assert os.access(script, os.X_OK)
    lines = scripts.array.splitlines()
    assert lines[0] == "#!/bin/bash" and "set -euo pipefail" in lines
    assert "#SBATCH --array=0-11" in lines
    assert f'#SBATCH --output="{tmp_path}/runs/logs/slices-%A_%a.out"' in lines
    for directive in ('--partition="cpu"', '--time="02:00:00"', "--cpus-per-task=8", '--mem="16G"'):
        assert f"#SBATCH {directive}" in lines and f"#SBATCH {directive}" in scripts.merge.splitlines()
    assert "printf -v slice 'slice-%0*d' 2 \"$SLURM_ARRAY_TASK_ID\"" in lines  # slice-00 .. slice-11
    assert (
        f'/opt/venv/bin/python -m webcorpus.cli run {tmp_path}/job.yaml --shard "$SLURM_ARRAY_TASK_ID/12" '
        f"--output {tmp_path}/runs/\"$slice\" --input 'crawl/*.warc.gz' --workers 8 --no-progress"
    ) in scripts.array  # --workers follows --cpus-per-task unless given
    assert "--array" not in scripts.merge and f'#SBATCH --output="{tmp_path}/runs/logs/merge-%j.out"' in scripts.merge
    assert scripts.merge.splitlines()[-1] == (
        f"exec /opt/venv/bin/python -m webcorpus.cli run {tmp_path}/job.yaml --merge '{tmp_path}/runs/slice-*' "
        f"--output {tmp_path}/out --input 'crawl/*.warc.gz' --workers 8 --no-progress"
    )
    one = slurm_scripts("job.yaml", 1, "runs", "s3://bucket/out", workdir=tmp_path)
    assert "--output s3://bucket/out" in one.merge  # a URL output stays a URL
    assert "#SBATCH --array=0-0" in one.array and "--workers" not in one.array
    assert f"{sys.executable} -m webcorpus.cli run" in one.array  # this interpreter, absolute
    assert NOTHING_KEPT_STATUS == EXIT_NOTHING_KEPT


def test_bad_values_are_refused_before_anything_is_written(tmp_path):
    for slices in (0, -1):
        with pytest.raises(ValueError, match="at least 1"):
            slurm_scripts("job.yaml", slices, "runs", "out")
    with pytest.raises(ValueError, match="line break"):
        slurm_scripts("job.yaml", 2, "runs\n#SBATCH --uid=0", "out")
    with pytest.raises(ValueError, match="line break"):
        slurm_scripts("job.yaml", 2, "runs", "out", partition="cpu\necho hi")
    with pytest.raises(ValueError, match="must be a folder the nodes share"):
        slurm_scripts("job.yaml", 2, "s3://bucket/runs", "out")
    assert sbatch_value('a "b" \\c') == '"a \\"b\\" \\\\c"'
    refused = CliRunner().invoke(main, ["slurm", "job.yaml", "-n", "0", "--runs", str(tmp_path / "r"), "-o", "out"])
    assert refused.exit_code == 1 and "--slices 0: need at least 1" in refused.output
    assert not (tmp_path / "r").exists()


def test_hostile_paths_and_inputs_reach_python_as_single_arguments(tmp_path):
    python = fake_python(tmp_path)
    pipeline, runs, out = tmp_path / f"{HOSTILE}.yaml", tmp_path / HOSTILE_DIR, tmp_path / f"out {HOSTILE}"
    inputs = [f"crawl/{HOSTILE}*.warc.gz", "--merge", "-o"]
    result = CliRunner().invoke(
        main,
        ["slurm", str(pipeline), "--slices", "3", "--runs", str(runs), "--output", str(out), "--python", str(python),
         "--partition", "p'$(touch PWNED)", "--mem", '1G" --uid=0', "-w", "2"]
        + [arg for item in inputs for arg in ("--input", item)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    array, merge = runs / "slices.sbatch", runs / "slices-merge.sbatch"
    common = [arg for item in inputs for arg in ("--input", item)] + ["--workers", "2", "--no-progress"]

    done = run_script(array, tmp_path, index=1, ARGV_OUT=str(tmp_path / "argv-1"))
    assert done.returncode == 0, done.stderr
    shard = ["-m", "webcorpus.cli", "run", str(pipeline), "--shard", "1/3", "--output", str(runs / "slice-1")]
    assert argv(tmp_path / "argv-1") == shard + common
    done = run_script(merge, tmp_path, ARGV_OUT=str(tmp_path / "argv-merge"))
    assert done.returncode == 0, done.stderr
    # The glob webcorpus expands: RUNS's own [ ] are escaped, so it names exactly RUNS/slice-*.
    pattern = str(runs).replace("[x]", "[[]x]") + "/slice-*"
    assert argv(tmp_path / "argv-merge") == ["-m", "webcorpus.cli", "run", str(pipeline), "--merge", pattern,
                                             "--output", str(out)] + common  # fmt: skip
    assert not list(tmp_path.rglob("PWNED"))
    # sbatch reads the #SBATCH lines itself: the values stay whole there too.
    assert '#SBATCH --partition="p\'$(touch PWNED)"' in array.read_text()
    assert '#SBATCH --mem="1G\\" --uid=0"' in array.read_text()
    # Without the array index the script stops at once, naming the variable.
    done = run_script(array, tmp_path, ARGV_OUT=str(tmp_path / "argv-none"))
    assert done.returncode != 0 and "SLURM_ARRAY_TASK_ID" in done.stderr and not (tmp_path / "argv-none").exists()


def write_inputs(tmp_path: Path) -> Path:
    from webcorpus.testing.sample_warc import write_warc

    for i in range(2):  # each file repeats a page of another, so the dedup after the merge has work to do
        write_warc(
            tmp_path / "warcs" / f"part-{i}.warc.gz", many_pages(3, start=i * 3) + many_pages(1, start=3 - 3 * i)
        )
    pipeline = tmp_path / "job.yaml"
    pipeline.write_text(
        "input: warcs/*.warc.gz\noutput: single\nsteps:\n  - read_warc: {}\n  - extract: {}\n"
        "  - write_parquet: {rows_per_shard: 2}\n  - minhash_dedup: {}\n"
    )
    return pipeline


def parquet_files(run: Path) -> dict[Path, bytes]:
    data = run / "minhash_dedup" / "data"
    files = {p.relative_to(data): p.read_bytes() for p in sorted(data.rglob("*.parquet"))}
    assert files, f"{data}: no parquet"
    return files


def single_run(tmp_path: Path, pipeline: Path) -> Path:
    previous = Path.cwd()
    os.chdir(tmp_path)  # the YAML's paths are relative to where webcorpus runs
    try:
        result = CliRunner().invoke(main, ["run", str(pipeline), "--no-progress", "-w", "1"])
    finally:
        os.chdir(previous)
    assert result.exit_code == 0, result.output
    return tmp_path / "single"


def test_slices_run_as_slurm_would_run_them_merge_to_exactly_the_single_run(tmp_path):
    pipeline = write_inputs(tmp_path)
    # 3 slices of 2 files: slice 2 gets no file, keeps nothing, and is still a finished slice for the merge.
    scripts = slurm_scripts("job.yaml", 3, "slurm runs", "merged", workers=1, workdir=tmp_path)
    array, merge = write_scripts(scripts, tmp_path / "slurm runs" / "slices.sbatch", tmp_path / "slurm runs")
    env = {"PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    elsewhere = tmp_path / "elsewhere"  # sbatch may be called from any folder; the script goes back to its own
    elsewhere.mkdir()

    # Array elements run at once, as on a cluster.
    running = [run_script(array, elsewhere, index=index, wait=False, **env) for index in range(3)]
    for index, process in enumerate(running):
        stdout, stderr = process.communicate(timeout=120)
        assert process.returncode == 0, stdout + stderr
        assert f"slice {index}/3 done" in stdout or (index == 2 and "kept no document" in stderr)
    assert sorted(p.name for p in (tmp_path / "slurm runs").glob("slice-*")) == ["slice-0", "slice-1", "slice-2"]
    done = run_script(merge, elsewhere, **env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert parquet_files(tmp_path / "merged") == parquet_files(single_run(tmp_path, pipeline))


def test_submit_says_in_one_line_when_sbatch_is_missing_or_fails(tmp_path):
    array, merge = tmp_path / "a.sbatch", tmp_path / "a-merge.sbatch"
    with pytest.raises(SlurmError, match="not found; run this on a Slurm login node") as missing:
        submit(array, merge, sbatch=str(tmp_path / "no-sbatch"))
    assert "\n" not in str(missing.value)

    # A stand-in sbatch (an outside program, not our code): it queues the array, then refuses the merge.
    sbatch = tmp_path / "sbatch"
    sbatch.write_text(
        '#!/bin/sh\necho "$@" >> "$0.calls"\ncase "$*" in *dependency*) echo "sbatch: error: Invalid partition" >&2;'
        " exit 1;; esac\necho '41;cluster'\n"
    )
    sbatch.chmod(0o755)
    with pytest.raises(SlurmError) as failed:
        submit(array, merge, sbatch=str(sbatch))
    message = str(failed.value)
    assert "\n" not in message and "Invalid partition" in message and "queued as job 41" in message
    assert f"sbatch --dependency=afterok:41 {merge}" in message
    calls = (tmp_path / "sbatch.calls").read_text().splitlines()
    assert calls == [f"--parsable {array}", f"--parsable --dependency=afterok:41 {merge}"]

    sbatch.write_text("#!/bin/sh\nsleep 5\n")
    with pytest.raises(SlurmError, match="no answer in 0.2s"):
        submit(array, merge, sbatch=str(sbatch), timeout=0.2)


def slurm_answers() -> bool:
    """A controller answers. Asked in the test, not at collection: without a slurm.conf, scontrol retries
    for a minute."""
    try:
        return subprocess.run(["scontrol", "ping"], capture_output=True, text=True, timeout=5).returncode == 0
    except subprocess.TimeoutExpired:
        return False


def job_fields(job_id: str) -> list[dict[str, str]]:
    """`scontrol show job` (no accounting database needed), one dict per job or array element."""
    shown = subprocess.run(["scontrol", "-o", "show", "job", job_id], capture_output=True, text=True, check=True)
    return [dict(f.split("=", 1) for f in line.split() if "=" in f) for line in shown.stdout.splitlines()]


@pytest.mark.skipif(not (shutil.which("sbatch") and shutil.which("scontrol")), reason="no Slurm client installed")
def test_a_real_slurm_runs_the_array_then_the_merge(tmp_path):
    if not slurm_answers():
        pytest.skip("no Slurm controller answers (scontrol ping); docs/slurm.md says how to start one")
    pipeline = write_inputs(tmp_path)
    runs = tmp_path / "runs"
    previous = Path.cwd()
    os.chdir(tmp_path)
    try:  # the jobs get this environment (PYTHONPATH included), as Slurm passes sbatch's on by default
        result = CliRunner().invoke(
            main, ["slurm", "job.yaml", "-n", "2", "--runs", "runs", "-o", "merged", "-c", "1", "--submit"],
            env={"PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])},
        )  # fmt: skip
    finally:
        os.chdir(previous)
    assert result.exit_code == 0, result.output
    words = result.output.split()
    array_id, merge_id = words[words.index("slices:") + 2], words[words.index("merge:") + 2]
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        jobs = job_fields(array_id) + job_fields(merge_id)
        if all(job["JobState"] in ("COMPLETED", "FAILED", "CANCELLED", "TIMEOUT") for job in jobs):
            break
        time.sleep(0.5)
    logs = "".join(p.read_text() for p in sorted((runs / "logs").glob("*.out")))
    slices = [job for job in jobs if job["JobId"] != merge_id]
    merged = next(job for job in jobs if job["JobId"] == merge_id)
    assert len(slices) == 2 and all(job["JobState"] == "COMPLETED" for job in jobs), (jobs, logs)
    assert merged["StartTime"] >= max(job["EndTime"] for job in slices)  # afterok: only once both ended
    assert (runs / "logs" / f"merge-{merge_id}.out").is_file()
    assert parquet_files(tmp_path / "merged") == parquet_files(single_run(tmp_path, pipeline))

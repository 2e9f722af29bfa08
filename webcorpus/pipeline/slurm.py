"""`webcorpus slurm`: the `--shard I/N` slices as one Slurm job array, and the `--merge` as a job that waits for it.

Two sbatch scripts: the array script runs `webcorpus run PIPELINE --shard $SLURM_ARRAY_TASK_ID/N` into
RUNS/slice-I (I zero-padded to the width of N-1, so the folders sort in slice order), and the merge script
runs `webcorpus run PIPELINE --merge 'RUNS/slice-*'` into OUTPUT; `submit` queues the merge with
`--dependency=afterok:` the array, so it starts only once every slice has finished.

Every value a user gives reaches the script through `shlex.quote` (the shell body) or `sbatch_value`
(the `#SBATCH` lines, which sbatch parses itself, not the shell), so a path with spaces, quotes or `$(...)`
stays one argument and never becomes a command. Paths are made absolute and the script changes to the
folder it was written from, because a job starts wherever sbatch was called and the YAML's relative paths
mean "from the folder you run webcorpus from". The interpreter is an absolute path too: compute nodes need
not have `webcorpus` on PATH, only the same shared filesystem.
"""

from __future__ import annotations

import glob
import os
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from webcorpus.atomic import atomic_path

# cli.EXIT_NOTHING_KEPT: a slice that kept nothing (or got no input file) is still a finished slice, and
# `--merge` accepts it; were it a failed array element, `afterok` would never let the merge start.
NOTHING_KEPT_STATUS = 3
SBATCH_TIMEOUT_S = 60  # one sbatch call; a controller that does not answer is an error, not a hang
SLICE_PREFIX = "slice-"


class SlurmError(RuntimeError):
    """sbatch is missing, failed, hung, or answered something that is not a job id; the message is one line."""


@dataclass(frozen=True)
class SlurmScripts:
    """The text of the two sbatch scripts."""

    array: str
    merge: str


def slice_name(index: int, slices: int) -> str:
    """The folder of slice `index` of `slices`: padded to one width so that a listing sorts in slice order."""
    return f"{SLICE_PREFIX}{index:0{len(str(slices - 1))}d}"


def sbatch_value(value: str) -> str:
    """`value` for an `#SBATCH --option=VALUE` line. sbatch reads these lines itself: double quotes group,
    a backslash escapes the next character, an unquoted `#` starts a comment, and a newline would end the
    line (and could start another directive), so it is refused."""
    if "\n" in value or "\r" in value or "\0" in value:
        raise ValueError(f"{value!r}: a line break cannot go into an #SBATCH line")
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _log_pattern(folder: Path, pattern: str) -> str:
    # Slurm expands %A, %a, %j... in --output: the folder's own % signs are doubled (%% is a literal one).
    return sbatch_value(str(folder).replace("%", "%%") + "/" + pattern)


def _directives(
    name: str, log: str, partition: str | None, time: str | None, cpus_per_task: int | None, mem: str | None
) -> list[str]:
    lines = [f"#SBATCH --job-name={sbatch_value(name)}", f"#SBATCH --output={log}"]
    if partition:
        lines.append(f"#SBATCH --partition={sbatch_value(partition)}")
    if time:
        lines.append(f"#SBATCH --time={sbatch_value(time)}")
    if cpus_per_task:
        lines.append(f"#SBATCH --cpus-per-task={cpus_per_task}")
    if mem:
        lines.append(f"#SBATCH --mem={sbatch_value(mem)}")
    return lines


def slurm_scripts(
    pipeline: str | os.PathLike[str],
    slices: int,
    runs: str | os.PathLike[str],
    output: str | os.PathLike[str],
    *,
    inputs: tuple[str, ...] | list[str] = (),
    workers: int | None = None,
    partition: str | None = None,
    time: str | None = None,
    cpus_per_task: int | None = None,
    mem: str | None = None,
    python: str | os.PathLike[str] | None = None,
    workdir: str | os.PathLike[str] | None = None,
    job_name: str = "webcorpus",
) -> SlurmScripts:
    """The array script (slice I of `slices` into RUNS/slice-I on array index I) and the merge script.

    `workers` defaults to `cpus_per_task` when that is given: webcorpus's own default is every core of the
    machine, which on a node shared by several array elements would oversubscribe it. `inputs` go to the
    slices and the merge alike, since `--merge` checks that every slice was cut from the same input list.
    Relative paths are taken from `workdir` (default: the current folder), where the jobs also run.
    """
    if slices < 1:
        raise ValueError(f"--slices {slices}: need at least 1")
    if workers is not None and workers < 1:
        raise ValueError(f"--workers {workers}: need at least 1")
    if cpus_per_task is not None and cpus_per_task < 1:
        raise ValueError(f"--cpus-per-task {cpus_per_task}: need at least 1")
    base = Path(workdir).absolute() if workdir is not None else Path.cwd()
    # absolute, not resolve: a virtualenv's python is a symlink whose target would not find the venv.
    interpreter = Path(python) if python is not None else Path(sys.executable)
    interpreter = interpreter if interpreter.is_absolute() else base / interpreter
    if "://" in str(runs):
        raise ValueError(f"--runs {runs}: must be a folder the nodes share (Slurm writes the logs there)")
    pipeline_path, runs_dir = (p if p.is_absolute() else base / p for p in map(Path, (pipeline, runs)))
    # An s3:// output stays a URL (Path would fold its //); a folder is made absolute.
    output_dir = str(output) if "://" in str(output) or Path(output).is_absolute() else str(base / output)
    logs = runs_dir / "logs"
    workers = workers or cpus_per_task

    common: list[str] = []
    for item in inputs:
        common += ["--input", item]
    if workers:
        common += ["--workers", str(workers)]
    common.append("--no-progress")
    tail = " ".join(shlex.quote(arg) for arg in common)
    run = f"{shlex.quote(str(interpreter))} -m webcorpus.cli run {shlex.quote(str(pipeline_path))}"
    resources = (partition, time, cpus_per_task, mem)
    prologue = [
        "# Written by `webcorpus slurm`; the environment of sbatch (AWS_*, HF_*, ...) reaches the job.",
        "set -euo pipefail",
        f"cd -- {shlex.quote(str(base))}",
    ]
    array = [
        "#!/bin/bash",
        *_directives(f"{job_name}-slices", _log_pattern(logs, "slices-%A_%a.out"), *resources),
        f"#SBATCH --array=0-{slices - 1}",
        *prologue,
        ': "${SLURM_ARRAY_TASK_ID:?not set: submit this script with sbatch, or set it to the slice index}"',
        f"printf -v slice '{SLICE_PREFIX}%0*d' {len(str(slices - 1))} \"$SLURM_ARRAY_TASK_ID\"",
        "status=0",
        f'{run} --shard "$SLURM_ARRAY_TASK_ID/{slices}" --output {shlex.quote(str(runs_dir))}/"$slice" {tail}'
        " || status=$?",
        f'if [ "$status" -eq {NOTHING_KEPT_STATUS} ]; then',
        '    echo "slice $SLURM_ARRAY_TASK_ID kept no document; it is finished, and the merge takes it" >&2',
        "    status=0",
        "fi",
        'exit "$status"',
    ]
    # The slices' folders as a glob for --merge; webcorpus expands it, so RUNS itself is escaped.
    slices_glob = glob.escape(str(runs_dir)) + f"/{SLICE_PREFIX}*"
    merge = [
        "#!/bin/bash",
        *_directives(f"{job_name}-merge", _log_pattern(logs, "merge-%j.out"), *resources),
        *prologue,
        f"exec {run} --merge {shlex.quote(slices_glob)} --output {shlex.quote(output_dir)} {tail}",
    ]
    return SlurmScripts(array="\n".join(array) + "\n", merge="\n".join(merge) + "\n")


def merge_script_path(array_script: str | os.PathLike[str]) -> Path:
    """Where the merge script goes beside the array script FILE: FILE's stem + `-merge`, same suffix."""
    path = Path(array_script)
    return path.with_name(f"{path.stem}-merge{path.suffix}")


def write_scripts(
    scripts: SlurmScripts, array_script: str | os.PathLike[str], runs: str | os.PathLike[str]
) -> tuple[Path, Path]:
    """Write both scripts whole or not at all (executable), and make RUNS/logs: Slurm does not create the
    folder of `--output`, and a job whose log cannot be opened fails without a word."""
    array_path = Path(array_script).absolute()
    merge_path = merge_script_path(array_path)
    (Path(runs).absolute() / "logs").mkdir(parents=True, exist_ok=True)
    for path, text in ((array_path, scripts.array), (merge_path, scripts.merge)):
        with atomic_path(path) as tmp:
            tmp.write_text(text, encoding="utf-8")
            tmp.chmod(0o755)
    return array_path, merge_path


def sbatch_commands(array_script: Path, merge_script: Path) -> list[str]:
    """The two shell commands that do what `submit` does, for a login node where webcorpus is not run."""
    return [
        f"jobid=$(sbatch --parsable {shlex.quote(str(array_script))})",
        f'sbatch --dependency=afterok:"${{jobid%%;*}}" {shlex.quote(str(merge_script))}',
    ]


def _sbatch(args: list[str], sbatch: str, timeout: float) -> str:
    command = [sbatch, "--parsable", *args]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    except FileNotFoundError:
        raise SlurmError(f"{sbatch}: not found; run this on a Slurm login node, or drop --submit") from None
    except subprocess.TimeoutExpired:
        raise SlurmError(f"{shlex.join(command)}: no answer in {timeout:g}s (is slurmctld up?)") from None
    if done.returncode != 0:
        lines = [line.strip() for line in done.stderr.splitlines() if line.strip()]
        raise SlurmError(f"{shlex.join(command)} failed (exit {done.returncode}): {lines[-1] if lines else '?'}")
    job_id = done.stdout.strip().split(";")[0]  # --parsable prints "JOBID" or "JOBID;CLUSTER"
    if not job_id.isdigit():
        raise SlurmError(f"{shlex.join(command)}: expected a job id, got {done.stdout.strip()!r}")
    return job_id


def submit(
    array_script: str | os.PathLike[str],
    merge_script: str | os.PathLike[str],
    *,
    sbatch: str = "sbatch",
    timeout: float = SBATCH_TIMEOUT_S,
) -> tuple[str, str]:
    """Queue the array, then the merge with `afterok` on it; return both job ids. If the merge cannot be
    queued, the error names the array job already queued and the command that queues the merge."""
    array_id = _sbatch([str(array_script)], sbatch, timeout)
    dependency = f"--dependency=afterok:{array_id}"
    try:
        merge_id = _sbatch([dependency, str(merge_script)], sbatch, timeout)
    except SlurmError as error:
        raise SlurmError(
            f"{error}; the slices are queued as job {array_id}: queue the merge with "
            f"`sbatch {dependency} {shlex.quote(str(merge_script))}`"
        ) from None
    return array_id, merge_id

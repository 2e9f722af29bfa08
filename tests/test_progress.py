"""Progress that tells the truth: a document pass's live counts end at the table's totals, a shell pipe
counts on a terminal only, the run's table gives wall and CPU time apart, and `--help` stays light."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import CLI, REPO, html_page, many_pages

from webcorpus.document import Document, write_jsonl

STEPS = """\
  - read_warc: {}
  - gopher_quality: {}
  - write_parquet: {}
"""


def pages(count: int, start: int = 0) -> list:
    """`count` pages gopher_quality keeps and, after every other one, one too short for it."""
    short = [html_page(f"https://example.com/short/{start + i}", ["Too short to keep."]) for i in range(count)]
    return [page for pair in zip(many_pages(count, start), short) for page in pair]


def pipeline(tmp_path: Path) -> Path:
    path = tmp_path / "pipeline.yaml"
    path.write_text(f"input: {tmp_path / 'in' / '*.warc.gz'}\noutput: {tmp_path / 'out'}\nsteps:\n{STEPS}")
    return path


class Recorder:
    """A task's `counts`: every report it makes."""

    def __init__(self) -> None:
        self.calls: list[tuple[int, int]] = []

    def add(self, read: int, kept: int) -> None:
        self.calls.append((read, kept))


def test_a_task_reports_while_it_reads_and_its_reports_sum_to_its_stats(tmp_path, make_warc, monkeypatch):
    from webcorpus.pipeline import tasks
    from webcorpus.pipeline.config import load_pipeline
    from webcorpus.pipeline.plan import plan
    from webcorpus.pipeline.run_folder import Folder

    monkeypatch.setattr(tasks, "PROGRESS_EVERY", 4)
    make_warc("in/0.warc.gz", pages(15))
    config = load_pipeline(pipeline(tmp_path))
    _, passes = plan(config, Folder(config.output))
    runner = tasks.DocumentPassRunner(passes[0])
    counts = Recorder()
    stats = runner.run_task(tasks.Task(0, tmp_path / "in" / "0.warc.gz"), counts)
    assert len(counts.calls) > 2  # reported within the file, not only at its end
    assert sum(read for read, _ in counts.calls) == stats[0]["documents_in"]
    assert sum(kept for _, kept in counts.calls) == stats[-1]["kept"]
    assert 0 < stats[-1]["kept"] < stats[0]["documents_in"]  # the two counts differ, so they cannot be swapped
    assert all(step["cpu_s"] >= 0 and "startup_s" in step for step in stats)


@pytest.mark.parametrize("workers", [1, 2])
def test_the_pass_progress_ends_at_the_tables_read_and_kept(tmp_path, make_warc, monkeypatch, workers):
    from webcorpus.pipeline import runner
    from webcorpus.pipeline.config import load_pipeline
    from webcorpus.pipeline.executors import LocalExecutor

    for i in range(3):
        make_warc(f"in/{i}.warc.gz", pages(3, start=i * 3))
    shown: list = []
    original = runner.PassProgress

    class Watched(original):  # type: ignore[misc, valid-type]
        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            shown.append(self)

    monkeypatch.setattr(runner, "PassProgress", Watched)
    config = load_pipeline(pipeline(tmp_path))
    executor = LocalExecutor(workers, start_method="fork")
    try:
        result = runner.run_pipeline(config, workers=workers, progress=True, executor=executor)
    finally:
        executor.close()
    (progress,) = shown
    assert (progress.read, progress.kept) == (result.steps[0].stats.documents_in, result.steps[-1].stats.kept)
    assert progress.read != progress.kept and progress.files_done == 3
    assert "files 3/3" in str(progress.bar) and f"kept {progress.kept}" in str(progress.bar)


def test_a_resumed_pass_counts_the_files_done_before(tmp_path, make_warc):
    from webcorpus.pipeline import runner
    from webcorpus.pipeline.config import load_pipeline

    for i in range(2):
        make_warc(f"in/{i}.warc.gz", pages(3, start=i * 3))
    config = load_pipeline(pipeline(tmp_path))
    first = runner.run_pipeline(config, workers=1, progress=False)
    (tmp_path / "out" / ".progress" / "00001.json").unlink()
    shown: list = []
    original = runner.PassProgress
    runner.PassProgress = lambda *a, **k: shown.append(original(*a, **k)) or shown[-1]  # type: ignore[assignment]
    try:
        runner.run_pipeline(config, workers=1, progress=True)
    finally:
        runner.PassProgress = original  # type: ignore[misc]
    assert (shown[0].read, shown[0].kept) == (first.steps[0].stats.documents_in, first.steps[-1].stats.kept)


def test_the_table_gives_wall_and_cpu_seconds_and_stats_json_keeps_them(tmp_path, make_warc):
    from webcorpus.pipeline import runner
    from webcorpus.pipeline.config import load_pipeline

    make_warc("in/0.warc.gz", pages(3))
    config = load_pipeline(pipeline(tmp_path))
    result = runner.run_pipeline(config, workers=1, progress=False)
    table = runner.format_table(result)
    header = table.splitlines()[0].split()
    assert header[:7] == ["step", "in", "kept", "dropped", "wall", "s", "cpu"]
    assert "seconds" not in table and table.splitlines()[-1].startswith("total")
    steps = json.loads((tmp_path / "out" / "stats.json").read_text())["steps"]
    assert all({"time_s", "wall_s", "cpu_s", "startup_s"} <= set(step) for step in steps)
    assert sum(step["wall_s"] for step in steps) <= result.wall_s


def test_the_table_names_a_slow_start_up(tmp_path):
    from webcorpus.pipeline.runner import RunResult, StepReport, format_table
    from webcorpus.pipeline.step import StageStats

    slow = StepReport("pii", "filter", False, StageStats(documents_in=5, kept=5, cpu_s=9.0, startup_s=40.0), wall_s=28)
    quick = StepReport("read_warc", "read", False, StageStats(documents_in=5, kept=5, startup_s=0.2), wall_s=1)
    table = format_table(RunResult([quick, slow], 1, 0, [], str(tmp_path), str(tmp_path), 30.0))
    assert "start-up" in table and "pii 40.0 s" in table and "read_warc 0.2" not in table


def jsonl(tmp_path: Path, count: int) -> Path:
    path = tmp_path / "in.jsonl"
    with path.open("w") as out:
        documents = [Document(str(i), f"https://example.com/{i}", "word " * (i % 7)) for i in range(count)]
        write_jsonl(documents, out)
    return path


def run_pipe(arguments: list[str], stdin: Path, stderr_terminal: bool) -> tuple[bytes, bytes]:
    """`webcorpus ARGUMENTS < stdin`: (stdout, stderr), stderr a pseudo-terminal or a pipe."""
    environment = {**os.environ, "PYTHONPATH": str(REPO)}
    if not stderr_terminal:
        done = subprocess.run([*CLI, *arguments], stdin=stdin.open("rb"), capture_output=True, env=environment)
        return done.stdout, done.stderr
    import pty

    leader, follower = pty.openpty()
    process = subprocess.Popen([*CLI, *arguments], stdin=stdin.open("rb"), stdout=subprocess.PIPE, stderr=follower,
                               env=environment)  # fmt: skip
    os.close(follower)
    err = b""
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        err += chunk
    stdout = process.stdout.read() if process.stdout else b""
    process.wait()
    os.close(leader)
    return stdout, err


@pytest.mark.parametrize("command", [["url-filter"], ["exact-dedup"]])
def test_a_pipe_counts_on_a_terminal_only_and_stdout_stays_the_same(tmp_path, command):
    source = jsonl(tmp_path, 50)
    out_file, err_file = run_pipe(command, source, stderr_terminal=False)
    out_terminal, err_terminal = run_pipe(command, source, stderr_terminal=True)
    assert out_file == out_terminal and out_file.count(b"\n") > 0
    assert b"\r" not in err_file and b"\x1b" not in err_file and b" in, " in err_file  # the report line alone
    # Drawn over itself, then erased before the report line.
    assert re.search(rb"\r\x1b\[K(url_filter|exact_dedup): \d+ in, \d+ kept", err_terminal)
    assert re.search(rb"\r\x1b\[K(url_filter|exact_dedup): \d+ in, \d+ kept, dropped", err_terminal)


def test_help_imports_no_step_library():
    code = (
        "import sys; from click.testing import CliRunner; from webcorpus.cli import main\n"
        "for arguments in (['--help'], ['run', '--help']):\n"
        "    assert CliRunner().invoke(main, arguments).exit_code == 0\n"
        "heavy = ('trafilatura', 'pyarrow', 'torch', 'datasketch', 'presidio_analyzer')\n"
        "print(','.join(m for m in heavy if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                          env={**os.environ, "PYTHONPATH": str(REPO)})  # fmt: skip
    assert done.stdout.strip() == ""


def test_help_lists_every_step_with_its_summary():
    from click.testing import CliRunner

    from webcorpus.cli import main
    from webcorpus.pipeline.registry import STEPS, step_class, step_summary

    text = CliRunner().invoke(main, ["--help"], terminal_width=200).output
    for name in STEPS:
        assert step_summary(name) == step_class(name).summary
        assert name.replace("_", "-") in text

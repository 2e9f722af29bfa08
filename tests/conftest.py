from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

# The sample-WARC helpers import warcio; imported where used, so that the GPU tests run where only the
# trainer's dependencies are installed.

REPO = Path(__file__).resolve().parent.parent
SHARED_WARC = REPO.parent / "shared" / "data" / "warc"
CLI = [sys.executable, "-m", "webcorpus.cli"]


def output_files(folder: Path) -> dict[Path, bytes]:
    """A step's (or run's) output files by path, without its bookkeeping (`.progress/`, `.work/`) and the
    files that describe a run (stats.json, report.html, pipeline.yaml: times and folders differ)."""
    return {
        p.relative_to(folder): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
        and not any(part.startswith(".") for part in p.relative_to(folder).parts)
        and p.name not in ("stats.json", "report.html", "pipeline.yaml")
    }


def run_corpus_step(step, source: Path, target: Path, workers: int = 1):
    """`step.run_corpus` over `source` into `target` on a local executor of `workers`, closed after."""
    from webcorpus.pipeline.executors import CorpusContext

    context = CorpusContext.local(workers)
    try:
        return step.run_corpus([source], target, context)
    finally:
        context.executor.close()


def kill_run_when(arguments: list, ready: Callable[[], bool]) -> None:
    """Start `webcorpus ARGUMENTS` in its own process group and SIGKILL the whole group as soon as `ready()`
    holds (a state of its run folder, never a duration); fails if the run finished first."""
    process = subprocess.Popen([*CLI, *map(str, arguments)], start_new_session=True,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    while process.poll() is None and not ready():
        time.sleep(0.002)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL, "the run finished before it could be killed"


def html_page(url: str, paragraphs: list[str] | None = None, **kwargs):
    from webcorpus.testing.sample_warc import ENGLISH, Page, article

    title, default = next(iter(ENGLISH.values()))
    return Page(url, article(url.split("/")[2], title, paragraphs or default).encode("utf-8"), **kwargs)


def many_pages(count: int, start: int = 0) -> list:
    """Distinct English pages (the article text varies with the index)."""
    from webcorpus.testing.sample_warc import ENGLISH, Page, article

    articles = list(ENGLISH.values())
    pages = []
    for i in range(start, start + count):
        title, paragraphs = articles[i % len(articles)]
        varied = [f"Part {i}. {p} This note was written for page number {i}." for p in paragraphs]
        url = f"https://site{i % 7}.example.org/articles/{i}"
        pages.append(Page(url, article(f"site{i % 7}.example.org", f"{title} {i}", varied).encode("utf-8")))
    return pages


@pytest.fixture
def sample_dir(tmp_path: Path) -> Path:
    from webcorpus.testing.sample_warc import write_sample

    folder = tmp_path / "sample"
    write_sample(folder)
    return folder


@pytest.fixture
def make_warc(tmp_path: Path):
    from webcorpus.testing.sample_warc import write_warc

    def make(name: str, pages: list) -> Path:
        path = tmp_path / name
        write_warc(path, pages)
        return path

    return make


def shared_warc(name: str) -> Path:
    path = SHARED_WARC / name
    if not path.exists():
        pytest.skip(f"{path} not present (shared development data)")
    return path


def copy_pipeline(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "pipeline.yaml"
    path.write_text(text)
    return path


__all__ = ["html_page", "many_pages", "shared_warc", "copy_pipeline", "REPO", "shutil"]

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from webcorpus.testing.sample_warc import ENGLISH, Page, article, write_sample, write_warc

REPO = Path(__file__).resolve().parent.parent
SHARED_WARC = REPO.parent / "shared" / "data" / "warc"


def html_page(url: str, paragraphs: list[str] | None = None, **kwargs) -> Page:
    title, default = next(iter(ENGLISH.values()))
    return Page(url, article(url.split("/")[2], title, paragraphs or default).encode("utf-8"), **kwargs)


def many_pages(count: int, start: int = 0) -> list[Page]:
    """Distinct English pages (the article text varies with the index)."""
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
    folder = tmp_path / "sample"
    write_sample(folder)
    return folder


@pytest.fixture
def make_warc(tmp_path: Path):
    def make(name: str, pages: list[Page]) -> Path:
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

"""extract: main text from HTML with trafilatura, FineWeb's settings by default."""

from __future__ import annotations

import trafilatura
from trafilatura.deduplication import LRU_TEST

from webcorpus.document import Document
from webcorpus.pipeline.drops import compared, dropped
from webcorpus.pipeline.step import Filter
from webcorpus.stages import trafilatura_xpath
from webcorpus.stages.timelimit import TimeLimitExceeded, TimeLimitUnavailable, time_limit


class TrafilaturaExtractor(Filter):
    """trafilatura's main text, with FineWeb's settings (`favor_precision`, no comments). Pages with no
    text are dropped (`no_text`), pages slower than `timeout` too (`timeout`). trafilatura's paragraph
    memory (`deduplicate`) is reset at each input file, so a file's output never depends on scheduling.
    With `python_selectors`, trafilatura's regex XPath expressions run as Python selectors that pick the
    same elements (webcorpus/stages/trafilatura_xpath.py): the same texts, in less time."""

    name = "extract"
    summary = "Extract the main text of each HTML page with trafilatura; drop pages with none."
    drop_reasons = {
        "too_large": "The HTML is longer than max_characters: not parsed at all.",
        "timeout": "Extraction took longer than the timeout: pathological markup.",
        "extract_error": "trafilatura failed on the page's markup.",
        "no_text": "trafilatura found no main text: an empty page, a redirect, only navigation or media.",
    }
    option_minimum = {"timeout": 0, "max_characters": 1}
    option_help = {
        "favor_precision": "Prefer less text but less boilerplate (FineWeb's setting).",
        "favor_recall": "Prefer more text, even with some boilerplate.",
        "include_comments": "Keep user comments below the article.",
        "include_tables": "Keep text found in tables.",
        "deduplicate": "Drop paragraphs trafilatura has already seen many times in this input file.",
        "timeout": "CPU seconds one page may take before it is dropped as 'timeout' (0: no limit).",
        "max_characters": "Drop a page whose HTML is longer than this, before parsing it ('too_large').",
        "python_selectors": "Run trafilatura's regex XPath expressions as Python selectors that pick the same "
        "elements, in less time (false: trafilatura exactly as installed).",
    }

    def __init__(
        self,
        favor_precision: bool = True,
        favor_recall: bool = False,
        include_comments: bool = False,
        include_tables: bool = True,
        deduplicate: bool = True,
        timeout: float = 5.0,
        max_characters: int = 10_000_000,
        python_selectors: bool = True,
    ) -> None:
        super().__init__()
        self.max_characters = max_characters
        self.settings = dict(
            favor_precision=favor_precision,
            favor_recall=favor_recall,
            include_comments=include_comments,
            include_tables=include_tables,
            deduplicate=deduplicate,
        )
        self.timeout = timeout
        self.python_selectors = python_selectors

    def start_task(self) -> None:
        super().start_task()
        # trafilatura's deduplication remembers paragraphs across calls (in this LRU, its only
        # state that changes output); forgetting them at each file makes a file's output
        # independent of which files the worker saw before.
        LRU_TEST.clear()
        # trafilatura's expressions are module state: set them here, in the worker, for every file
        if self.python_selectors:
            trafilatura_xpath.install()
        else:
            trafilatura_xpath.uninstall()

    def filter(self, document: Document) -> str | None:
        if len(document.text) > self.max_characters:  # before parsing: lxml's memory and time follow the size
            self.stats.errors["too_large"] += 1
            return dropped(document, "too_large", compared("characters", len(document.text), ">", self.max_characters))
        try:
            with time_limit(self.timeout):
                text = trafilatura.extract(document.text, **self.settings)
        except TimeLimitExceeded:
            self.stats.errors["timeout"] += 1
            return dropped(document, "timeout", f"over {self.timeout:g} CPU seconds")
        except TimeLimitUnavailable:
            raise  # not a property of the page: the run must stop, not drop every page
        except Exception as error:  # trafilatura raises on some malformed markup; the page goes, not the run
            self.stats.errors["extract_error"] += 1
            return dropped(document, "extract_error", f"{type(error).__name__}: {str(error)[:200]}")
        if not text or not text.strip():
            return dropped(document, "no_text", "no main text found" if text is None else "only whitespace found")
        document.text = text
        return None

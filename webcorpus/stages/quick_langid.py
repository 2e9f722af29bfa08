"""quick_langid: before extraction, drop pages with no stretch of text in the wanted languages.

Extraction (trafilatura) is most of the first stage's time, and with FineWeb's English-only `langid` most
extracted pages are thrown away right after. This step looks at the page's visible text cheaply (scripts,
styles, the title and comments skipped, tags stripped, with regular expressions: no HTML parse), cut at
block-level tags into stretches of about `window_characters`, and runs the same fastText model on each
stretch in page order. A page goes on to extraction as soon as one stretch scores `threshold` or more for a
listed language; only a page where text was found and no stretch does is dropped. An English article on a
German site has English stretches and goes on, where the page as a whole would score German. How the
default threshold was chosen, and what it costs and saves: docs/benchmarks.md. With no languages listed
the step passes everything and does no work.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator

from webcorpus.document import Document
from webcorpus.pipeline.drops import compared, dropped
from webcorpus.pipeline.step import Filter
from webcorpus.stages.langid import load_language_model

# Where a block of visible text ends: an element a browser does not show as text (its content runs to its
# closing tag, or to the end of the page if there is none), a comment, or a block-level tag. `[^<>]*`
# rather than `[^>]*` in tags, so a page of unclosed `<p` costs linear time, not quadratic.
BLOCK_END = re.compile(
    r"<(script|style|title)\b[^<>]*>|<!--"
    r"|<(?:/?(?:p|div|li|td|th|tr|h[1-6]|article|section|header|footer|nav|ul|ol|table|blockquote|pre|dd|dt|dl"
    r"|option|form|main|aside|figcaption|figure|body|head|html)\b|br\b)[^<>]*>",
    re.IGNORECASE,
)
HIDDEN_END = {name: re.compile(rf"</{name}\b[^<>]*>", re.IGNORECASE) for name in ("script", "style", "title")}
TAG = re.compile(r"<[^<>]*>")
LANGUAGES_NAMED = 3  # in the detail of a drop: the languages the most stretches were found in


def visible_blocks(page: str) -> Iterator[str]:
    """The page's text between block ends, in order, tags and all; lazily, one search per block end."""
    position = 0
    while (found := BLOCK_END.search(page, position)) is not None:
        yield page[position : found.start()]
        position = found.end()
        if found.group(1):
            hidden_end = HIDDEN_END[found.group(1).lower()].search(page, position)
            position = hidden_end.end() if hidden_end else len(page)
        elif found.group() == "<!--":
            comment_end = page.find("-->", position)
            position = comment_end + 3 if comment_end >= 0 else len(page)
    yield page[position:]


def text_stretches(page: str, window_characters: int) -> Iterator[str]:
    """The page's visible text in page order, in stretches of at least `window_characters` (the last may
    be shorter), each made of whole blocks, whitespace collapsed, character references decoded. Lazy:
    a caller that stops early has not paid for the rest of the page."""
    pending: list[str] = []
    length = 0
    for block in visible_blocks(page):
        if "<" in block:
            block = TAG.sub(" ", block)
        text = " ".join((html.unescape(block) if "&" in block else block).split())
        if not text:
            continue
        pending.append(text)
        length += len(text) + 1
        if length >= window_characters:
            yield " ".join(pending)
            pending, length = [], 0
    if pending:
        yield " ".join(pending)


class QuickLanguageFilter(Filter):
    """Drops an HTML page (`language`) when no stretch of its visible text is in a listed language with
    at least `threshold` probability (fastText lid.176, as in langid). Goes before `extract`, so pages that
    `langid` would drop after extraction are not extracted; it keeps every page `langid` keeps on the
    development pages, with a wide margin (docs/benchmarks.md)."""

    name = "quick_langid"
    summary = "Before extraction, drop pages with no stretch of visible text in the listed languages."
    drop_reasons = {
        "language": "Before extraction: no stretch of the page's visible text is in a listed language.",
    }
    option_minimum = {"threshold": 0, "window_characters": 1}
    option_help = {
        "languages": "Language codes to look for (as in langid); empty passes every page and does no work.",
        "threshold": "A page goes on once one stretch scores at least this for a listed language.",
        "window_characters": "Length of the stretches of visible text that are scored.",
        "model": "A fastText language-ID model file (default: the bundled lid.176.ftz).",
    }

    def __init__(
        self,
        languages: list[str] | None = None,
        threshold: float = 0.3,
        window_characters: int = 300,
        model: str | None = None,
    ) -> None:
        super().__init__()
        self.labels = {f"__label__{language}" for language in languages or []}
        self.model = load_language_model(model) if self.labels else None
        self.threshold = threshold
        self.window_characters = window_characters

    def filter(self, document: Document) -> str | None:
        if self.model is None:
            return None
        judged = 0
        best: float | None = None  # the best score of a stretch found in a listed language, for the drop's detail
        found: dict[str, int] = {}  # stretches per language found, for the detail
        for stretch in text_stretches(document.text, self.window_characters):
            labels, scores = self.model.predict(stretch, k=1)
            if labels and labels[0] in self.labels:
                if scores[0] >= self.threshold:
                    return None
                best = max(best or 0.0, float(scores[0]))
            if labels:
                judged += 1
                language = labels[0].removeprefix("__label__")
                found[language] = found.get(language, 0) + 1
        # Dropped only on evidence: a page with no visible text found here goes on to extraction.
        if not judged:
            return None
        ranked = sorted(found.items(), key=lambda item: (-item[1], item[0]))[:LANGUAGES_NAMED]
        languages = ", ".join(f"{language} {count}" for language, count in ranked)
        wanted = ", ".join(sorted(label.removeprefix("__label__") for label in self.labels))
        if best is None:
            detail = f"no stretch in {wanted} ({judged} stretches found in: {languages})"
        else:
            detail = compared(f"best {wanted} score of {judged} stretches", best, "<", self.threshold)
            detail += f" (found in: {languages})"
        return dropped(document, "language", detail)

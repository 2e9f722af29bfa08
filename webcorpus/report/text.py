"""Strings from a run's data (URLs, hosts, drop reasons, paths, messages), made safe to show: clipped to a
bounded length, and with control characters escaped so that none reaches a terminal as a command."""

from __future__ import annotations

ELLIPSIS = "…"


def clip(text: str, limit: int) -> str:
    """`text`, or its first characters and an ellipsis: never longer than `limit`."""
    return text if len(text) <= limit else text[: limit - 1] + ELLIPSIS


def printable(text: str, keep: str = "") -> str:
    """Control and other unprintable characters (ESC, CR, BS, C1 controls, bidi overrides) written as Python
    escapes (`\\x1b`), but for those in `keep` (say, the newlines and tabs of a document's text)."""
    return "".join(c if c.isprintable() or c in keep else repr(c)[1:-1] for c in text)


def shown(text: object, limit: int) -> str:
    """A string from data as one line to show: clipped, then escaped (a clipped escape stays whole)."""
    return printable(clip(str(text), limit))


# A page dropped before extraction is HTML; the report shows what a reader of the page would see. Only the
# page's first characters are parsed, so a sample of a 10 MB page costs what one of a 50 KB page does.
HTML_CHARACTERS_READ = 65_536
HIDDEN_TAGS = ("script", "style", "noscript", "template", "svg", "head")
BLOCK_TAGS = frozenset(
    "p div li td th tr h1 h2 h3 h4 h5 h6 article section header footer nav ul ol table blockquote pre dd dt dl "
    "option form main aside figcaption figure body br hr title".split()
)


def looks_like_html(text: str) -> bool:
    """Whether a document's text is a page's markup rather than extracted text."""
    start = text[:200].lstrip("\ufeff \t\r\n").lower()
    return start.startswith(("<!doctype", "<html", "<?xml", "<head", "<body", "<!--"))


def visible_text(page: str, limit: int) -> str:
    """The text a browser would show of `page` (its first HTML_CHARACTERS_READ characters), one line per
    block, whitespace collapsed, at most `limit` characters: the title, then the body without scripts,
    styles or comments. lxml's HTML parser takes any markup, broken or cut short; "" if it gives nothing."""
    from lxml import etree
    from lxml import html as lxml_html

    try:
        root = lxml_html.document_fromstring(
            page[:HTML_CHARACTERS_READ].encode("utf-8", "replace"), parser=lxml_html.HTMLParser(encoding="utf-8")
        )
    except (etree.LxmlError, ValueError):
        return ""
    title = root.findtext(".//title") or ""
    for element in list(root.iter(*HIDDEN_TAGS)):
        if element.getparent() is not None:
            element.drop_tree()
    for element in root.iter(*BLOCK_TAGS):
        element.tail = "\n" + (element.tail or "")
    lines = (" ".join(line.split()) for line in [title, *root.text_content().splitlines()])
    return clip("\n".join(line for line in lines if line), limit)

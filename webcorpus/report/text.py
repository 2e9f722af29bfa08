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

"""Strings from a run's data (URLs, hosts, drop reasons, paths, messages), made safe to show: clipped to a
bounded length, and with control characters escaped so that none reaches a terminal as a command."""

from __future__ import annotations

ELLIPSIS = "…"


def clip(text: str, limit: int) -> str:
    """`text`, or its first characters and an ellipsis: never longer than `limit`."""
    return text if len(text) <= limit else text[: limit - 1] + ELLIPSIS


def printable(text: str) -> str:
    """Control and other unprintable characters (ESC, CR, BS, C1 controls) written as Python escapes: `\\x1b`."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def shown(text: object, limit: int) -> str:
    """A string from data as one line to show: clipped, then escaped (a clipped escape stays whole)."""
    return printable(clip(str(text), limit))

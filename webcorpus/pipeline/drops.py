"""What a filter records beside a drop's reason: the value it measured against the threshold it applied
(`metadata.drop_detail`, e.g. "mean word length 1.02 < 3"), so that a dropped document in `removed/` and in
the report says how far it missed, not only which rule it missed.

A filter computes the value anyway to decide; writing it costs one string per dropped document, and kept
documents are left untouched (their metadata, and so the finished corpus, do not change).
"""

from __future__ import annotations

import math

from webcorpus.document import Document

DETAIL = "drop_detail"
MOST_DECIMALS = 6


def number(value: float | int) -> str:
    """A threshold as a person wrote it: `3`, `0.65`, `100,000`."""
    if isinstance(value, int) or (isinstance(value, float) and value.is_integer() and abs(value) < 1e15):
        return f"{int(value):,}"
    return f"{value:g}"


def compared(measure: str, measured: float | int, op: str, threshold: float | int) -> str:
    """`measure measured op threshold`, the measured value with as few decimals (two at least) as keep it
    apart from the threshold: 0.30001 > 0.3 is not written "0.30 > 0.3"."""
    if isinstance(measured, int) or not math.isfinite(measured):
        shown = number(measured) if isinstance(measured, int) else str(measured)
    else:
        for decimals in range(2, MOST_DECIMALS + 1):
            shown = f"{measured:,.{decimals}f}"
            if round(measured, decimals) != round(float(threshold), decimals):
                break
    return f"{measure} {shown} {op} {number(threshold)}"


def dropped(document: Document, reason: str, detail: str) -> str:
    """Record `detail` on a document about to be dropped for `reason`; returns the reason, so a filter
    writes `return dropped(document, "short_doc", compared("words", n, "<", minimum))`."""
    document.metadata[DETAIL] = detail
    return reason

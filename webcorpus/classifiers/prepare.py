"""The text a fastText classifier sees: the same preparation for training and for scoring."""

from __future__ import annotations

from typing import Literal

Newlines = Literal["space", "dclm"]
# fastText's cost grows with the text, and a quality verdict on a page's first 100,000 characters is the
# verdict on the page: a multi-megabyte page (a log, a data dump) would otherwise hold a worker for long.
DEFAULT_MAX_CHARACTERS = 100_000


def prepare_text(
    text: str, lowercase: bool = False, newlines: Newlines = "space", max_characters: int | None = None
) -> str:
    """`text` clipped to `max_characters`, newlines handled (fastText predicts one line: a newline would end
    its input), lowercased if asked.

    `newlines="space"` replaces each "\\n" by a space (as datatrove does); `"dclm"` strips the text and joins
    its lines with single spaces (as DCLM's enricher does: `" ".join(text.strip().splitlines())`).
    """
    if max_characters is not None:
        text = text[:max_characters]
    if newlines == "dclm":
        text = " ".join(text.strip().splitlines())
    else:
        text = text.replace("\n", " ")
    return text.lower() if lowercase else text

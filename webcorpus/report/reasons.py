"""What each drop reason means, in one line, for the report: a reason such as `few_stop_words` names a rule;
a reader of the report should not need the source to know what the rule keeps out.

Each step declares its own reasons (`Step.drop_reasons`), so adding a step adds its meanings. UNDECLARED
holds those of steps whose class does not declare them yet; a step's own declaration wins.
"""

from __future__ import annotations

from webcorpus.pipeline.registry import STEPS, step_class

UNDECLARED: dict[str, dict[str, str]] = {
    "read_warc": {
        "repeated_record": "A WARC record with the same record id as an earlier one in the file.",
        "no_http_headers": "The record holds no HTTP response headers to read.",
        "http_status": "The HTTP status was not 200: an error page, a redirect, nothing to keep.",
        "content_type": "Not one of the content types listed (HTML by default): an image, a PDF, a script.",
        "too_large": "The response body is larger than the reader's limit.",
        "truncated_record": "The crawler cut the response short (WARC-Truncated): the page is incomplete.",
        "header_too_large": "The HTTP headers are larger than the reader's limit: a damaged or hostile record.",
    },
    "minhash_dedup": {
        "near_duplicate": "A near-duplicate (MinHash) of a document that stays; metadata.duplicate_of names it.",
    },
}


def declared(step: str) -> dict[str, str]:
    """Step `step`'s reasons and their meanings (empty for a step that is not registered)."""
    table = dict(UNDECLARED.get(step, {}))
    if step in STEPS:
        table.update(step_class(step).drop_reasons)
    return table


def meaning(step: str, reason: str) -> str | None:
    """What dropping for `reason` at `step` means; None when the step does not declare it."""
    table = declared(step)
    if reason in table:
        return table[reason]
    prefixes = [key for key in table if key.endswith(":") and reason.startswith(key)]
    return table[max(prefixes, key=len)] if prefixes else None

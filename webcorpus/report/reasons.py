"""What each drop reason means, in one line, for the report: a reason such as `few_stop_words` names a rule;
a reader of the report should not need the source to know what the rule keeps out.

Each step declares its own reasons (`Step.drop_reasons`), so adding a step adds its meanings; a test checks
that every reason a registered step can give has one.
"""

from __future__ import annotations

from webcorpus.pipeline.registry import STEPS, step_class


def declared(step: str) -> dict[str, str]:
    """Step `step`'s reasons and their meanings (empty for a step that is not registered)."""
    return dict(step_class(step).drop_reasons) if step in STEPS else {}


def meaning(step: str, reason: str) -> str | None:
    """What dropping for `reason` at `step` means; None when the step does not declare it."""
    table = declared(step)
    if reason in table:
        return table[reason]
    prefixes = [key for key in table if key.endswith(":") and reason.startswith(key)]
    return table[max(prefixes, key=len)] if prefixes else None

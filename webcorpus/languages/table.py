"""Per-language options: a filter applies the thresholds and stop words of each document's own language.

A filter that supports it (langid, gopher_repetition, gopher_quality, fineweb_quality) takes two options:

    language_thresholds: fineweb2     # the bundled table (fineweb2.json): FineWeb-2's values per language
    per_language:                     # your values for one language, over the table's and the step's
      ja: {min_avg_word_length: 1.5}

For a document in language L the step's options are: its own (YAML or defaults), replaced by the table's
values for L if the table has L, replaced by `per_language[L]`. A language the table lacks (English:
FineWeb-2 left it to FineWeb; or a label of your own language-ID model) keeps the step's own options.
The table is made from FineWeb-2's configs by `make_table.py` beside this file (docs/multilingual.md).
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any, Literal

from webcorpus.document import Document
from webcorpus.pipeline.options import OptionError, check_options

TableName = Literal["fineweb2"]
LANGUAGE_OPTION_HELP = {
    "language_thresholds": "Per-language thresholds and stop words from a bundled table (fineweb2: FineWeb-2's), "
    "for each document's language; languages it lacks keep this step's options.",
    "per_language": "Options for one language, over the table's: {ja: {option: value}} (YAML only).",
}
PER_LANGUAGE_KEYS = frozenset(LANGUAGE_OPTION_HELP)


@cache
def load_table(name: str) -> dict[str, Any]:
    """The bundled table `name` (fineweb2): {"source": ..., "languages": {label: values}}."""
    text = resources.files("webcorpus.languages").joinpath(f"{name}.json").read_text(encoding="utf-8")
    return json.loads(text)


def table_entry(name: str | None, language: str | None) -> dict[str, Any] | None:
    """The table's values for `language`, or None (no table, or the language is not in it)."""
    if name is None or language is None:
        return None
    return load_table(name)["languages"].get(language)


class LanguageOptions:
    """Mixin for a filter whose options may differ per document language.

    The filter calls `set_language_options(locals())` first thing in its `__init__`, defines
    `options_from_table(entry)` (the table's values as its own option names), and asks
    `for_language(document)` for the instance to judge a document with: itself, or a copy of itself
    built with that language's options, made once per language.
    """

    def set_language_options(self, arguments: dict[str, Any]) -> None:
        """`arguments`: the filter's `__init__` arguments by name (its `locals()` before anything else)."""
        table, per_language = arguments.get("language_thresholds"), arguments.get("per_language")
        own = {k: v for k, v in arguments.items() if k not in PER_LANGUAGE_KEYS and k not in ("self", "__class__")}
        if table is not None:
            load_table(table)  # a wrong name fails when the step is built, not on the first document
        per_language = dict(per_language or {})
        for language, options in per_language.items():
            if not isinstance(options, dict):
                raise OptionError(f"per_language.{language} must be a mapping of options")
            bad = PER_LANGUAGE_KEYS.intersection(options)
            if bad:
                raise OptionError(f"per_language.{language}: '{sorted(bad)[0]}' cannot be set per language")
            per_language[language] = check_options(type(self), options, f"per_language.{language}")
        self._own_options = own
        self._table = table
        self._per_language = per_language
        self._variants: dict[str | None, Any] = {}

    @staticmethod
    def options_from_table(entry: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError

    def language_options(self, language: str | None) -> dict[str, Any] | None:
        """The options for documents in `language`, or None when they are the step's own."""
        entry = table_entry(self._table, language)
        override = self._per_language.get(language) if language is not None else None
        if entry is None and override is None:
            return None
        options = dict(self._own_options)
        if entry is not None:
            options.update(self.options_from_table(entry))
        options.update(override or {})
        return options

    def for_language(self, document: Document) -> Any:
        language = document.metadata.get("language")
        variant = self._variants.get(language)
        if variant is None:
            options = self.language_options(language)
            variant = self if options is None else type(self)(**options)
            self._variants[language] = variant
        return variant

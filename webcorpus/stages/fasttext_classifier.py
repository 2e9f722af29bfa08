"""fasttext_classifier: score each document with a fastText classifier (a quality model); drops nothing."""

from __future__ import annotations

import os
import tempfile
from functools import lru_cache
from typing import Any, ClassVar

from webcorpus import storage
from webcorpus.classifiers.prepare import DEFAULT_MAX_CHARACTERS, Newlines, prepare_text
from webcorpus.document import Document
from webcorpus.pipeline.options import OptionError, check_arguments, check_options
from webcorpus.pipeline.step import Filter

LABEL_PREFIX = "__label__"
# A fastText model with 2M n-gram rows at dim 100 holds 0.8 GB of them plus its vocabulary; the bound keeps
# a wrong URL (a data file) from filling the scratch disk.
DEFAULT_MAX_MODEL_BYTES = 8 << 30
COPY_CHUNK = 1 << 20


@lru_cache(maxsize=8)  # one copy and one load per model per worker process, whatever the number of steps
def load_model(location: str, max_model_bytes: int) -> Any:  # fastText's model; its type is not importable
    """The fastText model at `location`: a local file loaded in place, or a URL (https://, s3://) copied
    into this machine's scratch folder first (no more than `max_model_bytes`), loaded, then deleted."""
    import fasttext

    if not storage.is_remote(location):
        return _load(fasttext, location, location)
    from webcorpus.pipeline.run_folder import scratch_root

    handle, local = tempfile.mkstemp(prefix="model-", suffix=".bin", dir=scratch_root())
    try:
        with os.fdopen(handle, "wb") as target, storage.open_input(location) as source:
            copied = 0
            while chunk := source.read(COPY_CHUNK):
                copied += len(chunk)
                if copied > max_model_bytes:
                    raise OptionError(
                        f"model {location}: larger than max_model_bytes ({max_model_bytes:_} bytes); "
                        "raise max_model_bytes if this is the right file"
                    )
                target.write(chunk)
        return _load(fasttext, local, location)
    except OSError as error:
        raise OptionError(f"model {location}: cannot be read ({error})") from None
    finally:
        os.unlink(local)  # fastText holds the whole model in memory once loaded


def _load(fasttext: Any, path: str, location: str) -> Any:
    try:
        return fasttext.load_model(path)
    except ValueError as error:  # fastText's answer to a file that is not a model
        raise OptionError(f"model {location}: not a fastText model ({error})") from None


class FastTextClassifier(Filter):
    """Scores every document with a fastText classifier and keeps them all: scoring is not keeping (a
    `score_filter` after it keeps by the score). For each label the model has, writes
    `metadata["{name}_{label}"]`, the probability fastText gives that label (`__label__` left out); in
    Parquet these are in the JSON `metadata` column. fastText reads one line, so newlines become spaces
    (as datatrove does; `newlines: dclm` joins the stripped lines as DCLM does). The text given to the model
    is at most `max_characters` long. With `per_language`, a document whose `metadata["language"]` is listed
    is scored by that language's model; others by `model`, or not at all when `model` is unset."""

    name = "fasttext_classifier"
    summary = "Score each document with a fastText classifier (e.g. DCLM's quality model); drops nothing."
    # Documents are grouped by model per batch (per_language); the model is then asked line by line.
    batch_size: ClassVar[int] = 256
    option_minimum = {"max_characters": 1, "max_model_bytes": 1}
    option_help = {
        "model": "A fastText .bin/.ftz file, local or a URL (copied once per worker); unset: per_language only.",
        "name": "Prefix of the scores written: metadata NAME_LABEL for each label of the model.",
        "lowercase": "Lowercase the text before scoring (as the model was trained).",
        "newlines": "space: each newline becomes a space (datatrove); dclm: strip, join lines with spaces.",
        "max_characters": "Score only the first this many characters of a document.",
        "max_model_bytes": "Largest model to copy from a URL.",
        "per_language": "A model per language of metadata.language: {de: {model: PATH}} (YAML only).",
    }

    def __init__(
        self,
        model: str | None = None,
        name: str = "quality",
        lowercase: bool = False,
        newlines: Newlines = "space",
        max_characters: int | None = DEFAULT_MAX_CHARACTERS,
        max_model_bytes: int = DEFAULT_MAX_MODEL_BYTES,
        per_language: dict | None = None,
    ) -> None:
        super().__init__()
        check_arguments(self, locals())
        self.per_language = self.language_models(per_language)
        if model is None and not self.per_language:
            raise OptionError("'model': needs a model file, or models in per_language")
        self.prefix = f"{name}_"
        self.lowercase, self.newlines, self.max_characters = lowercase, newlines, max_characters
        # Loaded here, once per worker (load_model caches), so a bad file stops the run before any document.
        self.models = {
            location: load_model(location, max_model_bytes)
            for location in {model, *self.per_language.values()}
            if location
        }
        self.model = model

    @classmethod
    def language_models(cls, per_language: dict | None) -> dict[str, str]:
        """`per_language` ({language: {model: PATH}}) as {language: PATH}."""
        models = {}
        for language, options in (per_language or {}).items():
            if not isinstance(options, dict) or set(options) != {"model"}:
                raise OptionError(f"per_language.{language} must be {{model: PATH}}")
            models[str(language)] = check_options(cls, options, f"per_language.{language}")["model"]
        return models

    @classmethod
    def option_problem(cls, options: dict[str, Any]) -> tuple[str, str] | None:
        """A local model file that is not there, found when the pipeline file is read (URLs are tried when
        the step starts): (the option, what is wrong), or None."""
        for key, location in [("model", options.get("model"))] + [
            ("per_language", entry.get("model"))
            for entry in (options.get("per_language") or {}).values()
            if isinstance(entry, dict)
        ]:
            if location and not storage.is_remote(location) and not os.path.isfile(location):
                return key, f"model {location}: no such file"
        return None

    def model_for(self, document: Document) -> str | None:
        return self.per_language.get(document.metadata.get("language"), self.model)

    def filter(self, document: Document) -> str | None:
        return self.filter_batch([document])[0]

    def filter_batch(self, documents: list[Document]) -> list[str | None]:
        groups: dict[str, list[Document]] = {}
        for document in documents:
            location = self.model_for(document)
            if location is not None:
                groups.setdefault(location, []).append(document)
        for location, group in groups.items():
            texts = [prepare_text(d.text, self.lowercase, self.newlines, self.max_characters) for d in group]
            model = self.models[location]
            for document, text in zip(group, texts):
                # One line at a time: the list form of predict in fasttext-predict (the fastText installed
                # with webcorpus) returns the labels without their probabilities.
                labels, scores = model.predict(text, k=-1)
                for label, score in zip(labels, scores):
                    document.metadata[self.prefix + label.removeprefix(LABEL_PREFIX)] = float(score)
        return [None] * len(documents)

"""`webcorpus train-classifier`: a fastText quality classifier from positive and negative documents.

The recipe is DCLM's (docs/quality.md gives the source): fastText supervised, softmax loss, lr 0.1, dim 100,
5 epochs, minCount 1, word unigrams and bigrams, labels `__label__hq` / `__label__cc`. fastText's own
trainer is not installed with webcorpus (its predict-only build is, for language ID, and the full one would
overwrite the same module), so the training loop is here, in numpy, as fastText runs it with one thread:
mean of the line's input rows, softmax over the labels, SGD with a learning rate falling linearly to zero.
The model is written in fastText's format and evaluated by fastText itself, as `fasttext_classifier` uses it.
"""

from __future__ import annotations

import gzip
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from webcorpus.classifiers.prepare import DEFAULT_MAX_CHARACTERS, Newlines, prepare_text

LABEL_PREFIX = "__label__"


@dataclass
class TrainSettings:
    """The options of `webcorpus train-classifier` (flags generated from these fields)."""

    positive_label: str = "hq"
    negative_label: str = "cc"
    holdout: float = 0.1
    lr: float = 0.1
    dim: int = 100
    epoch: int = 5
    min_count: int = 1
    word_ngrams: int = 2
    bucket: int = 2_000_000
    seed: int = 42
    lowercase: bool = False
    newlines: Newlines = "space"
    max_characters: int | None = DEFAULT_MAX_CHARACTERS

    option_help = {
        "positive_label": "Label of the positive documents (written __label__NAME; scores become NAME_LABEL).",
        "negative_label": "Label of the negative documents.",
        "holdout": "Fraction of documents held out for precision and recall (chosen by a hash of the text).",
        "lr": "Learning rate (DCLM: 0.1).",
        "dim": "Size of the word vectors (DCLM: 100).",
        "epoch": "Passes over the training documents (DCLM: 5).",
        "min_count": "Fewest occurrences for a word to be in the vocabulary (DCLM: 1).",
        "word_ngrams": "Longest word n-gram used as a feature (DCLM: 2, unigrams and bigrams).",
        "bucket": "Hash rows for the word n-grams (fastText's default).",
        "seed": "Seed of the initial weights and of the order of the training documents.",
        "lowercase": "Lowercase the text (then score with fasttext_classifier lowercase: true too).",
        "newlines": "How newlines become spaces: space (each one) or dclm (strip, join lines); score alike.",
        "max_characters": "Use only the first this many characters of each document.",
    }
    option_minimum = {"holdout": 0, "lr": 0, "dim": 1, "epoch": 1, "min_count": 1, "word_ngrams": 1, "bucket": 0,
                      "max_characters": 1}  # fmt: skip
    option_maximum = {"holdout": 0.9}


@dataclass
class TrainResult:
    """What training did: documents per side (trained on, held out), and the held-out figures of the
    positive label at 0.5 (None where there was nothing to count)."""

    output: str
    trained: dict[str, int]
    held_out: dict[str, int]
    precision: float | None
    recall: float | None

    def lines(self) -> list[str]:
        sides = ", ".join(
            f"{label}: {self.trained[label]} trained, {self.held_out[label]} held out" for label in self.trained
        )
        figure = lambda value: "n/a" if value is None else f"{value:.3f}"  # noqa: E731
        positive = next(iter(self.trained))
        return [
            f"documents: {sides}",
            f"held out, {positive} at 0.5: precision {figure(self.precision)}, recall {figure(self.recall)}",
            f"model: {self.output}",
        ]


def read_texts(source: str) -> Iterator[str]:
    """The texts of a .jsonl(.gz) file (a `text` field per line), or of webcorpus Parquet shards (a file or
    a folder, local or remote)."""
    if source.endswith((".jsonl", ".jsonl.gz")):
        from webcorpus import storage
        from webcorpus.document import read_jsonl

        with storage.open_input(source) as raw:
            stream = gzip.open(raw) if source.endswith(".gz") else raw
            for document in read_jsonl(stream, source):
                yield document.text
        return
    from webcorpus.parquet import read_texts as parquet_texts

    for _, text in parquet_texts([source]):
        yield text


def is_held_out(text: str, fraction: float) -> bool:
    """Whether a document is held out: by a hash of its text, so the split is the same on every run and
    two copies of one text never sit on both sides of it."""
    digest = hashlib.sha1(text.encode("utf-8", "surrogatepass")).digest()
    return int.from_bytes(digest[:8], "big") < fraction * (1 << 64)


def train_classifier(positive: str, negative: str, output: str | Path, settings: TrainSettings) -> TrainResult:
    """Train on the documents of `positive` and `negative`, evaluate on the held-out ones, and write the
    model to `output` (whole or not at all)."""
    import numpy as np

    from webcorpus.atomic import atomic_path
    from webcorpus.classifiers import fasttext_format as ff

    labels = (LABEL_PREFIX + settings.positive_label, LABEL_PREFIX + settings.negative_label)
    if labels[0] == labels[1]:
        raise ValueError(f"the positive and negative labels are both '{settings.positive_label}'")
    train: list[tuple[str, list[str]]] = []
    held: list[tuple[str, list[str]]] = []
    trained = dict.fromkeys((settings.positive_label, settings.negative_label), 0)
    held_counts = dict(trained)
    for source, label, name in (
        (positive, labels[0], settings.positive_label),
        (negative, labels[1], settings.negative_label),
    ):
        before = trained[name] + held_counts[name]
        for text in read_texts(source):
            prepared = prepare_text(text, settings.lowercase, settings.newlines, settings.max_characters)
            if not prepared.strip():
                continue  # nothing to learn from
            if is_held_out(text, settings.holdout):
                held.append((label, ff.tokens(prepared)))
                held_counts[name] += 1
            else:
                train.append((label, ff.tokens(prepared)))
                trained[name] += 1
        if trained[name] + held_counts[name] == before:
            raise ValueError(f"{source}: no documents with text")
    if not trained[settings.positive_label] or not trained[settings.negative_label]:
        raise ValueError("every document of one side was held out: lower --holdout or add documents")

    vocabulary = ff.count_vocabulary(train, settings.min_count)
    # fastText uses no n-gram rows when it has no n-grams (wordNgrams 1, no character n-grams).
    bucket = settings.bucket if settings.word_ngrams > 1 else 0
    args = ff.ModelArgs(settings.dim, settings.epoch, settings.min_count, settings.word_ngrams, bucket)
    rng = np.random.default_rng(settings.seed)
    features = [vocabulary.features(words, settings.word_ngrams, bucket) for _, words in train]
    targets = np.array([vocabulary.label_ids[label] for label, _ in train])
    input_matrix, output_matrix = _train(features, targets, len(vocabulary.words) + bucket, len(vocabulary.labels),
                                         settings, [len(words) for _, words in train], rng)  # fmt: skip

    with atomic_path(output) as tmp:
        with open(tmp, "wb") as stream:
            ff.write_model(stream, args, vocabulary, input_matrix, output_matrix)
        precision, recall = _evaluate(str(tmp), held, labels[0])
    return TrainResult(str(output), trained, held_counts, precision, recall)


def _train(features, targets, rows: int, nlabels: int, settings: TrainSettings, lengths: list[int], rng):
    """fastText's supervised SGD with one thread: for each line in turn, the hidden vector is the mean of its
    input rows; softmax loss; the output rows and then the line's input rows are updated."""
    import numpy as np

    dim = settings.dim
    # fastText's initialisation: input rows uniform in [-1/dim, 1/dim], output rows zero.
    input_matrix = rng.uniform(-1.0 / dim, 1.0 / dim, size=(rows, dim)).astype(np.float32)
    output_matrix = np.zeros((nlabels, dim), dtype=np.float32)
    # fastText has no shuffling: it reads its file in order, so the order (positives and negatives mixed)
    # is chosen here, with the seed.
    order = rng.permutation(len(features))
    total = settings.epoch * sum(lengths)
    seen = 0
    one_hot = np.eye(nlabels, dtype=np.float32)
    for _ in range(settings.epoch):
        for index in order:
            ids = features[index]
            lr = settings.lr * (1.0 - seen / total)  # fastText: falls linearly with the tokens processed
            seen += lengths[index]
            if not len(ids):
                continue
            hidden = input_matrix[ids].mean(axis=0)
            scores = output_matrix @ hidden
            scores = np.exp(scores - scores.max())
            alpha = lr * (one_hot[targets[index]] - scores / scores.sum())
            gradient = alpha @ output_matrix
            output_matrix += np.outer(alpha, hidden).astype(np.float32)
            np.add.at(input_matrix, ids, (gradient / len(ids)).astype(np.float32))
    return input_matrix, output_matrix


def _evaluate(model_path: str, held: list[tuple[str, list[str]]], positive: str) -> tuple[float | None, float | None]:
    """Precision and recall of `positive` at 0.5 on the held-out lines, by fastText itself."""
    import fasttext

    model = fasttext.load_model(model_path)
    true_positive = predicted = actual = 0
    for label, words in held:
        labels, scores = model.predict(" ".join(words[:-1]), k=-1)
        score = dict(zip(labels, scores)).get(positive, 0.0)
        predicted += score >= 0.5
        actual += label == positive
        true_positive += score >= 0.5 and label == positive
    precision = true_positive / predicted if predicted else None
    recall = true_positive / actual if actual else None
    return precision, recall

"""The one contract every pipeline step follows: a small class with a name, a role and an option schema.

Four roles, one base:

- `Reader`   turns input files into documents (`read_warc`, `read_parquet`);
- `Filter`   keeps or drops each document, possibly rewriting it; a drop always has a reason;
- `Writer`   stores documents (`write_parquet`) and ends a run of per-document steps;
- `CorpusStep` works on a whole folder of shards at once (MinHash dedup, tokenizer training, tokenize).

Options are a step's `__init__` keyword arguments plus `option_help` (see `options.py`): the YAML checker,
the `webcorpus STEP` subcommand and its `--help` are generated from them. The runner talks to roles only.

Two class attributes tell the runner how a step wants to run, and are not options:

- `resources` (a `Resources`): what one instance needs (CPUs, GPUs, memory). The planner starts a new
  document pass where consecutive filters need different resources (plan.py), and the executor asks for
  them per task (Ray) or sizes its worker pool by them (local). A step whose needs depend on its options
  (a model on a GPU or a CPU, by its `device`) overrides the classmethod `resources_for(options)` instead.
- `batch_size` (filters only): how many documents `Filter.filter_batch` is given at once; 1 (the default)
  calls `filter` per document.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import urlsplit

from webcorpus.document import Document

if TYPE_CHECKING:  # executors.py builds on this module, not the other way round
    from webcorpus.pipeline.executors import CorpusContext

DropHandler = Callable[[Document, str], None]
DISTRIBUTION_TOP = 50
# Per-language counts keep this many languages per input file: more than lid.176's labels, so a fastText run
# keeps every language exact, while a foreign `language` column (read_parquet) cannot bloat stats.json.
LANGUAGE_TOP = 256
NO_LANGUAGE = "(none)"  # the language label of a document no step has identified


def language_of(metadata: dict[str, Any]) -> str:
    """A document's language label for per-language counts: `metadata["language"]`, or NO_LANGUAGE. (Shell
    input may hold any JSON there, hence `str`.)"""
    language = metadata.get("language")
    return str(language) if language else NO_LANGUAGE


def length_bin(characters: int) -> str:
    """A text length's power-of-two bin, as a sortable label: "0" for empty, else 2**k for the bin [2**k, 2**(k+1))."""
    return str(1 << (characters.bit_length() - 1)) if characters else "0"


@lru_cache(maxsize=4096)  # every filter of a pass asks for the same document's domain in turn
def domain_of(url: str) -> str:
    try:
        host = urlsplit(url).hostname if url else None
    except ValueError:  # a malformed URL (say, an unclosed IPv6 bracket)
        host = None
    return host.removeprefix("www.") if host else "(no host)"


def _bounded(name: str, values: Counter[str]) -> dict[str, int]:
    if name.startswith("domain"):
        return dict(values.most_common(DISTRIBUTION_TOP))
    if name.startswith("language"):
        return dict(sorted(dict(values.most_common(LANGUAGE_TOP)).items()))
    return dict(sorted(values.items()))


GIB = 1 << 30  # `Resources.memory_gb` counts GiB


@dataclass(frozen=True)
class Resources:
    """What one instance of a step needs while it runs: CPUs, GPUs (fractions share a GPU), memory in GiB.

    The default (one CPU, nothing else) is what every step of a CPU pipeline has; a model step on a GPU
    sets `resources = Resources(gpus=1)`. Zero means "does not need any" (Ray is then not asked for it).
    """

    cpus: float = 1
    gpus: float = 0
    memory_gb: float = 0

    def __post_init__(self) -> None:
        if self.cpus < 0 or self.gpus < 0 or self.memory_gb < 0:
            raise ValueError(f"resources cannot be negative: {self}")

    def combine(self, other: Resources) -> Resources:
        """What two steps that run in the same worker need together: the larger of each field. (They run
        one after the other on the same documents, in one process, so the larger need is what the worker
        must hold; a sum would, say, ask for 2 GPUs where one model step after another needs 1.)"""
        return Resources(max(self.cpus, other.cpus), max(self.gpus, other.gpus), max(self.memory_gb, other.memory_gb))

    def ray_options(self) -> dict[str, float | int]:
        """These resources as Ray task options (`num_cpus`, `num_gpus`, `memory` in bytes), zeros left out."""
        options: dict[str, float | int] = {}
        if self.cpus:
            options["num_cpus"] = self.cpus
        if self.gpus:
            options["num_gpus"] = self.gpus
        if self.memory_gb:
            options["memory"] = int(self.memory_gb * GIB)
        return options


@dataclass
class StageStats:
    """What one step did: documents in and kept, drops by reason, errors, and time."""

    documents_in: int = 0
    kept: int = 0
    dropped: Counter[str] = field(default_factory=Counter)
    # Things that are not documents dropped by a rule: corrupt records, unreadable files, timeouts.
    errors: Counter[str] = field(default_factory=Counter)
    bad_files: list[str] = field(default_factory=list)
    # What a step did to the documents it kept (PII replaced per type) or made (tokens).
    counts: Counter[str] = field(default_factory=Counter)
    time_s: float = 0.0  # wall seconds inside the step, summed over workers (a corpus step: its own wall)
    cpu_s: float = 0.0  # CPU seconds of the step, summed over workers, its start-up included
    startup_s: float = 0.0  # wall seconds building the step in each worker (loading a model), summed
    # For the report (webcorpus/report/): characters in and kept, and named distributions (text lengths in
    # powers of two, domains dropped and kept, languages kept and dropped). Domain counts keep their top
    # DISTRIBUTION_TOP per input file, language counts their top LANGUAGE_TOP, so a big run's stats stay small;
    # their totals are then a lower bound.
    characters_in: int = 0
    characters_out: int = 0
    distributions: dict[str, Counter[str]] = field(default_factory=dict)

    def bad_file(self, message: str) -> str:
        """Record a damaged input; returns the message as recorded, safe to print: it quotes bytes of the file
        (a path, a header), so control characters are escaped and cannot reach a terminal as commands."""
        safe = "".join(c if c.isprintable() else repr(c)[1:-1] for c in message)
        self.errors["bad_file"] += 1
        self.bad_files.append(safe)
        return safe

    def merge(self, other: StageStats | dict[str, Any]) -> None:
        """Add another step's figures: a StageStats, or its `to_dict()` as a progress marker records it
        (read straight from the dict: a resumed run over 100,000 files merges a million of them)."""
        data = vars(other) if isinstance(other, StageStats) else other
        self.documents_in += data["documents_in"]
        self.kept += data["kept"]
        self.dropped.update(data["dropped"])
        self.errors.update(data["errors"])
        self.bad_files.extend(data["bad_files"])
        self.counts.update(data.get("counts", {}))
        self.time_s += data["time_s"]
        self.cpu_s += data.get("cpu_s", 0.0)
        self.startup_s += data.get("startup_s", 0.0)
        self.characters_in += data.get("characters_in", 0)
        self.characters_out += data.get("characters_out", 0)
        for name, values in data.get("distributions", {}).items():
            self.count(name).update(values)

    def count(self, distribution: str) -> Counter[str]:
        """The named distribution, created empty on first use."""
        return self.distributions.setdefault(distribution, Counter())

    def to_dict(self) -> dict[str, Any]:
        return {
            "documents_in": self.documents_in,
            "kept": self.kept,
            "dropped": dict(sorted(self.dropped.items())),
            "errors": dict(sorted(self.errors.items())),
            "bad_files": list(self.bad_files),
            "counts": dict(sorted(self.counts.items())),
            "time_s": round(self.time_s, 6),
            "cpu_s": round(self.cpu_s, 6),
            "startup_s": round(self.startup_s, 6),
            "characters_in": self.characters_in,
            "characters_out": self.characters_out,
            "distributions": {name: _bounded(name, values) for name, values in sorted(self.distributions.items())},
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StageStats:
        return cls(
            documents_in=data["documents_in"],
            kept=data["kept"],
            dropped=Counter(data["dropped"]),
            errors=Counter(data["errors"]),
            bad_files=list(data["bad_files"]),
            counts=Counter(data.get("counts", {})),
            time_s=data["time_s"],
            cpu_s=data.get("cpu_s", 0.0),
            startup_s=data.get("startup_s", 0.0),
            characters_in=data.get("characters_in", 0),
            characters_out=data.get("characters_out", 0),
            distributions={name: Counter(values) for name, values in data.get("distributions", {}).items()},
        )


class Step:
    """Base of every step. Subclasses set `name` (the YAML key), `summary` (one line of help) and a role."""

    name: ClassVar[str]
    summary: ClassVar[str]
    role: ClassVar[str]
    option_help: ClassVar[dict[str, str]] = {}
    # Options the runner fills in itself (an output folder, a shard prefix); not YAML keys or flags.
    runner_supplied: ClassVar[frozenset[str]] = frozenset()
    # What one instance needs to run (module docstring); a class attribute, so planning needs no instance.
    resources: ClassVar[Resources] = Resources()
    # Every reason the step can drop a document for, with its meaning in one line (the report shows it beside
    # each drop). A key ending in ":" stands for every reason that starts with it ("contaminated:" for
    # "contaminated:mmlu"). tests/test_report_drops.py checks that each reason a step returns is declared.
    drop_reasons: ClassVar[dict[str, str]] = {}

    def __init__(self) -> None:
        self.stats = StageStats()
        self.on_drop: DropHandler | None = None

    @classmethod
    def resources_for(cls, options: dict[str, Any]) -> Resources:
        """What one instance built with `options` (the YAML's, unchecked beyond their types) needs; the
        planner asks this, not `resources`, so a step may need a GPU for some options only. The default is
        the class's `resources`, whatever the options."""
        return cls.resources

    def start_task(self) -> None:
        """Called before each input file: reset per-file state so output never depends on scheduling."""
        self.stats = StageStats()

    def drop(self, document: Document, reason: str) -> None:
        self.stats.dropped[reason] += 1
        if self.on_drop is not None:
            self.on_drop(document, f"{self.name}:{reason}")


class Reader(Step):
    """Input files to documents. `expand` lists the files a pattern names; `read` yields one file's documents."""

    role = "read"

    def expand(self, patterns: Iterable[str]) -> list[Path | str]:
        """The files the patterns name: local Paths, or URLs of remote files (webcorpus/storage.py)."""
        raise NotImplementedError

    def read(self, path: Path | str) -> Iterator[Document]:
        raise NotImplementedError

    def run(self, paths: Iterable[str | Path]) -> Iterator[Document]:
        for path in paths:
            yield from self.read(path)


class Filter(Step):
    """A step that keeps or drops each document on its own, possibly rewriting it.

    A filter that works better on many documents at once (a model on a GPU) sets `batch_size` above 1 and
    overrides `filter_batch`; `run` then hands it lists of up to `batch_size` documents, in input order, and
    counts everything exactly as it does one document at a time.
    """

    role = "filter"
    batch_size: ClassVar[int] = 1

    def filter(self, document: Document) -> str | None:
        """Return why `document` must go, or None to keep it (it may be modified in place)."""
        raise NotImplementedError

    def filter_batch(self, documents: list[Document]) -> list[str | None]:
        """One verdict per document, in order: why it must go, or None to keep it (it may be modified in
        place). The default asks `filter` for each."""
        return [self.filter(document) for document in documents]

    def run(self, documents: Iterable[Document]) -> Iterator[Document]:
        counts = _FilterCounts(self.stats)
        if self.batch_size == 1:
            for document in documents:
                counts.arrived(document)
                reason = self.filter(document)
                if counts.judged(document, reason):
                    yield document
                else:
                    self.drop(document, reason)
            return
        stream = iter(documents)
        while batch := list(itertools.islice(stream, self.batch_size)):
            for document in batch:  # before the filter, which may rewrite the text
                counts.arrived(document)
            reasons = self.filter_batch(batch)
            if len(reasons) != len(batch):
                raise ValueError(f"{self.name}: filter_batch gave {len(reasons)} verdicts for {len(batch)} documents")
            for document, reason in zip(batch, reasons):
                if counts.judged(document, reason):
                    yield document
                else:
                    self.drop(document, reason)


class _FilterCounts:
    """What Filter.run counts of each document: on arrival, and once judged (after `filter`, so a rewritten
    text's length and a language-ID step's own verdict are what is counted)."""

    def __init__(self, stats: StageStats) -> None:
        self.stats = stats
        self.lengths_in, self.lengths_out = stats.count("length_in"), stats.count("length_out")
        self.domains_kept, self.domains_dropped = stats.count("domain_kept"), stats.count("domain_dropped")
        self.languages_kept, self.languages_dropped = stats.count("language_kept"), stats.count("language_dropped")

    def arrived(self, document: Document) -> None:
        characters = len(document.text)
        self.stats.documents_in += 1
        self.stats.characters_in += characters
        self.lengths_in[length_bin(characters)] += 1

    def judged(self, document: Document, reason: str | None) -> bool:
        """Count the verdict; whether the document is kept."""
        if reason is None:
            characters = len(document.text)
            self.stats.kept += 1
            self.stats.characters_out += characters
            self.lengths_out[length_bin(characters)] += 1
            self.domains_kept[domain_of(document.url)] += 1
            self.languages_kept[language_of(document.metadata)] += 1
            return True
        self.domains_dropped[domain_of(document.url)] += 1
        self.languages_dropped[language_of(document.metadata)] += 1
        return False


class Writer(Step):
    """Stores documents under `folder` with file names starting `prefix`; passes each document on."""

    role = "write"

    def open(self, folder: Path, prefix: str) -> None:
        raise NotImplementedError

    def run(self, documents: Iterable[Document]) -> Iterator[Document]:
        raise NotImplementedError

    @property
    def written(self) -> list[Path]:
        raise NotImplementedError


@dataclass
class CorpusResult:
    """What a corpus step answers: one `line` for the terminal, its own `figures` (stats.json's `summary`,
    the report's), where the documents it wrote are (`data`, for a step that writes documents: the next
    steps read them), and what later steps of the run may use (`made`, e.g. `{"tokenizer": location}`)."""

    line: str
    figures: dict[str, Any] = field(default_factory=dict)
    data: str | None = None
    made: dict[str, str] = field(default_factory=dict)


class CorpusStep(Step):
    """A step over whole folders of document shards: `run_corpus(sources, target, context)`; the shards of all
    `sources` together, in file-name order (names are unique: `parquet.input_shards`).

    Sources and `target` are local paths or URLs (s3://...): the step's units read and write them through
    `run_folder.Folder`, on whichever machine they run, and resume by `pipeline/units.py`. `target` is a
    folder, or a file for `output_is_file` steps; in a pipeline run it is `RUN/<output_name>`. The step
    fills `self.stats` and returns a CorpusResult.
    """

    role = "corpus"
    output_name: ClassVar[str]
    output_is_file: ClassVar[bool] = False

    def run_corpus(self, sources: list[str | Path], target: str | Path, context: CorpusContext) -> CorpusResult:
        raise NotImplementedError

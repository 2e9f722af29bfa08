"""decontaminate: drop (or trim) documents sharing an n-gram of words with evaluation texts the user names."""

from __future__ import annotations

import glob
import hashlib
import io
import json
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import regex

from webcorpus import storage
from webcorpus.document import Document
from webcorpus.languages.segmenters import SEGMENTED_LANGUAGES, segmenter
from webcorpus.pipeline.drops import compared, dropped
from webcorpus.pipeline.options import OptionError, check_arguments
from webcorpus.pipeline.step import Filter
from webcorpus.text import NO_SPACE_LANGUAGES, words_of

DEFAULT_N = 13  # GPT-3's and datatrove's n-gram length for decontamination is 13 words
# Evaluation sets are small (MMLU's test questions are a few MB); a file past this is more likely a wrong
# path (a corpus shard) than a benchmark, and its n-grams would all be held in every worker's memory.
DEFAULT_MAX_BENCHMARK_BYTES = 256 << 20
REASON_PREFIX = "contaminated:"  # a drop's reason is this plus the benchmark's name
# The step's stats distributions, per benchmark name (report/html.py `_decontamination` reads them):
BENCHMARKS = "benchmarks"  # every benchmark in force -> the number of tasks that used it (so a clean one shows)
MATCHED = "benchmark_matched"  # documents sharing at least one n-gram with the benchmark
TRIMMED = "benchmark_trimmed"  # documents kept with their matching lines removed (mode trim)
FORMATS = (".txt", ".jsonl", ".json", ".parquet")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*$")
_MARKS = regex.compile(r"[\p{P}\p{S}]+")


def normalise(text: str) -> str:
    """`text` as compared: NFKC (full-width letters and digits become ASCII), case-folded, every run of
    punctuation or symbols a space, so that quoting, markup leftovers and case never hide a match."""
    return _MARKS.sub(" ", unicodedata.normalize("NFKC", text).casefold())


def line_words(line: str, language: str | None) -> list[str]:
    """The normalised words of one line in `language`'s words: its segmenter's for Japanese, Chinese,
    Korean and Thai (segmenting the original line, which is what segmenters are made for, then normalising
    each word), one character per word for other scripts without spaces, else whitespace-separated."""
    if language in SEGMENTED_LANGUAGES:
        return [word for token in segmenter(language)(line) for word in normalise(token).split()]
    if language in NO_SPACE_LANGUAGES:
        return words_of(normalise(line), language)
    return normalise(line).split()


def word_scheme(language: str | None) -> str:
    """Languages that split text into the same words share one index: their segmenter, or a fixed name."""
    if language in SEGMENTED_LANGUAGES:
        return SEGMENTED_LANGUAGES[language]
    return "characters" if language in NO_SPACE_LANGUAGES else "spaces"


def ngram_keys(words: list[str], n: int) -> list[int]:
    """A 64-bit key per n-gram of `words`, the same in every process: each distinct word is hashed once
    (blake2b, 8 bytes: Python's `hash` of a str differs between processes), an n-gram's key is Python's hash
    of the tuple of its words' (ints hash to themselves, so this one does not)."""
    if len(words) < n:
        return []
    ids = {
        word: int.from_bytes(hashlib.blake2b(word.encode(), digest_size=8).digest(), "little") for word in set(words)
    }
    sequence = [ids[word] for word in words]
    return [hash(tuple(sequence[start : start + n])) for start in range(len(sequence) - n + 1)]


@dataclass(frozen=True)
class Benchmark:
    """One named evaluation set: the files (paths, globs or URLs) and the fields its texts are in."""

    name: str
    paths: tuple[str, ...]
    fields: tuple[str, ...] | None


def parse_benchmarks(value: dict, fields: list[str] | None) -> list[Benchmark]:
    """The `benchmarks` option as Benchmarks, in the YAML's order: NAME: PATH, NAME: [PATHS] or
    NAME: {paths: PATHS, fields: [FIELDS]}."""
    if not value:
        raise OptionError("'benchmarks' must name at least one benchmark: {NAME: PATH} (or benchmark_files: NAME=PATH)")
    found = []
    for name, entry in value.items():
        name = str(name)
        if not _NAME.match(name):
            raise OptionError(f"benchmarks: name '{name}' must be letters, digits, '_', '.' or '-'")
        own_fields = fields
        if isinstance(entry, dict):
            unknown = set(entry) - {"paths", "fields"}
            if unknown or "paths" not in entry:
                raise OptionError(f"benchmarks.{name} must be a path, a list of paths or {{paths: ..., fields: ...}}")
            own_fields = entry.get("fields", fields)
            entry = entry["paths"]
        paths = [entry] if isinstance(entry, str) else entry
        if not isinstance(paths, list) or not paths or not all(isinstance(p, str) and p for p in paths):
            raise OptionError(f"benchmarks.{name} must be a path or a non-empty list of paths")
        if isinstance(own_fields, str):
            own_fields = [own_fields]
        if own_fields is not None and not (
            isinstance(own_fields, list) and all(isinstance(f, str) for f in own_fields)
        ):
            raise OptionError(f"benchmarks.{name}.fields must be a list of field names")
        found.append(Benchmark(name, tuple(paths), tuple(own_fields) if own_fields is not None else None))
    return found


def merged_benchmarks(benchmarks: dict | None, files: list[str] | None) -> dict:
    """`benchmarks` with the shell's NAME=PATH entries added (several entries of a name: its files)."""
    merged = dict(benchmarks or {})
    for entry in files or []:
        name, equals, path = entry.partition("=")
        if not equals or not name or not path:
            raise OptionError(f"benchmark_files: '{entry}' must be NAME=PATH")
        known = merged.get(name, [])
        merged[name] = [*([known] if isinstance(known, str) else known), path]
    return merged


def _files(pattern: str) -> list[str]:
    if storage.is_remote(pattern):
        found = storage.expand(pattern)
    elif glob.has_magic(pattern):
        found = sorted(glob.glob(pattern))
    else:
        found = [pattern] if Path(pattern).is_file() else []
    if not found:
        raise OptionError(f"{pattern}: no such benchmark file")
    return found


def _read(path: str, limit: int) -> bytes:
    try:
        with storage.open_input(path) as stream:
            data = stream.read(limit + 1)
    except OSError as error:
        raise OptionError(f"{path}: cannot be read ({error})") from None
    if len(data) > limit:
        raise OptionError(f"{path}: larger than max_benchmark_bytes ({limit:_} bytes); is it a benchmark?")
    return data


def _strings(value: Any) -> Iterator[str]:
    """Every string in a JSON value, in order (an object's values, a list's items, nested)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _record_text(record: Any, fields: tuple[str, ...] | None) -> str:
    """One record's text: its fields' strings (all of them when `fields` is None), one line each, so that
    an n-gram may run from a question into its answer, as a page that copies both shows them."""
    if fields is not None:
        record = [record.get(field) for field in fields] if isinstance(record, dict) else []
    return "\n".join(_strings(record))


def _texts(path: str, data: bytes, fields: tuple[str, ...] | None) -> list[str]:
    """The texts of one benchmark file: a .txt file's lines, a JSON record's or a Parquet row's strings."""
    suffix = Path(path.split("?")[0]).suffix.lower()
    if suffix not in FORMATS:
        raise OptionError(f"{path}: unknown benchmark format (use one of {', '.join(FORMATS)})")
    if suffix == ".parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        try:
            table = pq.read_table(io.BytesIO(data))
        except (pa.ArrowException, OSError) as error:
            raise OptionError(f"{path}: not a Parquet file ({error})") from None
        names = list(fields) if fields is not None else [
            f.name for f in table.schema
            if pa.types.is_string(f.type) or pa.types.is_large_string(f.type)
            or (pa.types.is_list(f.type) and pa.types.is_string(f.type.value_type))
        ]  # fmt: skip
        missing = [name for name in names if name not in table.column_names]
        if missing or not names:
            raise OptionError(f"{path}: no column {missing[0] if missing else 'of strings'}")
        return [_record_text(row, None) for row in table.select(names).to_pylist()]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise OptionError(f"{path}: not UTF-8 text ({error})") from None
    if suffix == ".txt":
        return [line for line in text.splitlines() if line.strip()]
    if suffix == ".json" and text.lstrip().startswith("["):
        try:
            return [_record_text(record, fields) for record in json.loads(text)]
        except json.JSONDecodeError:
            pass  # JSON lines whose first line is a list
    texts = []
    for number, line in enumerate(text.splitlines(), 1):
        if line.strip():
            try:
                texts.append(_record_text(json.loads(line), fields))
            except json.JSONDecodeError as error:
                raise OptionError(f"{path}: line {number} is not JSON ({error.msg})") from None
    return texts


def load_benchmark(benchmark: Benchmark, max_bytes: int) -> tuple[tuple[str, ...], str]:
    """The benchmark's texts and a digest of its files' names and bytes (what the run's fingerprint holds).
    The YAML check, the planner and the step in one process read the files once, unless one changed."""
    files = tuple(path for pattern in benchmark.paths for path in _files(pattern))
    stamps = tuple(_stamp(path) for path in files)
    return _load_benchmark(benchmark, max_bytes, files, stamps)


def _stamp(path: str) -> tuple[int, int] | None:
    """A local file's size and modification time (what tells its cached texts are stale); None for a URL."""
    if storage.is_remote(path):
        return None
    try:
        status = Path(path).stat()
    except OSError as error:
        raise OptionError(f"{path}: cannot be read ({error})") from None
    return status.st_size, status.st_mtime_ns


@lru_cache(maxsize=16)
def _load_benchmark(
    benchmark: Benchmark, max_bytes: int, files: tuple[str, ...], stamps: tuple[tuple[int, int] | None, ...]
) -> tuple[tuple[str, ...], str]:
    texts: list[str] = []
    digest = hashlib.sha256()
    for path in files:
        data = _read(path, max_bytes)
        digest.update(f"{path}\0{len(data)}\0".encode() + data)
        texts.extend(text for text in _texts(path, data, benchmark.fields) if text.strip())
    if not texts:
        raise OptionError(f"benchmark {benchmark.name}: its files hold no text")
    return tuple(texts), digest.hexdigest()


def words_by_line(text: str, language: str | None) -> tuple[list[str], list[int]]:
    """The words of `text` and the line each is on. Lines are segmented one at a time: a line break is a
    boundary for every segmenter, and trimming needs to know where each word came from."""
    words: list[str] = []
    lines: list[int] = []
    for number, line in enumerate(text.split("\n")):
        found = line_words(line, language)
        words.extend(found)
        lines.extend([number] * len(found))
    return words, lines


class Decontaminate(Filter):
    """Drops each document that shares an n-gram of `n` words with a text of a benchmark, as GPT-3 and
    datatrove decontaminate; `mode: trim` removes only the lines that hold a shared n-gram instead (a
    document left with fewer than `min_words` words is dropped). The reason is `contaminated:NAME`, the
    first benchmark (in the YAML's order) it matched; `metadata.contaminated_by` lists every benchmark it
    matched and `metadata.contaminated_ngrams` counts the shared n-grams. Text is compared NFKC-normalised,
    case-folded and without punctuation, in the words of the document's language (`metadata.language`):
    for Japanese, Chinese, Korean and Thai their segmenter's words, and benchmark texts are split by that
    same segmenter, so a question and a page that quotes it are cut alike. Benchmark files are read once
    per worker: `.txt` (one text per line), `.jsonl` or `.json` (one text per record: its `fields`, or all
    its strings) and `.parquet` (one text per row: `fields`, or all string columns). A text shorter than
    `n` words has no n-gram and matches nothing. See docs/decontamination.md."""

    name = "decontaminate"
    drop_reasons = {
        REASON_PREFIX: "Shares an n-gram with the named benchmark's texts (with mode: trim, too little was left).",
    }
    summary = "Drop (or trim) documents sharing a 13-word n-gram with benchmark texts you name (files or Parquet)."
    option_minimum = {"n": 1, "min_words": 0, "max_benchmark_bytes": 1}
    option_help = {
        "benchmarks": "NAME: PATH, NAME: [PATHS/GLOBS] or NAME: {paths: ..., fields: [...]} (YAML only).",
        "benchmark_files": "NAME=PATH: a benchmark's file or glob (the shell's form of benchmarks).",
        "n": "Words per n-gram (the language's words: segmented for ja, zh, ko, th).",
        "mode": "drop: drop a matching document; trim: remove its lines holding a shared n-gram.",
        "min_words": "trim: drop a trimmed document left with fewer words than this.",
        "fields": "JSON keys or Parquet columns holding the texts (default: every string).",
        "max_benchmark_bytes": "Largest benchmark file read (a bigger one is an error naming it).",
    }

    def __init__(
        self,
        benchmarks: dict | None = None,
        benchmark_files: list[str] | None = None,
        n: int = DEFAULT_N,
        mode: Literal["drop", "trim"] = "drop",
        min_words: int = 50,
        fields: list[str] | None = None,
        max_benchmark_bytes: int = DEFAULT_MAX_BENCHMARK_BYTES,
    ) -> None:
        super().__init__()
        check_arguments(self, locals())
        self.benchmarks = parse_benchmarks(merged_benchmarks(benchmarks, benchmark_files), fields)
        self.n, self.mode, self.min_words = n, mode, min_words
        # Read here, once per worker, so that a bad file stops the run before any document.
        self.texts = [load_benchmark(b, max_benchmark_bytes)[0] for b in self.benchmarks]
        self.indexes: dict[str, dict[int, int]] = {}  # word scheme -> n-gram hash -> bit set of benchmarks
        self._counted: object = None

    @classmethod
    def option_problem(cls, options: dict[str, Any]) -> tuple[str, str] | None:
        """A benchmark file that is missing or unreadable, found when the pipeline file is read."""
        try:
            cls.inputs_digest(options)
        except OptionError as error:
            return "benchmarks", str(error)
        return None

    @classmethod
    def inputs_digest(cls, options: dict[str, Any]) -> str:
        """A digest of every benchmark file's bytes: the planner puts it in the run's fingerprint, so that a
        run resumed after a benchmark file changed stops instead of mixing two decontaminations."""
        limit = options.get("max_benchmark_bytes", DEFAULT_MAX_BENCHMARK_BYTES)
        given = merged_benchmarks(options.get("benchmarks"), options.get("benchmark_files"))
        benchmarks = parse_benchmarks(given, options.get("fields"))
        return hashlib.sha256("".join(load_benchmark(b, limit)[1] for b in benchmarks).encode()).hexdigest()

    def index(self, language: str | None) -> dict[int, int]:
        """The n-grams of every benchmark in `language`'s words, built on first use (per word scheme)."""
        scheme = word_scheme(language)
        table = self.indexes.get(scheme)
        if table is None:
            table = self.indexes[scheme] = {}
            for bit, texts in enumerate(self.texts):
                for text in texts:
                    for key in ngram_keys(words_by_line(text, language)[0], self.n):
                        table[key] = table.get(key, 0) | 1 << bit
        return table

    def _task_counts(self) -> None:
        """Record the benchmarks in force once per task (the report lists a benchmark nothing matched)."""
        if self._counted is not self.stats:
            self._counted = self.stats
            for benchmark in self.benchmarks:
                self.stats.count(BENCHMARKS)[benchmark.name] += 1

    def start_task(self) -> None:
        super().start_task()
        self._task_counts()

    def filter(self, document: Document) -> str | None:
        self._task_counts()
        language = document.metadata.get("language")
        language = language if isinstance(language, str) else None
        table = self.index(language)
        words, lines = words_by_line(document.text, language)
        matched = 0  # bit set of the benchmarks matched
        shared = 0
        hit_lines: set[int] = set()
        for start, key in enumerate(ngram_keys(words, self.n)):
            bits = table.get(key)
            if bits:
                matched |= bits
                shared += 1
                hit_lines.update(range(lines[start], lines[start + self.n - 1] + 1))
        if not matched:
            return None
        names = [b.name for bit, b in enumerate(self.benchmarks) if matched >> bit & 1]
        document.metadata["contaminated_by"] = names
        document.metadata["contaminated_ngrams"] = shared
        counts = self.stats.count(MATCHED)
        for name in names:
            counts[name] += 1
        reason = REASON_PREFIX + names[0]
        if self.mode == "drop":
            return dropped(document, reason, f"{shared:,} {self.n}-word n-grams shared with {', '.join(names)}")
        left = sum(1 for line in lines if line not in hit_lines)
        if left < max(self.min_words, 1):
            return dropped(document, reason, compared("words left once trimmed", left, "<", max(self.min_words, 1)))
        document.text = "\n".join(line for i, line in enumerate(document.text.split("\n")) if i not in hit_lines)
        self.stats.count(TRIMMED)[names[0]] += 1
        return None

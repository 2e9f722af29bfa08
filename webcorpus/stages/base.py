"""What every stage shares: counting, dropping with a reason, and the option schema.

A stage is a small class. Its `run` takes documents and yields the ones it keeps; a `Filter`
only says why a document should go (`filter` returns a reason, or None to keep it).
The options a stage accepts are its `__init__` keyword arguments: the YAML runner and the
shell subcommands both read them from there, so the two can never disagree.
"""

from __future__ import annotations

import inspect
import types
import typing
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar

from webcorpus.document import Document

DropHandler = Callable[[Document, str], None]


@dataclass
class StageStats:
    documents_in: int = 0
    kept: int = 0
    dropped: Counter[str] = field(default_factory=Counter)
    # Things that are not documents dropped by a rule: corrupt records, unreadable files, timeouts.
    errors: Counter[str] = field(default_factory=Counter)
    bad_files: list[str] = field(default_factory=list)
    # What a stage did to the documents it kept, e.g. PII replaced per entity type.
    counts: Counter[str] = field(default_factory=Counter)
    time_s: float = 0.0

    def merge(self, other: StageStats) -> None:
        self.documents_in += other.documents_in
        self.kept += other.kept
        self.dropped.update(other.dropped)
        self.errors.update(other.errors)
        self.bad_files.extend(other.bad_files)
        self.counts.update(other.counts)
        self.time_s += other.time_s

    def to_dict(self) -> dict[str, Any]:
        return {
            "documents_in": self.documents_in,
            "kept": self.kept,
            "dropped": dict(sorted(self.dropped.items())),
            "errors": dict(sorted(self.errors.items())),
            "bad_files": list(self.bad_files),
            "counts": dict(sorted(self.counts.items())),
            "time_s": round(self.time_s, 6),
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
        )


class Stage:
    """Base of every stage. Subclasses set `name` (the YAML key) and `summary` (one line of help)."""

    name: ClassVar[str]
    summary: ClassVar[str]
    option_help: ClassVar[dict[str, str]] = {}
    # Options the runner fills in itself (an output folder, a shard prefix); not YAML keys.
    runner_supplied: ClassVar[frozenset[str]] = frozenset()

    def __init__(self) -> None:
        self.stats = StageStats()
        self.on_drop: DropHandler | None = None

    def run(self, documents: Iterable[Document]) -> Iterator[Document]:
        raise NotImplementedError

    def start_task(self) -> None:
        """Called before each input file: reset per-file state so output never depends on scheduling."""
        self.stats = StageStats()

    def drop(self, document: Document, reason: str) -> None:
        self.stats.dropped[reason] += 1
        if self.on_drop is not None:
            self.on_drop(document, f"{self.name}:{reason}")


class Filter(Stage):
    """A stage that keeps or drops each document on its own, possibly rewriting it."""

    def filter(self, document: Document) -> str | None:
        """Return why `document` must go, or None to keep it (it may be modified in place)."""
        raise NotImplementedError

    def run(self, documents: Iterable[Document]) -> Iterator[Document]:
        for document in documents:
            self.stats.documents_in += 1
            reason = self.filter(document)
            if reason is None:
                self.stats.kept += 1
                yield document
            else:
                self.drop(document, reason)


# ---- options -------------------------------------------------------------------------------


class OptionError(ValueError):
    """A stage option with the wrong name or type; the message names the option."""


@dataclass(frozen=True)
class OptionSpec:
    name: str
    hint: Any
    default: Any
    help: str

    @property
    def required(self) -> bool:
        return self.default is inspect.Parameter.empty

    @property
    def base_type(self) -> Any:
        """The type without `| None`."""
        args = [a for a in typing.get_args(self.hint) if a is not type(None)]
        if typing.get_origin(self.hint) in (typing.Union, types.UnionType):
            return args[0]
        return self.hint

    @property
    def optional(self) -> bool:
        return type(None) in typing.get_args(self.hint)

    def type_name(self) -> str:
        base = self.base_type
        name = "list of strings" if typing.get_origin(base) is list else base.__name__
        return f"{name} or null" if self.optional else name

    def coerce(self, value: Any) -> Any:
        """Check a YAML value against the option's type; ints are accepted where floats are."""
        if value is None:
            if self.optional:
                return None
            raise OptionError(f"'{self.name}' must be a {self.type_name()}, not null")
        base = self.base_type
        if typing.get_origin(base) is list:
            if isinstance(value, str):
                value = [value]
            if isinstance(value, list) and all(isinstance(v, str) for v in value):
                return list(value)
        elif base is float and isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        elif base is int and isinstance(value, int) and not isinstance(value, bool):
            return value
        elif base in (bool, str) and isinstance(value, base):
            return value
        raise OptionError(f"'{self.name}' must be a {self.type_name()}, got {value!r}")


def stage_options(stage_class: type[Stage]) -> list[OptionSpec]:
    """The user-settable options of a stage, read from its `__init__` signature."""
    hints = typing.get_type_hints(stage_class.__init__)
    options = []
    for param in inspect.signature(stage_class.__init__).parameters.values():
        if param.name == "self" or param.name in stage_class.runner_supplied:
            continue
        help_text = stage_class.option_help.get(param.name, "")
        options.append(OptionSpec(param.name, hints[param.name], param.default, help_text))
    return options


def check_options(stage_class: type[Stage], given: dict[str, Any]) -> dict[str, Any]:
    """Validate option names and types for `stage_class`; raises OptionError naming the bad key."""
    specs = {spec.name: spec for spec in stage_options(stage_class)}
    checked = {}
    for key, value in given.items():
        if key not in specs:
            known = ", ".join(specs) or "none"
            raise OptionError(f"unknown option '{key}' for stage '{stage_class.name}' (known: {known})")
        checked[key] = specs[key].coerce(value)
    for spec in specs.values():
        if spec.required and spec.name not in checked:
            raise OptionError(f"stage '{stage_class.name}' needs option '{spec.name}'")
    return checked

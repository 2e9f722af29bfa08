"""How a corpus step resumes: one scheme for every corpus step (dedup, tokenizer, tokenize, ablate's data).

A corpus step's work is cut into named units (a shard's signatures, a band's buckets, a token shard). Its
output folder records what it is made from and which units are finished:

    OUTPUT/.progress/settings.json   the fingerprint of its settings and input shards (names and sizes)
    OUTPUT/.progress/UNIT.json       a finished unit's result (a few numbers), written after its outputs

A unit runs on any worker, writes its outputs whole (run_folder.Folder), then its marker; a rerun reads the
finished units' results from their markers and runs only the others, from scratch (their outputs are
written again, whole, over anything an interrupted attempt left). A folder made from other settings or
input is refused, never mixed. `Units.map` is the only way a corpus step runs units, so resuming, progress
bars and the executor's bounded window are the same for all of them.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

from webcorpus.atomic import remove_stale_tmp
from webcorpus.parquet import Location, input_shards, shard_name
from webcorpus.pipeline import run_folder
from webcorpus.pipeline.progress import progress_bar
from webcorpus.pipeline.run_folder import Folder

if TYPE_CHECKING:
    from webcorpus.pipeline.executors import CorpusContext


SCHEME = "units/1"


def fingerprint(sources: Sequence[Location], settings: dict[str, Any], *extra: bytes) -> str:
    """What a corpus step's output depends on: its settings, any extra bytes (a tokenizer file) and the
    input shards (names and sizes)."""
    # The scheme's version first: a folder made under an earlier scheme (other markers) is refused, not misread.
    digest = hashlib.sha256(SCHEME.encode() + json.dumps(settings, sort_keys=True).encode())
    for part in extra:
        digest.update(part)
    for location in input_shards(sources):
        digest.update(f"{shard_name(location)}:{Folder(location).size('')}".encode())
    return digest.hexdigest()[:16]


class Units:
    """The finished units of one corpus step's output folder, checked against what it is made from."""

    def __init__(self, output: Folder, made_from: str, context: CorpusContext) -> None:
        self.output, self.context = output, context
        if not output.remote:
            remove_stale_tmp(output.path())  # what an interrupted unit left half-written
        settings = run_folder.marker("", run_folder.SETTINGS)
        recorded = output.read_json(settings) if output.exists(settings) else None
        if recorded is not None and recorded.get("fingerprint") != made_from:
            raise ValueError(f"{output}: made from other input or settings; use a new output folder or delete it")
        if recorded is None:
            if output.files(""):
                raise ValueError(f"{output}: not empty and not this step's output; use a new output folder")
            output.write_json(settings, {"fingerprint": made_from})
        self.finished = {name.removesuffix(".json") for name in output.names(run_folder.PROGRESS)}

    def done(self, unit: str) -> bool:
        return unit in self.finished

    def result(self, unit: str) -> Any:
        return self.output.read_json(run_folder.marker("", f"{unit}.json"))["result"]

    def record(self, unit: str, result: Any) -> None:
        """A unit the driver did itself (a few numbers), recorded like any other."""
        self.output.write_json(run_folder.marker("", f"{unit}.json"), {"result": result})
        self.finished.add(unit)

    def map(self, title: str, function: Callable[..., Any], units: list[str], *arguments: Iterable[Any]) -> list[Any]:
        """`function(*arguments_i)` for every unit not finished, on the executor's workers; each result is
        recorded in the unit's marker after the function returns (its outputs are written by then). Returns
        every unit's result in order, finished ones read from their markers."""
        rows = list(zip(units, *arguments))
        pending = [row for row in rows if not self.done(row[0])]
        results = {unit: self.result(unit) for unit, *_ in rows if self.done(unit)}
        with progress_bar(len(rows), title, "unit", self.context.progress, initial=len(results)) as bar:
            calls = self.context.map(run_unit, [function] * len(pending), [self.output] * len(pending),
                                     *zip(*pending)) if pending else []  # fmt: skip
            for (unit, *_), result in zip(pending, calls):
                results[unit] = result
                self.finished.add(unit)
                bar.update(1)
        return [results[unit] for unit, *_ in rows]

    def call(self, title: str, function: Callable[..., Any], unit: str, *arguments: Any) -> Any:
        """One unit, on one worker of the executor (or its recorded result)."""
        return self.map(title, function, [unit], *([argument] for argument in arguments))[0]


def run_unit(function: Callable[..., Any], output: Folder, unit: str, *arguments: Any) -> Any:
    """A unit on a worker: its work, then its marker."""
    result = function(*arguments)
    output.write_json(run_folder.marker("", f"{unit}.json"), {"result": result})
    return result


def open_units(sources: Sequence[Location], target: str, settings: dict[str, Any], context: CorpusContext,
               ) -> tuple[list[str], Folder, Units]:  # fmt: skip
    """A corpus step's start: its input shards, its output folder (made) and the units finished there, checked
    against the shards and `settings`."""
    shards = input_shards(sources)
    output = Folder(target)
    output.make()
    return shards, output, Units(output, fingerprint(shards, settings), context)

"""mix: sample a corpus by a weight per part (a language, domains, input files, a score range), with
FineWeb-2's rehydration: documents upsampled by the size of the near-duplicate cluster they survived.

One phase of units (pipeline/units.py), one per shard: nothing corpus-wide is needed, because each
document's number of copies depends on it alone. A weight w gives floor(w) copies, plus one more with
probability w - floor(w); that draw is a hash of (seed, document id), never a shared random stream, so the
output is the same on any number of workers, on Ray, and after a resumed unit. A part given a size
(`characters`) instead of a weight needs one phase more, first: each shard's characters per part, from
which weight = target / characters (summed in shard order: the same weight on any worker count).

Copies keep their document's id (mix_copy tells them apart): tokenize's validation split is chosen by id,
so every copy of a document lands in the same split and none leaks from train into val.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import math
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from webcorpus.parquet import Location, read_table, row_metadata
from webcorpus.pipeline import run_folder
from webcorpus.pipeline.corpus_shards import rewrite_shard
from webcorpus.pipeline.executors import CorpusContext
from webcorpus.pipeline.options import OptionError, check_arguments
from webcorpus.pipeline.run_folder import Folder
from webcorpus.pipeline.step import CorpusResult, CorpusStep, domain_of
from webcorpus.pipeline.units import open_units

OTHER = "other"  # the part of documents no part selects
CLUSTER_SIZE = "minhash_cluster_size"  # what minhash_dedup records on each kept document
NOT_IN_MIX = "not_in_mix"  # a document in no part, with `other: 0`
NOT_SAMPLED = "not_sampled"  # a document whose draw gave no copy: `not_sampled:PART`
SELECTORS = ("language", "domain", "input", "column")
PART_KEYS = ("weight", "characters", *SELECTORS, "min", "max", "values", "rehydrate_weights")
Buckets = tuple[tuple[int, float, float], ...]  # (smallest size, largest size, multiplier), sorted
# Cluster size bucket -> weight multiplier: a default to start from, not FineWeb-2's tuned per-language
# table (docs/mixing.md). Unique documents as they are, moderately duplicated ones (FineWeb-2 found them
# better than unique ones) up to a few times, never more copies than the cluster had, heavily duplicated
# ones (spam, boilerplate) not upsampled.
DEFAULT_REHYDRATION = {"1": 1, "2": 2, "3-4": 3, "5-100": 5, "101+": 1}


@dataclass(frozen=True)
class Part:
    """A part of the mix: the documents all of its selectors accept (every document with none), sampled
    at `weight`."""

    name: str
    weight: float
    languages: frozenset[str] | None = None
    domains: tuple[str, ...] | None = None
    inputs: tuple[str, ...] | None = None
    column: str | None = None
    minimum: float | None = None
    maximum: float | None = None
    values: tuple[Any, ...] | None = None
    buckets: Buckets | None = None  # its own rehydration table (FineWeb-2 tuned one per language)
    characters: int | None = None  # a target size instead of a weight: the weight is found by counting

    def selects(self, language: str | None, url: str | None, metadata: dict[str, Any]) -> bool:
        if self.languages is not None and language not in self.languages:
            return False
        if self.domains is not None:
            host = domain_of(url or "")
            if not any(host == domain or host.endswith("." + domain) for domain in self.domains):
                return False
        if self.inputs is not None:
            source = metadata.get("warc_file")
            if not isinstance(source, str) or not any(fnmatch.fnmatchcase(source, glob) for glob in self.inputs):
                return False
        if self.column is not None:
            value = language if self.column == "language" else metadata.get(self.column)
            if self.values is not None:
                return value in self.values
            if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
                return False
            if self.minimum is not None and value < self.minimum:
                return False
            if self.maximum is not None and value > self.maximum:
                return False
        return True


@dataclass(frozen=True)
class Plan:
    """What every unit needs (small, picklable): the parts in order, the weight of the rest, the
    rehydration buckets (low, high, multiplier), the seed."""

    parts: tuple[Part, ...]
    other: float
    buckets: Buckets | None
    seed: int
    by_language: dict[str, Buckets] | None = None  # FineWeb-2's tables (rehydrate_fineweb2), by language

    def multiplier(self, cluster_size: int, part: Part | None, language: str | None = None) -> float:
        """The rehydration multiplier of a cluster size: from the part's own table, else the table of the
        document's language (rehydrate_fineweb2), else the step's."""
        table = part.buckets if part and part.buckets else None
        if table is None and self.by_language is not None:
            table = self.by_language.get(language or "")
        for low, high, weight in table or self.buckets or ():
            if low <= cluster_size <= high:
                return weight
        return 1.0  # a size no bucket names


class Mix(CorpusStep):
    """Samples the corpus by a weight per part: each document goes to the first part that selects it
    (`parts` in the order written; the rest to `other`), and is written floor(w) times plus once more with
    probability w - floor(w), w being its part's weight times, with rehydration, the multiplier of its
    `minhash_cluster_size` bucket (the part's own table, else the step's). The draw hashes (seed, id): any
    worker count gives the same bytes. Copies are consecutive rows with the same id and `mix_copy` 0, 1, ...;
    every written row has `mix_part`. Unsampled documents go to `OUTPUT/removed/mix/` as `not_sampled:PART`
    (`not_in_mix` for the rest with `other: 0`). Put it after dedup, before tokenize: a dedup after it would
    remove the copies."""

    name = "mix"
    drop_reasons = {
        NOT_IN_MIX: "In no part of the mix (and other: 0).",
        NOT_SAMPLED + ":": "The part's random draw gave this document no copy (a weight under 1).",
    }
    summary = (
        "Sample the corpus by a weight per part (language, domain, input files, a score range), up or down, "
        "with FineWeb-2's rehydration by minhash_cluster_size; deterministic by seed. Resumable."
    )
    output_name = "mix"
    runner_supplied = frozenset({"removed"})  # a pipeline's `removed:`
    option_minimum = {"other": 0, "rehydrate_fineweb2": 3}
    option_maximum = {"rehydrate_fineweb2": 10}
    option_help = {
        "parts": "Name -> {weight, and selectors: language (list), domain (list; suffixes match subdomains), "
        "input (globs over warc_file), column with min/max or values; rehydrate_weights: the part's own "
        "table; or characters: a target size instead of a weight}; the first part that selects a document "
        "takes it (YAML only).",
        "other": "Weight of the documents no part selects (0: drop them as not_in_mix).",
        "rehydrate": "Multiply weights by a minhash_cluster_size bucket's multiplier (FineWeb-2's rehydration).",
        "rehydrate_weights": "Cluster size bucket -> multiplier, e.g. {1: 1, 2: 2, 3-4: 3, 5-100: 5, 101+: 1} "
        "(the default; YAML only).",
        "rehydrate_fineweb2": "Use FineWeb-2's published table of each document's language, for at most this "
        "many copies (3-10; FineWeb-2 used 10); languages it has no table for (English) use rehydrate_weights.",
        "seed": "Seed of the per-document draws.",
    }

    def __init__(
        self,
        parts: dict | None = None,
        other: float = 1.0,
        rehydrate: bool = False,
        rehydrate_weights: dict | None = None,
        rehydrate_fineweb2: int | None = None,
        seed: int = 0,
        removed: bool = True,
    ) -> None:
        super().__init__()
        check_arguments(self, locals())
        chosen = [parse_part(str(name), spec) for name, spec in (parts or {}).items()]
        own = next((part.name for part in chosen if part.buckets is not None), None)
        if own is not None and not rehydrate:
            raise OptionError(f"parts.{own}: 'rehydrate_weights' needs 'rehydrate: true'")
        if rehydrate_fineweb2 is not None and not rehydrate:
            raise OptionError("'rehydrate_fineweb2' needs 'rehydrate: true'")
        table = rehydrate_weights if rehydrate_weights is not None else DEFAULT_REHYDRATION
        by_language = fineweb2_tables(rehydrate_fineweb2) if rehydrate_fineweb2 is not None else None
        self.plan = Plan(tuple(chosen), float(other), parse_buckets(table) if rehydrate else None, seed, by_language)
        self.settings = {
            "parts": [[p.name, {k: v for k, v in vars(p).items() if k != "name" and v is not None}] for p in chosen],
            "other": float(other), "rehydrate": self.plan.buckets, "seed": seed,
        }  # fmt: skip
        if by_language is not None:  # only then, so that folders made before this option still resume
            self.settings["rehydrate_fineweb2"] = sorted(by_language.items())
        self.settings = json.loads(json.dumps(self.settings, default=sorted))  # sets as sorted lists
        self.removed = removed  # write the unsampled documents under OUTPUT/removed/mix/

    def run_corpus(self, sources: list[Location], target: Location, context: CorpusContext) -> CorpusResult:
        return run_mix(sources, target, self, context)


def _strings(name: str, key: str, value: Any) -> tuple[str, ...]:
    values = [value] if isinstance(value, str) else value
    if not isinstance(values, list) or not values or not all(isinstance(v, str) and v for v in values):
        raise OptionError(f"parts.{name}: '{key}' must be a string or a list of strings, got {value!r}")
    return tuple(values)


def _number(name: str, key: str, value: Any, minimum: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise OptionError(f"parts.{name}: '{key}' must be a finite number, got {value!r}")
    if minimum is not None and value < minimum:
        raise OptionError(f"parts.{name}: '{key}' must be at least {minimum:g}, got {value!r}")
    return float(value)


def parse_part(name: str, spec: Any) -> Part:
    """One entry of `parts`, checked; an OptionError names the part and the key."""
    if name == OTHER:
        raise OptionError(f"parts.{name}: '{OTHER}' is the rest of the corpus; set its weight with the 'other' option")
    if not isinstance(spec, dict):
        raise OptionError(f"parts.{name} must be a mapping such as {{language: [ja], weight: 2}}, got {spec!r}")
    unknown = sorted(set(map(str, spec)) - set(PART_KEYS))
    if unknown:
        raise OptionError(f"parts.{name}: unknown key '{unknown[0]}' (known: {', '.join(PART_KEYS)})")
    weight = _number(name, "weight", spec.get("weight", 1.0), minimum=0)
    fields: dict[str, Any] = {}
    if "characters" in spec:
        target = spec["characters"]
        if "weight" in spec:
            raise OptionError(f"parts.{name}: give 'weight' or 'characters', not both")
        if isinstance(target, bool) or not isinstance(target, int) or target < 0:
            raise OptionError(f"parts.{name}: 'characters' must be an integer of at least 0, got {target!r}")
        fields["characters"] = target
    if "language" in spec:
        fields["languages"] = frozenset(_strings(name, "language", spec["language"]))
    if "domain" in spec:
        fields["domains"] = tuple(d.lower().strip(".") for d in _strings(name, "domain", spec["domain"]))
    if "input" in spec:
        fields["inputs"] = _strings(name, "input", spec["input"])
    ranged = [key for key in ("min", "max", "values") if key in spec]
    if ranged and "column" not in spec:
        raise OptionError(f"parts.{name}: '{ranged[0]}' needs 'column'")
    if "column" in spec:
        column = spec["column"]
        if not isinstance(column, str) or not column or column in ("date", "language_score"):
            known = "a metadata key or language" if isinstance(column, str) else "a string"
            raise OptionError(f"parts.{name}: 'column' must be {known}, got {column!r}")
        if not ranged or ("values" in spec and len(ranged) > 1):
            raise OptionError(f"parts.{name}: 'column' needs min and/or max, or values (not both)")
        fields["column"] = column
        if "values" in spec:
            values = spec["values"]
            fields["values"] = tuple(values) if isinstance(values, list) and values else (values,)
        else:
            fields["minimum"] = _number(name, "min", spec["min"]) if "min" in spec else None
            fields["maximum"] = _number(name, "max", spec["max"]) if "max" in spec else None
    if "rehydrate_weights" in spec:
        fields["buckets"] = parse_buckets(spec["rehydrate_weights"], f"parts.{name}.rehydrate_weights")
    return Part(name, weight, **fields)


BUCKET = re.compile(r"^\s*(\d+)\s*(?:-\s*(\d+)|(\+))?\s*$")


def parse_buckets(table: Any, where: str = "rehydrate_weights") -> Buckets:
    """`rehydrate_weights` as (low, high, multiplier) sorted by size: keys are a size (2), a range (3-4) or
    an open range (101+); ranges may not overlap."""
    if not isinstance(table, dict) or not table:
        raise OptionError(f"'{where}' must be a mapping of cluster sizes to weights, got {table!r}")
    buckets = []
    for key, weight in table.items():
        found = BUCKET.match(str(key))
        if not found or int(found[1]) < 1:
            raise OptionError(f"{where}: bucket '{key}' must be a size (2), a range (3-4) or 101+")
        low = int(found[1])
        high = math.inf if found[3] else int(found[2] or low)
        if high < low:
            raise OptionError(f"{where}: bucket '{key}' is empty")
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not 0 <= weight < math.inf:
            raise OptionError(f"{where}: bucket '{key}' needs a weight of at least 0, got {weight!r}")
        buckets.append((low, high, float(weight)))
    buckets.sort()
    for (_, high, _), (low, _, _) in zip(buckets, buckets[1:]):
        if low <= high:
            raise OptionError(f"{where}: buckets overlap at size {low}")
    return tuple(buckets)


def fineweb2_tables(repetitions: int) -> dict[str, Buckets]:
    """FineWeb-2's published rehydration tables for at most `repetitions` copies, by our language labels
    (webcorpus/languages/fineweb2_rehydration.json, built by make_rehydration). Their thresholds t_0 < t_1 <
    ... (a cluster of size s takes the copies of the largest t_i <= s) become buckets (t_i, t_i+1 - 1)."""
    from webcorpus.languages.table import load_table

    tables = {}
    for language, by_repetitions in load_table("fineweb2_rehydration")["tables"].items():
        steps = sorted((int(size), float(copies)) for size, copies in by_repetitions[str(repetitions)].items())
        highs = [size - 1 for size, _ in steps[1:]] + [math.inf]
        tables[language] = tuple((size, high, copies) for (size, copies), high in zip(steps, highs))
    return tables


def draw(seed: int, document_id: str) -> float:
    """A document's uniform number in [0, 1): blake2b of (seed, id), the same on every machine."""
    digest = hashlib.blake2b(f"{seed}\x00{document_id}".encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "little") / 2.0**64


def copies_of(weight: float, uniform: float) -> int:
    """floor(weight) copies, plus one with probability weight - floor(weight)."""
    whole = math.floor(weight)
    return whole + (1 if uniform < weight - whole else 0)


def _documents(shard: Location, plan: Plan) -> Iterator[tuple[str, str, Part | None, float | None]]:
    """Each row of a shard: the key its draw hashes (its id), its text, its part (None: `other`) and its
    rehydration multiplier (None: rehydration off, or no cluster size)."""
    # Every column a part may select on: warc_file and dump are the file_path and dump columns (shards of
    # any version: older ones hold warc_file in the JSON); date and language_score are never selected on.
    table = read_table(shard)
    names = [name for name in table.column_names if name not in ("text", "date", "token_count")]
    cells = [table.column(name).to_pylist() for name in names]
    for text, values in zip(table.column("text").to_pylist(), zip(*cells)):
        row = dict(zip(names, values))
        document_id, url, language, metadata = row["id"], row["url"], row["language"], row_metadata(row)
        part = next((p for p in plan.parts if p.selects(language, url, metadata)), None)
        multiplier = None
        if plan.buckets is not None:
            size = metadata.get(CLUSTER_SIZE)
            if isinstance(size, int) and not isinstance(size, bool):
                multiplier = plan.multiplier(size, part, language)
        yield document_id or text or "", text or "", part, multiplier


def count_phase(shard: Location, plan: Plan) -> dict[str, float]:
    """For parts sized in characters, one shard: per part the characters it would write at weight 1
    (rehydration multipliers included)."""
    counts: dict[str, float] = {}
    for _, text, part, multiplier in _documents(shard, plan):
        if part is not None and part.characters is not None:
            counts[part.name] = counts.get(part.name, 0.0) + len(text) * (1.0 if multiplier is None else multiplier)
    return counts


def sized_plan(plan: Plan, counted: list[dict[str, float]]) -> Plan:
    """The plan with each sized part's weight: its target over the characters it holds at weight 1 (0 for
    a part that selects nothing)."""
    totals: dict[str, float] = {}
    for counts in counted:
        for name, characters in counts.items():
            totals[name] = totals.get(name, 0.0) + characters
    parts = tuple(
        replace(p, weight=p.characters / totals[p.name] if totals.get(p.name) else 0.0)
        if p.characters is not None
        else p
        for p in plan.parts
    )
    return replace(plan, parts=parts)


def mix_phase(shard: Location, output: Folder, plan: Plan, keep_removed: bool) -> dict[str, Any]:
    """The last phase, for one shard: each row's part and copies; writes the shard with its copies and the
    unsampled rows under OUTPUT/removed/mix/. Returns per part [documents in, characters in, documents out,
    characters out] and the rows without a cluster size (with rehydration)."""
    copies: list[int] = []
    names: list[str] = []
    counts: dict[str, list[int]] = {}
    drops: dict[int, tuple[str, dict[str, Any]]] = {}
    unsized = 0
    for row, (key, text, part, multiplier) in enumerate(_documents(shard, plan)):
        name, weight = (part.name, part.weight) if part else (OTHER, plan.other)
        if multiplier is not None:
            weight *= multiplier
        elif plan.buckets is not None:
            unsized += 1
        copies.append(copies_of(weight, draw(plan.seed, key)))
        names.append(name)
        characters = len(text)
        figures = counts.setdefault(name, [0, 0, 0, 0])
        figures[0] += 1
        figures[1] += characters
        figures[2] += copies[row]
        figures[3] += copies[row] * characters
        if not copies[row]:
            reason = NOT_IN_MIX if part is None and plan.other == 0 else f"{NOT_SAMPLED}:{name}"
            drops[row] = (reason, {"mix_part": name})
    rewrite_shard(shard, output, Mix.name, drops, keep_removed, np.array(copies, dtype=np.int64),
                  annotate=lambda row, copy: {"mix_part": names[row], "mix_copy": copy})  # fmt: skip
    reasons: dict[str, int] = {}
    for reason, _ in drops.values():
        reasons[reason] = reasons.get(reason, 0) + 1
    return {"parts": counts, "dropped": reasons, "without_cluster_size": unsized}


def run_mix(sources: list[Location], target: Location, step: Mix, context: CorpusContext) -> CorpusResult:
    """Every shard's unit. Rerunning after an interruption resumes."""
    started = time.perf_counter()
    shards, output, units = open_units(sources, target, step.settings, context)
    n = len(shards)
    plan = step.plan
    if any(part.characters is not None for part in plan.parts):
        counted = units.map("mix count", count_phase, [f"count_{i:05d}" for i in range(n)], shards, [plan] * n)
        plan = sized_plan(plan, counted)
    results = units.map("mix", mix_phase, [f"mix_{i:05d}" for i in range(n)],
                        shards, [output] * n, [plan] * n, [step.removed] * n)  # fmt: skip
    totals: dict[str, list[int]] = {}
    dropped: dict[str, int] = {}
    for result in results:
        for name, figures in result["parts"].items():
            totals[name] = [a + b for a, b in zip(totals.get(name, [0, 0, 0, 0]), figures)]
        for reason, count in result["dropped"].items():
            dropped[reason] = dropped.get(reason, 0) + count
    weights = {p.name: p.weight for p in plan.parts} | {OTHER: plan.other}
    targets = {p.name: p.characters for p in plan.parts if p.characters is not None}
    own = {p.name: p.buckets for p in step.plan.parts}
    order = [p.name for p in step.plan.parts] + [OTHER]
    # Lists, not mappings: stats.json sorts keys, and the parts' order is the order they take documents in.
    # Every part, one that selected nothing too (a misspelt language shows as a part with no documents).
    for name in order:
        totals.setdefault(name, [0, 0, 0, 0])
    parts = [
        {"part": name, "weight": weights[name], "documents_in": totals[name][0], "characters_in": totals[name][1],
         "documents_out": totals[name][2], "characters_out": totals[name][3]}
        | ({"characters_target": targets[name]} if name in targets else {})
        | ({"rehydrate_weights": _table(own[name])} if own.get(name) and step.plan.buckets is not None else {})
        for name in order
    ]  # fmt: skip
    documents = sum(t[0] for t in totals.values())
    written = sum(t[2] for t in totals.values())
    unsized = sum(r["without_cluster_size"] for r in results)
    figures: dict[str, Any] = {
        "documents": documents, "written": written, "shards": n, "seed": step.plan.seed, "parts": parts,
        "rehydrate": _table(step.plan.buckets) if step.plan.buckets is not None else None,
    }  # fmt: skip
    stats = step.stats
    stats.documents_in, stats.kept = documents, written
    stats.characters_in = sum(t[1] for t in totals.values())
    stats.characters_out = sum(t[3] for t in totals.values())
    stats.dropped.update(dropped)
    stats.counts["copies"] = written - (documents - sum(dropped.values()))
    stats.time_s = time.perf_counter() - started
    data = output.url(run_folder.DATA)
    shown = ", ".join(f"{p['part']} {p['documents_in']}->{p['documents_out']}" for p in parts)
    line = f"mix: {documents} documents in {n} shards -> {written} written ({shown or 'none'}) -> {data}"
    if step.plan.buckets is not None and unsized:
        figures["without_cluster_size"] = unsized
        figures["warning"] = (
            f"{unsized} documents have no {CLUSTER_SIZE} (put minhash_dedup before mix): rehydration left them at "
            "their part's weight"
        )
        line += f"\nwarning: {figures['warning']}"
    return CorpusResult(line, figures, data=data)


def _table(buckets: Buckets) -> list[list[Any]]:
    """A rehydration table as the figures show it: [["1", 1.0], ["3-4", 3.0], ["101+", 1.0]]."""
    return [[_bucket_name(low, high), weight] for low, high, weight in buckets]


def _bucket_name(low: int, high: float) -> str:
    if high == math.inf:
        return f"{low}+"
    return str(low) if low == high else f"{low}-{int(high)}"

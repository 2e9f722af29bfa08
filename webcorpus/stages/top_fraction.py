"""Keep the top fraction of a whole corpus by a classifier score (DCLM keeps the top 10%), in three phases.

Each phase works on units and resumes by pipeline/units.py, like minhash_dedup (dedup/batch.py):

1. scores (parallel over shards): each document's score, `metadata[score]` (NaN where it has none or one that
   is not a number) -> OUTPUT/.work/scores/SHARD.npy, and its language -> OUTPUT/.work/languages/SHARD.npy
   when `by_language`.
2. threshold (one unit): per group (the whole corpus, or each language) keep exactly
   ceil(fraction x documents with a score) documents, the highest scores first and, among equal scores, the
   first in input order (shard name order, then row order) -> a keep mask per shard, OUTPUT/.work/keep/SHARD.npy.
3. filter (parallel over shards): copy each shard without its dropped rows -> OUTPUT/data/, and the dropped
   rows (`below_fraction`, `no_score`) -> OUTPUT/removed/top_fraction/.

Only the scores (8 bytes a document) are ever held together, by the threshold unit.
"""

from __future__ import annotations

import json
import math
import time
from fractions import Fraction
from typing import Any

import numpy as np

from webcorpus.parquet import KEY_COLUMNS, Location, parquet_file, read_table
from webcorpus.pipeline import run_folder
from webcorpus.pipeline.corpus_shards import load_array, rewrite_shard, save_array
from webcorpus.pipeline.executors import CorpusContext
from webcorpus.pipeline.options import OptionError, check_arguments
from webcorpus.pipeline.run_folder import Folder
from webcorpus.pipeline.step import NO_LANGUAGE, CorpusResult, CorpusStep
from webcorpus.pipeline.units import open_units

SCORES = f"{run_folder.WORK}/scores"
LANGUAGES = f"{run_folder.WORK}/languages"
KEEP = f"{run_folder.WORK}/keep"
ALL = "(all)"  # the one group when the fraction is taken over the whole corpus


class TopFraction(CorpusStep):
    """Keeps the `fraction` of documents with the highest `metadata[score]` over the whole corpus (or within
    each language with `by_language`): exactly ceil(fraction x documents with a score) per group, ties broken
    by input order (shard name, then row). Documents without a numeric score are dropped as `no_score`, the
    others as `below_fraction`; both go to `OUTPUT/removed/top_fraction/`. Three resumable phases: scores
    (parallel over shards), threshold (one unit), filter (parallel over shards). Rerun to resume."""

    name = "top_fraction"
    drop_reasons = {
        "below_fraction": "Not among the top fraction of documents by score.",
        "no_score": "The document has no score in its metadata.",
    }
    summary = (
        "Keep the top fraction of the whole corpus by a metadata score (DCLM keeps the top 10% of "
        "quality_hq), optionally per language; ties go to input order. Resumable."
    )
    output_name = "top_fraction"
    runner_supplied = frozenset({"removed"})  # a pipeline's `removed:`
    option_minimum, option_maximum = {"fraction": 0}, {"fraction": 1}  # 0 itself is refused in __init__
    option_help = {
        "score": "The metadata key holding the score (fasttext_classifier writes NAME_LABEL, e.g. quality_hq).",
        "fraction": "Share of the documents with a score to keep, above 0 and at most 1 (DCLM: 0.1).",
        "by_language": "Take the fraction within each language (metadata.language) separately.",
    }

    def __init__(
        self, score: str = "quality_hq", fraction: float = 0.1, by_language: bool = False, removed: bool = True
    ) -> None:
        super().__init__()
        check_arguments(self, locals())
        if not 0 < fraction <= 1:
            raise OptionError(f"'fraction' must be above 0 and at most 1, got {fraction!r}")
        self.settings = {"score": score, "fraction": fraction, "by_language": by_language}
        self.score, self.fraction, self.by_language = score, fraction, by_language
        self.removed = removed  # write the dropped documents under OUTPUT/removed/top_fraction/

    def run_corpus(self, sources: list[Location], target: Location, context: CorpusContext) -> CorpusResult:
        return run_top_fraction(sources, target, self, context)


def _number(value: Any) -> float:
    """A score as a float; NaN for none, or for one that is not a number (as score_filter's `no_score`)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return math.nan
    return float(value)


def keep_count(fraction: float, scored: int) -> int:
    """ceil(fraction x scored), exactly: 0.1 x 30 is 3, not the 4 that float rounding would give."""
    return math.ceil(Fraction(repr(fraction)) * scored)


def scores_phase(shard: Location, shard_index: int, output: Folder, score: str, by_language: bool) -> dict:
    """Phase 1 for one shard: its documents' scores (float64, NaN for none) and, by language, their languages."""
    column = KEY_COLUMNS.get(score, "metadata")
    if column not in parquet_file(shard).schema_arrow.names:  # an older shard: no dump or file_path column
        column = "metadata"
    columns = sorted({column, "language"})
    table = read_table(shard, columns=columns)
    values = table.column(column).to_pylist()
    if column == "metadata":
        values = [json.loads(text or "{}").get(score) for text in values]
    scores = np.array([_number(value) for value in values], dtype=np.float64)
    save_array(output, f"{SCORES}/{shard_index:05d}.npy", scores)
    if by_language:
        languages = [language or NO_LANGUAGE for language in table.column("language").to_pylist()]
        save_array(output, f"{LANGUAGES}/{shard_index:05d}.npy", np.array(languages, dtype=np.str_).reshape(-1))
    return {"documents": len(scores), "scored": int(np.count_nonzero(~np.isnan(scores)))}


def threshold_phase(output: Folder, shards: int, fraction: float, by_language: bool) -> dict:
    """Phase 2: per group, the documents to keep (highest scores, ties by input order); writes each shard's
    keep mask. Returns per group the documents with a score, those kept and the lowest score kept."""
    parts = [load_array(data) for data in output.read_many([f"{SCORES}/{i:05d}.npy" for i in range(shards)])]
    sizes = [len(part) for part in parts]
    scores = np.concatenate(parts) if parts else np.zeros(0, np.float64)
    if by_language:
        names = [f"{LANGUAGES}/{i:05d}.npy" for i in range(shards)]
        languages = np.concatenate([load_array(data).astype(np.str_) for data in output.read_many(names)] or [[]])
    else:
        languages = np.full(len(scores), ALL)
    scored = ~np.isnan(scores)
    keep = np.zeros(len(scores), dtype=bool)
    groups: dict[str, dict[str, Any]] = {}
    for group in sorted(set(languages[scored].tolist()) if by_language else [ALL]):
        members = np.flatnonzero(scored & (languages == group))  # dense numbers: input order
        count = keep_count(fraction, len(members))
        order = np.lexsort((members, -scores[members]))  # score descending, then input order
        kept = members[order[:count]]
        keep[kept] = True
        threshold = float(scores[kept[-1]]) if count else None
        groups[group] = {"scored": len(members), "kept": int(count), "threshold": threshold}
    offsets = np.cumsum([0, *sizes])
    for index in range(shards):
        save_array(output, f"{KEEP}/{index:05d}.npy", keep[offsets[index] : offsets[index + 1]])
    return {"groups": groups, "kept": int(keep.sum()), "no_score": int(len(scores) - scored.sum())}


def filter_phase(shard: Location, shard_index: int, output: Folder, keep_removed: bool = True) -> dict:
    """Phase 3 for one shard: write it again with only its kept rows, and the dropped rows under
    OUTPUT/removed/ when `keep_removed`. Returns its counts of kept rows and of drops by reason."""
    keep = load_array(output.read_bytes(f"{KEEP}/{shard_index:05d}.npy")).astype(bool)
    scores = load_array(output.read_bytes(f"{SCORES}/{shard_index:05d}.npy"))
    drops = {row: ("no_score" if math.isnan(scores[row]) else "below_fraction", {})
             for row in np.flatnonzero(~keep).tolist()}  # fmt: skip
    counts = {"kept": rewrite_shard(shard, output, TopFraction.name, drops, keep_removed),
              "below_fraction": 0, "no_score": 0}  # fmt: skip
    for reason, _ in drops.values():
        counts[reason] += 1
    return counts


def run_top_fraction(
    sources: list[Location], target: Location, step: TopFraction, context: CorpusContext
) -> CorpusResult:
    """All three phases. Rerunning after an interruption resumes."""
    started = time.perf_counter()
    shards, output, units = open_units(sources, target, step.settings, context)
    n = len(shards)
    counted = units.map("top_fraction scores", scores_phase, [f"scores_{i:05d}" for i in range(n)],
                        shards, range(n), [output] * n, [step.score] * n, [step.by_language] * n)  # fmt: skip
    chosen = units.call("top_fraction threshold", threshold_phase, "threshold", output, n, step.fraction,
                        step.by_language)  # fmt: skip
    filtered = units.map("top_fraction filter", filter_phase, [f"filter_{i:05d}" for i in range(n)],
                         shards, range(n), [output] * n, [step.removed] * n)  # fmt: skip
    documents = sum(c["documents"] for c in counted)
    kept = sum(f["kept"] for f in filtered)
    dropped = {reason: sum(f[reason] for f in filtered) for reason in ("below_fraction", "no_score")}
    figures = {"documents": documents, "kept": kept, "shards": n, "fraction": step.fraction, "score": step.score,
               "dropped": dropped, "groups": chosen["groups"]}  # fmt: skip
    step.stats.documents_in, step.stats.kept = documents, kept
    for reason, count in dropped.items():
        if count:
            step.stats.dropped[reason] = count
    step.stats.time_s = time.perf_counter() - started
    data = output.url(run_folder.DATA)
    thresholds = ", ".join(
        f"{group} >= {g['threshold']:.6g}" if g["threshold"] is not None else f"{group}: none"
        for group, g in chosen["groups"].items()
    )
    line = (
        f"top_fraction: kept {kept} of {documents} documents in {n} shards (top {step.fraction:g} by "
        f"{step.score}; {thresholds or 'no scores'}), no score {dropped['no_score']} -> {data}"
    )
    return CorpusResult(line, figures, data=data)

"""line_dedup (exact and bloom) against datatrove's sentence dedup on the same documents: what each removes
and CPU seconds per phase, on one core.

    python bench/data/line_dedup_compare.py [--work /tmp/ldc] [--repeats 2] [--max-repeats 10,2]
        [--bloom-bytes 67108864] [--min-line-chars 0] [WARC ...]

1. The corpus: the WARCs (default: the dev WARCs) through read_warc, url_filter, extract, langid (labels
   only, every language kept), write_parquet (100 rows a shard), no quality filter and no dedup, with
   `webcorpus run` -> WORK/extracted/data/; exported as JSON lines (id, text, language) -> WORK/docs.jsonl.
2. Alternating, --repeats times: ours, exact and bloom mode, at each --max-repeats; datatrove 0.10.1 (its own venv,
   /work/dtvenv; this file run again with --datatrove-side) with FineWeb's setting (3-sentence spans, spaCy's
   English sentences) and with lines as its units (1-line spans, split on newlines, the closest to ours).
   Ours runs its three phases in this process, one unit after the other (an inline executor), and times
   each phase with time.process_time; datatrove's three steps run in one process with rank 0 of 1, timed
   the same way.
3. A table: documents in, units removed (our lines; datatrove's sentences or lines), characters removed
   (characters in minus characters in the kept documents), documents changed and dropped, CPU seconds per
   phase; then per method the lines most often gone from the documents.

The two remove different things. line_dedup removes a line from every document once more than
max_repeats documents hold it; datatrove removes every span of n sentences (or lines) seen before in
input order and keeps its first occurrence, whatever the count. Both drop a changed document left with
fewer than 50 words (datatrove also one left with fewer than 3 sentences).
"""

from __future__ import annotations

import argparse
import glob
import json
import subprocess
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DEFAULT_WARCS = sorted(glob.glob(str(REPO.parent / "shared/data/warc/dev-*.warc.gz")))
DATATROVE_PYTHON = "/work/dtvenv/bin/python"
EXTRACT = """input: {inputs}
output: {output}
removed: false
steps:
  - read_warc:
      content_types: [text/html, application/xhtml+xml]
  - url_filter:
      soft_word_threshold: 2
  - extract:
      favor_precision: true
      timeout: 5.0
  - langid:
      languages: []
      label_only: true
  - write_parquet:
      rows_per_shard: 100
"""


def datatrove_side(docs_path: str, work: str, mode: str) -> None:
    """Inside datatrove's venv: its three sentence-dedup steps on the documents; prints one JSON line."""
    import importlib.util
    import types

    if importlib.util.find_spec("tokenizers") is None:
        # datatrove.pipeline.dedup imports its exact-substring steps, which import `tokenizers` (not in that
        # venv) for a name sentence dedup never uses: a stand-in module lets the import go through.
        processors = types.ModuleType("tokenizers.processors")
        processors.TemplateProcessing = type("TemplateProcessing", (), {})
        sys.modules.update({"tokenizers": types.ModuleType("tokenizers"), "tokenizers.processors": processors})
    from datatrove.data import Document
    from datatrove.pipeline.dedup.sentence_dedup import (
        SentDedupConfig,
        SentenceDedupFilter,
        SentenceDedupSignature,
        SentenceFindDedups,
    )

    with open(docs_path, encoding="utf-8") as f:
        rows = [json.loads(line) for line in f]
    from datatrove.utils.hashing import HashConfig

    # sha1 (64 bits), not its default xxhash: xxhash is not in that venv.
    hashing = HashConfig(precision=64, hash_fc="sha1")
    config = SentDedupConfig(hash_config=hashing)
    if mode == "lines":
        config = SentDedupConfig(n_sentences=1, split_sentences=False, hash_config=hashing)

    def documents():
        return (Document(text=row["text"], id=row["id"]) for row in rows)

    seconds = {}
    started = time.process_time()
    SentenceDedupSignature(output_folder=f"{work}/sigs", config=config).run(documents(), rank=0, world_size=1)
    seconds["signatures"] = time.process_time() - started
    started = time.process_time()
    SentenceFindDedups(data_folder=f"{work}/sigs", output_folder=f"{work}/dups", config=config).run(
        rank=0, world_size=1
    )
    seconds["find"] = time.process_time() - started
    started = time.process_time()
    dedup_filter = SentenceDedupFilter(data_folder=f"{work}/dups", config=config)
    kept = list(dedup_filter.run(documents(), rank=0, world_size=1))
    seconds["filter"] = time.process_time() - started
    removed_units = _stat(dedup_filter.stats.stats.to_dict(), "removed_sentences")
    print(json.dumps({"documents": len(rows), "kept": len(kept), "kept_characters": sum(len(d.text) for d in kept),
                      "changed": sum(1 for d, row in zip(kept, _matching(rows, kept)) if d.text != row["text"]),
                      "removed_units": removed_units, "seconds": seconds,
                      "texts": {d.id: d.text for d in kept}}))  # fmt: skip


def _stat(stats: dict, name: str) -> int:
    """A counter of datatrove's stats dictionary (a number, or {"total": n, ...})."""
    value = stats.get(name, 0)
    return int(value.get("total", 0) if isinstance(value, dict) else value)


def _matching(rows: list[dict], kept: list) -> list[dict]:
    by_id = {row["id"]: row for row in rows}
    return [by_id[d.id] for d in kept]


class Inline:
    """An executor that runs every unit in this process, one after the other, and adds up its CPU seconds
    per phase function."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)

    def map(self, function, *iterables):
        for arguments in zip(*iterables):
            started = time.process_time()
            result = function(*arguments)
            self.seconds[arguments[0].__name__.removesuffix("_phase")] += time.process_time() - started
            yield result

    def call(self, function, *arguments):
        return next(self.map(function, *([argument] for argument in arguments)))

    def close(self) -> None:
        pass


def ours(source: Path, target: Path, mode: str, max_repeats: int, bloom_bytes: int, min_line_chars: int) -> dict:
    """line_dedup on the corpus in this process; its figures, characters kept and CPU seconds per phase."""
    import shutil

    from webcorpus.dedup.lines import LineDedup
    from webcorpus.parquet import read_documents
    from webcorpus.pipeline.executors import CorpusContext

    shutil.rmtree(target, ignore_errors=True)
    step, executor = (
        LineDedup(max_repeats=max_repeats, mode=mode, bloom_bytes=bloom_bytes, min_line_chars=min_line_chars),
        Inline(),
    )
    result = step.run_corpus([str(source)], str(target), CorpusContext(executor, False))
    kept_characters = sum(len(d.text) for d in read_documents(target / "data", columns=["id", "url", "text"]))
    return {**result.figures, "kept_characters": kept_characters, "seconds": dict(executor.seconds)}


def theirs(docs: Path, work: Path, mode: str) -> dict:
    import shutil

    shutil.rmtree(work, ignore_errors=True)
    command = [DATATROVE_PYTHON, __file__, "--datatrove-side", str(docs), str(work), mode]
    done = subprocess.run(command, check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def removed_lines(before: dict[str, str], after: dict[str, str], top: int = 8) -> list[tuple[int, str]]:
    """The lines (whitespace collapsed) most often gone from the documents: a look at what a method removes."""
    gone: Counter[str] = Counter()
    for doc_id, text in before.items():
        left = set(after.get(doc_id, "").split("\n"))
        gone.update(" ".join(line.split()) for line in set(text.split("\n")) - left if line.strip())
    return [(count, line[:70]) for line, count in gone.most_common(top)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("warcs", nargs="*", default=DEFAULT_WARCS)
    parser.add_argument("--work", type=Path, default=Path("/tmp/ldc"))
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--max-repeats", default="10,2", help="line_dedup's thresholds, comma-separated")
    parser.add_argument("--bloom-bytes", type=int, default=1 << 26)
    parser.add_argument("--min-line-chars", type=int, default=0)
    parser.add_argument("--datatrove-side", nargs=3, metavar=("DOCS", "WORK", "MODE"))
    args = parser.parse_args()
    if args.datatrove_side:
        datatrove_side(*args.datatrove_side)
        return
    work = args.work
    work.mkdir(parents=True, exist_ok=True)
    extracted = work / "extracted" / "data"
    if not extracted.exists():
        config = work / "extract.yaml"
        config.write_text(EXTRACT.format(inputs="[" + ", ".join(args.warcs) + "]", output=work / "extracted"))
        subprocess.run([sys.executable, "-m", "webcorpus.cli", "run", str(config), "--workers", "1",
                        "--no-progress"], check=True, cwd=REPO)  # fmt: skip
    from webcorpus.parquet import read_documents

    docs = work / "docs.jsonl"
    texts = {}
    with open(docs, "w", encoding="utf-8") as f:
        for document in read_documents(extracted):
            texts[document.id] = document.text
            row = {"id": document.id, "text": document.text, "language": document.metadata.get("language")}
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    characters = sum(map(len, texts.values()))
    thresholds = [int(value) for value in args.max_repeats.split(",")]
    methods = [(f"ours {mode} >{limit}", mode, limit) for limit in thresholds for mode in ("exact", "bloom")]
    methods += [("datatrove 3 sentences", "sentences", 0), ("datatrove 1 line", "lines", 0)]
    runs, seen = [], {}
    for repeat in range(args.repeats):
        for name, side, limit in methods:
            if name.startswith("ours"):
                target = work / f"ours_{side}_{limit}"
                figures = ours(extracted, target, side, limit, args.bloom_bytes, args.min_line_chars)
                figures["removed_units"] = figures["lines_removed"]
                after = {d.id: d.text for d in read_documents(target / "data", columns=["id", "url", "text"])}
            else:
                figures = theirs(docs, work / f"datatrove_{side}", side)
                after = figures.pop("texts")
            seen.setdefault(name, removed_lines(texts, after))
            figures["name"], figures["repeat"] = name, repeat
            runs.append(figures)
            print(json.dumps(figures), flush=True)
    print(f"\n{len(texts)} documents, {characters} characters in; bloom_bytes {args.bloom_bytes}, "
          f"min_line_chars {args.min_line_chars}")  # fmt: skip
    print(f"{'':24} {'repeat':>6} {'units removed':>13} {'chars removed':>13} {'docs changed':>12} "
          f"{'docs dropped':>12}  CPU seconds per phase")  # fmt: skip
    for run in runs:
        phases = ", ".join(f"{phase} {seconds:.2f}" for phase, seconds in run["seconds"].items())
        total = sum(run["seconds"].values())
        print(f"{run['name']:24} {run['repeat']:>6} {run['removed_units']:>13} "
              f"{characters - run['kept_characters']:>13} {run['changed']:>12} {run['documents'] - run['kept']:>12}"
              f"  {phases} (total {total:.2f}, {characters / total / 1e6:.1f}M characters/s)")  # fmt: skip
    for run in runs[: len(methods)]:
        if "sketch_fill" in run:
            print(f"{run['name']}: sketch fill {run['sketch_fill']:.4f}, stated false-positive rate "
                  f"{run['false_positive_rate']:.2e}")  # fmt: skip
    for name, lines in seen.items():
        print(f"\n{name}: lines most often gone (documents)")
        for count, line in lines:
            print(f"  {count:4d}  {line!r}")


if __name__ == "__main__":
    main()

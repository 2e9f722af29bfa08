"""`webcorpus ablate`: which version of the data makes the better model?

For pipeline variants A, B, ... (YAML files): run each (its own run folder under DIR/variants/, reused and
resumed like any run), set aside one evaluation text, train one tokenizer on an equal mix of all
variants, tokenize each variant with it, train the same model from the same seed on the same number of
tokens of each, and score every model on the same evaluation text in bits per byte (comparable whatever
the tokenizer) and on its own variant's validation split. Each score gets a bootstrap interval over the
evaluation documents and every pair of variants a verdict, a tie when the difference is inside the noise;
a budget or evaluation text too small to say anything is warned about (uncertainty.py).

The evaluation text is, by default, a held-out slice of the union of the variants' finished corpora: the
documents whose id hashes lowest (the same documents in every variant that kept them), removed from every
variant's training data. Every phase writes its result once and is reused by a rerun.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from webcorpus.atomic import write_json
from webcorpus.document import Document
from webcorpus.parquet import input_shards, read_documents
from webcorpus.pipeline.executors import CorpusContext
from webcorpus.pipeline.run_folder import Folder
from webcorpus.pipeline.units import Units
from webcorpus.pipeline.units import fingerprint as units_fingerprint
from webcorpus.tokens.bpe import bucket

EVAL_SHARE = 0.05  # of the union's documents, at least one
MIX_CHARACTERS = 50_000_000  # the tokenizer's training mix, shared equally by the variants
# A variant's own tokenization is replaced by the shared one.
TOKENIZER_STEPS = ("train_tokenizer", "tokenize")
# DIR/data/ and DIR/tokens/ hold these folders beside the variants'.
RESERVED_NAMES = frozenset({"eval", "mix"})


def run_ablation(
    pipelines: list[Path],
    output: Path,
    preset: str = "tiny",
    train_tokens: int | None = None,
    eval_source: Path | None = None,
    vocab_size: int = 8192,
    workers: int | None = None,
    progress: bool = False,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Run the whole ablation; returns what DIR/ablation.json holds."""
    names = [Path(p).stem for p in pipelines]
    if len(set(names)) != len(names):
        raise ValueError(f"variant names (the YAML files' names) must differ: {', '.join(names)}")
    if len(names) < 2:
        raise ValueError("an ablation compares at least two pipeline variants")
    if set(names) & RESERVED_NAMES:
        raise ValueError(f"a variant may not be called {' or '.join(sorted(RESERVED_NAMES))}: rename its YAML file")
    steps_of, finished = {}, {}
    for name, pipeline in zip(names, pipelines):
        steps_of[name], finished[name] = run_variant(Path(pipeline), output / "variants" / name, workers, progress, log)

    # The corpora are streamed, never held: only an index of (hash bucket, id, characters) per document.
    index = {name: document_index(folder) for name, folder in finished.items()}
    eval_documents = evaluation_documents(finished, index, eval_source)
    held_out = {d.id for d in eval_documents}
    context = CorpusContext.local(workers or 1, progress)  # the data and tokens phases' workers
    try:
        data = output / "data"
        folders = list(finished.values())
        for name, folder in finished.items():
            documents = (d for d in read_documents(folder) if d.id not in held_out)
            write_once(data / name, documents, fingerprint([folder], "train", held_out), context)
        write_once(data / "eval", iter(eval_documents), fingerprint(folders, "eval", held_out), context)
        mix = tokenizer_mix(finished, index, held_out)
        write_once(data / "mix", iter(mix), fingerprint(folders, "mix", held_out), context)

        from webcorpus.tokens.bpe import TrainTokenizer
        from webcorpus.tokens.tokenize import VAL_TOKENS, Tokenize

        tokenizer = output / "tokenizer.json"
        tokenizer_result = TrainTokenizer(vocab_size=vocab_size).run_corpus([data / "mix"], tokenizer, context)
        log(tokenizer_result.line)
        tokens = {}
        for name in [*names, "eval"]:
            step = Tokenize(tokenizer=str(tokenizer), val_tokens=0 if name == "eval" else VAL_TOKENS)
            result = step.run_corpus([data / name], output / "tokens" / name, context)
            tokens[name] = result.figures
            log(result.line)
    finally:
        context.executor.close()

    budget = train_tokens or min(tokens[name]["train"]["tokens"] for name in names)
    eval_bytes = sum(len(d.text.encode("utf-8")) for d in eval_documents)
    from webcorpus.ablate import uncertainty
    from webcorpus.ablate.score import document_bits, optimiser_steps, train_variant

    # Known before any training: said now, so that a run that can say little can be stopped early.
    available_of = {name: tokens[name]["train"]["tokens"] for name in names}
    repeated = {name: round(budget / n, 3) if budget > n else None for name, n in available_of.items()}
    warnings = uncertainty.warnings_for(optimiser_steps(preset, budget), len(eval_documents), eval_bytes, repeated)
    for warning in warnings:
        log(f"WARNING: {warning}")

    # Bits per document, in the order of the evaluation token stream (the shards' file-name order).
    per_document_bytes = document_bytes(data / "eval")
    results, bits = [], {}
    for name in names:
        records, config = train_variant(output / "tokens" / name, output / "train" / name, preset, budget, log)
        bits[name] = document_bits(output / "train" / name / "ckpt.pt", output / "tokens" / "eval")
        if len(bits[name]) != len(per_document_bytes):
            raise RuntimeError(
                f"{output / 'tokens' / 'eval'}: {len(bits[name])} documents, {data / 'eval'}: "
                f"{len(per_document_bytes)}; tokenize the evaluation text again (remove {output / 'tokens'})"
            )
        available = tokens[name]["train"]["tokens"]
        val_losses = [r["val_loss"] for r in records if "val_loss" in r]
        results.append(
            {
                "name": name,
                "pipeline": str(pipelines[names.index(name)]),
                "steps": steps_of[name],
                "documents": len(index[name]),
                "train_documents": tokens[name]["train"]["documents"],
                "train_tokens_available": available,
                "val_tokens": tokens[name]["val"]["tokens"],
                "repeated": repeated[name],
                "eval_bits_per_byte": round(float(bits[name].sum()) / max(eval_bytes, 1), 6),
                "own_val_loss": val_losses[-1] if val_losses else None,
                "curve": [{k: r[k] for k in ("step", "loss", "val_loss") if k in r} for r in records],
                "optimizer_steps": config.max_steps,
            }
        )
    intervals, comparisons = uncertainty.compare(bits, per_document_bytes)
    for result in results:
        result["eval_interval"] = intervals[result["name"]]
    summary = {
        "preset": preset,
        "train_tokens": budget,
        "tokens_per_step": tokens_per_step(config),
        "tokenizer": {"path": str(tokenizer), "vocab_size": tokenizer_result.figures["vocab_size"]},
        "eval": {
            "source": str(eval_source) if eval_source else f"held-out {EVAL_SHARE:.0%} of the union, by id hash",
            "documents": len(eval_documents),
            "bytes": eval_bytes,
            "tokens": tokens["eval"]["train"]["tokens"],
        },
        "differences": differences(steps_of),
        "variants": results,
        "comparisons": comparisons,
        "warnings": warnings,
        "thresholds": uncertainty.thresholds(),
    }
    write_json(output / "ablation.json", summary)
    from webcorpus.ablate.report import write_ablation_report

    write_ablation_report(output, summary)
    for line in uncertainty.summary_lines(summary):
        log(line)
    return summary


def tokens_per_step(config: Any) -> int:
    from webcorpus.train.config import GPTConfig

    return config.batch_size * config.grad_accum * GPTConfig(**config.model).context


def run_variant(
    pipeline: Path, out: Path, workers: int | None, progress: bool, log: Callable[[str], None]
) -> tuple[list[str], Path]:
    """Run one variant's pipeline (without its own tokenizer steps) into `out`; returns its steps and the
    finished corpus. A finished run is reused, an interrupted one resumed, by the runner itself."""
    from webcorpus.pipeline.config import load_pipeline
    from webcorpus.pipeline.runner import nothing_kept, run_pipeline

    config = load_pipeline(pipeline)
    config.steps = [s for s in config.steps if s.name not in TOKENIZER_STEPS]
    config.output = str(out)
    result = run_pipeline(config, workers=workers, progress=progress)
    if result.failed:
        raise RuntimeError(f"{pipeline}: {len(result.failed)} input files failed: {'; '.join(result.failed)}")
    if not result.documents_out:  # no model can be trained on it: say why here, not in the trainer
        raise RuntimeError(f"{pipeline}: {'; '.join(nothing_kept(result)) or 'nothing kept'}")
    log(f"{pipeline.stem}: {result.documents_out} documents -> {result.final_data}")
    steps = [f"{s.name} {json.dumps(s.options, sort_keys=True)}" if s.options else s.name for s in config.steps]
    return steps, Path(result.final_data)


def document_bytes(folder: Path) -> Any:
    """The UTF-8 bytes of every document's text in a folder of shards, in the order tokenize encodes them
    (the shards in file-name order, each in order)."""
    import numpy as np
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    lengths: list[int] = []
    for path in input_shards([folder]):
        for batch in pq.ParquetFile(path).iter_batches(columns=["text"]):
            lengths += pc.binary_length(batch.column("text")).to_pylist()
    return np.array(lengths, dtype=np.int64)


def document_index(folder: Path) -> list[tuple[int, str, int]]:
    """(id hash bucket, id, characters) of every document in a folder of shards, texts not kept."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    rows = []
    for path in input_shards([folder]):
        for batch in pq.ParquetFile(path).iter_batches(columns=["id", "text"]):
            lengths = pc.utf8_length(batch.column("text")).to_pylist()
            rows += [(bucket(i), i, n) for i, n in zip(batch.column("id").to_pylist(), lengths)]
    return rows


def evaluation_documents(
    finished: dict[str, Path], index: dict[str, list[tuple[int, str, int]]], source: Path | None
) -> list[Document]:
    """The evaluation text: the user's (a text file, or Parquet shards), or the held-out slice of the union:
    the documents whose ids hash lowest, each as the first variant (in the given order) has it."""
    if source is not None:
        if source.suffix == ".txt":
            return [Document("eval", str(source), source.read_text(encoding="utf-8"))]
        return list(read_documents(source))
    union = sorted({(b, i) for rows in index.values() for b, i, _ in rows})
    wanted = [i for _, i in union[: max(1, round(EVAL_SHARE * len(union)))]]
    found = _collect(finished, set(wanted))
    return [found[i] for i in wanted]


def tokenizer_mix(
    finished: dict[str, Path], index: dict[str, list[tuple[int, str, int]]], held_out: set[str]
) -> list[Document]:
    """An equal share of characters from each variant, documents taken in id-hash order; each once."""
    share = MIX_CHARACTERS // max(len(index), 1)
    chosen: dict[str, None] = {}
    for rows in index.values():
        used = 0
        for _, document_id, characters in sorted(r for r in rows if r[1] not in held_out):
            if used + characters > share:
                break
            used += characters
            chosen.setdefault(document_id)
    found = _collect(finished, set(chosen))
    return [found[i] for i in chosen]


def _collect(finished: dict[str, Path], ids: set[str]) -> dict[str, Document]:
    """The documents with these ids, each from the first variant (in order) that has it."""
    found: dict[str, Document] = {}
    for folder in finished.values():
        for document in read_documents(folder):
            if document.id in ids and document.id not in found:
                found[document.id] = document
    return found


def fingerprint(folders: list[Path], part: str, held_out: set[str]) -> str:
    """What a data folder is made from: the variants' shards (names and sizes), and the held-out ids."""
    key = "\n".join(sorted(held_out)).encode()
    return "-".join(units_fingerprint([folder], {"part": part}, key) for folder in folders)


def write_once(folder: Path, documents: Iterator[Document], made_from: str, context: CorpusContext) -> None:
    """Parquet shards of `documents` in `folder`, written once (one unit of pipeline/units.py, done here:
    the documents are a stream of this process)."""
    from webcorpus.stages.write_parquet import ParquetWriter

    units = Units(Folder(folder), made_from, context)
    if not units.done("write"):
        units.record("write", {"shards": len(ParquetWriter().write(documents, folder))})


def differences(steps_of: dict[str, list[str]]) -> dict[str, list[str]]:
    """Per variant, the steps (with their options) that not every variant has."""
    common = set.intersection(*(set(steps) for steps in steps_of.values()))
    return {name: [s for s in steps if s not in common] for name, steps in steps_of.items()}

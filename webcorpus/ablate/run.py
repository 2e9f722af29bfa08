"""`webcorpus ablate`: which version of the data makes the better model?

For pipeline variants A, B, ... (YAML files): run each (its own run folder under DIR/variants/, reused and
resumed like any run), set aside one evaluation text, train one tokenizer on an equal mix of all
variants, tokenize each variant with it, train the same model from the same seed on the same number of
tokens of each, and score every model on the same evaluation text in bits per byte (comparable whatever
the tokenizer) and on its own variant's validation split.

The evaluation text is, by default, a held-out slice of the union of the variants' finished corpora: the
documents whose id hashes lowest (the same documents in every variant that kept them), removed from every
variant's training data. Every phase writes its result once and is reused by a rerun.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from webcorpus.atomic import write_json
from webcorpus.document import Document
from webcorpus.parquet import read_documents
from webcorpus.pipeline.step import CorpusContext
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
    context = CorpusContext(workers=workers or 1, progress=progress)
    steps_of, finished = {}, {}
    for name, pipeline in zip(names, pipelines):
        steps_of[name], finished[name] = run_variant(Path(pipeline), output / "variants" / name, workers, progress, log)

    documents = {name: list(read_documents(folder)) for name, folder in finished.items()}
    eval_documents = evaluation_documents(documents, eval_source)
    held_out = {d.id for d in eval_documents}
    data = output / "data"
    for name, docs in documents.items():
        write_once(data / name, [d for d in docs if d.id not in held_out])
    write_once(data / "eval", eval_documents)
    write_once(
        data / "mix", tokenizer_mix({n: [d for d in docs if d.id not in held_out] for n, docs in documents.items()})
    )

    from webcorpus.tokens.bpe import TrainTokenizer
    from webcorpus.tokens.tokenize import VAL_TOKENS, Tokenize

    tokenizer = output / "tokenizer.json"
    tokenizer_summary = TrainTokenizer(vocab_size=vocab_size).run_corpus([data / "mix"], tokenizer, context)
    log(tokenizer_summary["line"])
    tokens = {}
    for name in [*names, "eval"]:
        step = Tokenize(tokenizer=str(tokenizer), val_tokens=0 if name == "eval" else VAL_TOKENS)
        tokens[name] = step.run_corpus([data / name], output / "tokens" / name, context)
        log(tokens[name]["line"])

    budget = train_tokens or min(tokens[name]["train"]["tokens"] for name in names)
    eval_bytes = sum(len(d.text.encode("utf-8")) for d in eval_documents)
    from webcorpus.ablate.score import bits_per_byte, train_variant

    results = []
    for name in names:
        records, config = train_variant(output / "tokens" / name, output / "train" / name, preset, budget, log)
        available = tokens[name]["train"]["tokens"]
        val_losses = [r["val_loss"] for r in records if "val_loss" in r]
        results.append(
            {
                "name": name,
                "pipeline": str(pipelines[names.index(name)]),
                "steps": steps_of[name],
                "documents": len(documents[name]),
                "train_documents": tokens[name]["train"]["documents"],
                "train_tokens_available": available,
                "val_tokens": tokens[name]["val"]["tokens"],
                "repeated": round(budget / available, 3) if budget > available else None,
                "eval_bits_per_byte": bits_per_byte(
                    output / "train" / name / "ckpt.pt", output / "tokens" / "eval", eval_bytes
                ),
                "own_val_loss": val_losses[-1] if val_losses else None,
                "curve": [{k: r[k] for k in ("step", "loss", "val_loss") if k in r} for r in records],
                "optimizer_steps": config.max_steps,
            }
        )
    summary = {
        "preset": preset,
        "train_tokens": budget,
        "tokens_per_step": tokens_per_step(config),
        "tokenizer": {"path": str(tokenizer), "vocab_size": tokenizer_summary["vocab_size"]},
        "eval": {
            "source": str(eval_source) if eval_source else f"held-out {EVAL_SHARE:.0%} of the union, by id hash",
            "documents": len(eval_documents),
            "bytes": eval_bytes,
            "tokens": tokens["eval"]["train"]["tokens"],
        },
        "differences": differences(steps_of),
        "variants": results,
    }
    write_json(output / "ablation.json", summary)
    from webcorpus.ablate.report import write_ablation_report

    write_ablation_report(output, summary)
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
    from webcorpus.pipeline.runner import run_pipeline

    config = load_pipeline(pipeline)
    config.steps = [s for s in config.steps if s.name not in TOKENIZER_STEPS]
    config.output = str(out)
    result = run_pipeline(config, workers=workers, progress=progress)
    if result.failed:
        raise RuntimeError(f"{pipeline}: {len(result.failed)} input files failed: {'; '.join(result.failed)}")
    log(f"{pipeline.stem}: {result.documents_out} documents -> {result.final_data}")
    steps = [f"{s.name} {json.dumps(s.options, sort_keys=True)}" if s.options else s.name for s in config.steps]
    return steps, Path(result.final_data)


def evaluation_documents(documents: dict[str, list[Document]], source: Path | None) -> list[Document]:
    """The evaluation text: the user's (a text file, or Parquet shards), or the held-out slice of the union."""
    if source is not None:
        if source.suffix == ".txt":
            return [Document("eval", str(source), source.read_text(encoding="utf-8"))]
        return list(read_documents(source))
    union: dict[str, Document] = {}
    for docs in documents.values():
        for document in docs:
            union.setdefault(document.id, document)  # the first variant's text of a shared document
    ranked = sorted(union.values(), key=lambda d: (bucket(d.id), d.id))
    return ranked[: max(1, round(EVAL_SHARE * len(ranked)))]


def tokenizer_mix(documents: dict[str, list[Document]]) -> list[Document]:
    """An equal share of characters from each variant, documents taken in id-hash order; each once."""
    share = MIX_CHARACTERS // max(len(documents), 1)
    mix: dict[str, Document] = {}
    for docs in documents.values():
        used = 0
        for document in sorted(docs, key=lambda d: (bucket(d.id), d.id)):
            if used + len(document.text) > share:
                break
            used += len(document.text)
            mix.setdefault(document.id, document)
    return list(mix.values())


def write_once(folder: Path, documents: list[Document]) -> None:
    """Parquet shards of `documents` in `folder`, written once: a folder with the same content is kept."""
    from webcorpus.stages.write_parquet import ParquetWriter

    digest = _digest(documents)
    marker = folder / ".content.json"
    if marker.exists() and json.loads(marker.read_text()).get("digest") == digest:
        return
    if folder.exists():
        for stale in folder.glob("*.parquet"):
            stale.unlink()
    ParquetWriter().write(documents, folder)
    write_json(marker, {"digest": digest, "documents": len(documents)})


def _digest(documents: list[Document]) -> str:
    import hashlib

    digest = hashlib.sha256()
    for document in documents:
        digest.update(f"{document.id}\0{len(document.text)}\0".encode())
        digest.update(document.text.encode("utf-8", "surrogatepass"))
    return digest.hexdigest()


def differences(steps_of: dict[str, list[str]]) -> dict[str, list[str]]:
    """Per variant, the steps (with their options) that not every variant has."""
    common = set.intersection(*(set(steps) for steps in steps_of.values()))
    return {name: [s for s in steps if s not in common] for name, steps in steps_of.items()}

"""Every step by the name the YAML uses (the shell subcommand is the same name with dashes).

Steps are imported only when asked for, so `webcorpus train --help` never loads trafilatura, presidio
or pyarrow. Add a step here and it is in the YAML, the CLI and docs/steps.md.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
from functools import cache

from webcorpus.pipeline.step import Step

# In FineWeb's order, which is also the order of `webcorpus --help` and docs/steps.md.
STEPS: dict[str, str] = {
    "read_warc": "webcorpus.stages.read_warc:WarcReader",
    "read_parquet": "webcorpus.stages.read_parquet:ParquetReader",
    "url_filter": "webcorpus.stages.url_filter:UrlFilter",
    "quick_langid": "webcorpus.stages.quick_langid:QuickLanguageFilter",
    "extract": "webcorpus.stages.extract:TrafilaturaExtractor",
    "langid": "webcorpus.stages.langid:LanguageFilter",
    "gopher_repetition": "webcorpus.stages.gopher_repetition:GopherRepetitionFilter",
    "gopher_quality": "webcorpus.stages.gopher_quality:GopherQualityFilter",
    "c4_quality": "webcorpus.stages.c4_quality:C4QualityFilter",
    "fineweb_quality": "webcorpus.stages.fineweb_quality:FineWebQualityFilter",
    "fasttext_classifier": "webcorpus.stages.fasttext_classifier:FastTextClassifier",
    "hf_classifier": "webcorpus.stages.hf_classifier:HfClassifier",
    "score_filter": "webcorpus.stages.score_filter:ScoreFilter",
    "decontaminate": "webcorpus.stages.decontaminate:Decontaminate",
    "write_parquet": "webcorpus.stages.write_parquet:ParquetWriter",
    "minhash_dedup": "webcorpus.dedup.batch:MinHashDedup",
    "url_dedup": "webcorpus.dedup.urls:UrlDedup",
    "line_dedup": "webcorpus.dedup.lines:LineDedup",
    "top_fraction": "webcorpus.stages.top_fraction:TopFraction",
    "mix": "webcorpus.stages.mix:Mix",
    "stream_minhash_dedup": "webcorpus.dedup.stream:StreamMinHashDedup",
    "exact_dedup": "webcorpus.dedup.stream:ExactDedup",
    "pii": "webcorpus.pii.stage:PiiScrubber",
    "train_tokenizer": "webcorpus.tokens.bpe:TrainTokenizer",
    "tokenize": "webcorpus.tokens.tokenize:Tokenize",
}
# Old names, so an old pipeline file gets a hint instead of a bare "unknown step".
RENAMED = {"dedup_batch": "minhash_dedup", "dedup": "stream_minhash_dedup"}


def step_class(name: str) -> type[Step]:
    """The class of step `name`; KeyError for an unknown name."""
    module, _, attribute = STEPS[name].partition(":")
    return getattr(importlib.import_module(module), attribute)


@cache
def step_summary(name: str) -> str:
    """Step `name`'s one-line `summary`, read from its module's source without importing it: `webcorpus
    --help` lists every step, and importing them all loads trafilatura, pyarrow and datasketch."""
    module, _, attribute = STEPS[name].partition(":")
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        return ""
    with open(spec.origin, encoding="utf-8") as source:
        tree = ast.parse(source.read())
    constants = {  # the module's own string constants, for a summary written as an f-string over them
        target.id: node.value.value
        for node in tree.body
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)
        for target in node.targets
        if isinstance(target, ast.Name)
    }
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name == attribute:
            for statement in node.body:
                if isinstance(statement, ast.Assign) and any(
                    isinstance(t, ast.Name) and t.id == "summary" for t in statement.targets
                ):
                    text = _literal(statement.value, constants)
                    if text is not None:
                        return text
    return getattr(step_class(name), "summary", "")  # a summary that is no literal: import after all


def _literal(node: ast.expr, constants: dict[str, str]) -> str | None:
    """A string literal, or an f-string whose fields are plain names of `constants`; else None."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        parts = []
        for part in node.values:
            if isinstance(part, ast.FormattedValue) and isinstance(part.value, ast.Name) and part.format_spec is None:
                if part.value.id not in constants or part.conversion != -1:
                    return None
                parts.append(constants[part.value.id])
            else:
                text = _literal(part, constants)
                if text is None:
                    return None
                parts.append(text)
        return "".join(parts)
    return None


def unknown_step_message(name: str) -> str:
    if name in RENAMED:
        return f"unknown step '{name}' (renamed to '{RENAMED[name]}')"
    return f"unknown step '{name}' (known: {', '.join(STEPS)})"

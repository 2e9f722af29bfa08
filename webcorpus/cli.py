"""The `webcorpus` command. It parses options and calls the stages; the work lives in the stages.

Every stage of the YAML has a subcommand of the same name (dashes for underscores) taking the
same options, reading documents as JSON lines on stdin and writing them on stdout:

    webcorpus read-warc data/*.warc.gz | webcorpus url-filter | webcorpus extract \\
        | webcorpus langid --languages en | webcorpus write-parquet out/
"""

from __future__ import annotations

import json
import sys
import typing
from pathlib import Path
from typing import Any

import click

from webcorpus import __version__
from webcorpus.document import read_jsonl, write_jsonl
from webcorpus.stages import FILTERS, Stage
from webcorpus.stages.base import StageStats, stage_options
from webcorpus.stages.read_warc import InputError, WarcReader
from webcorpus.stages.write_parquet import ParquetShardWriter


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="webcorpus")
def main() -> None:
    """Turn CommonCrawl WARC files into language-model training data, FineWeb style.

    Run a whole pipeline with `webcorpus run pipelines/fineweb.yaml`, or chain the stage
    subcommands in a shell pipe (documents travel as JSON lines).
    """


def _stage_click_options(stage_class: type[Stage]):
    """Click options built from the stage's own option specs, so CLI and YAML always agree."""

    def decorate(command):
        for spec in reversed(stage_options(stage_class)):
            flag = spec.name.replace("_", "-")
            default = None if spec.required else spec.default
            base = spec.base_type
            if base is bool:
                option = click.option(
                    f"--{flag}/--no-{flag}", spec.name, default=default, show_default=True, help=spec.help
                )
            elif typing.get_origin(base) is list:
                option = click.option(
                    f"--{flag}", spec.name, multiple=True, help=f"{spec.help} Repeat or separate with commas."
                )
            else:
                option = click.option(
                    f"--{flag}", spec.name, type=base, default=default, show_default=default is not None, help=spec.help
                )
            command = option(command)
        return command

    return decorate


def _stage_kwargs(stage_class: type[Stage], given: dict[str, Any]) -> dict[str, Any]:
    kwargs = {}
    for spec in stage_options(stage_class):
        value = given.get(spec.name)
        if typing.get_origin(spec.base_type) is list:
            value = [item for v in value for item in v.split(",") if item] if value else None
            if value is None and not spec.optional:
                continue
        kwargs[spec.name] = value
    return kwargs


def _report(stage: Stage, stats: StageStats | None = None) -> None:
    stats = stats or stage.stats
    reasons = ", ".join(f"{r}: {n}" for r, n in stats.dropped.most_common()) or "none"
    errors = "".join(f", {e}: {n}" for e, n in sorted(stats.errors.items()))
    counts = "".join(f", {what}: {n}" for what, n in sorted(stats.counts.items()))
    click.echo(f"{stage.name}: {stats.documents_in} in, {stats.kept} kept, dropped {reasons}{errors}{counts}", err=True)


def _make_filter_command(stage_class: type[Stage]) -> click.Command:
    @click.command(
        name=stage_class.name.replace("_", "-"), help=f"{stage_class.summary}\n\nJSON lines in on stdin, out on stdout."
    )
    @_stage_click_options(stage_class)
    @click.option(
        "--removed",
        type=click.Path(dir_okay=False),
        help="Write dropped documents (with metadata.drop_reason) to this .jsonl[.gz] file.",
    )
    def command(removed: str | None, **options: Any) -> None:
        stage = _build(stage_class, _stage_kwargs(stage_class, options))
        exclusion = None
        if removed:
            from webcorpus.exclusion import ExclusionWriter

            exclusion = ExclusionWriter(removed)
            stage.on_drop = exclusion
        stage.start_task()
        _pipe(stage.run(read_jsonl(sys.stdin)))
        if exclusion is not None:
            exclusion.close()
        _report(stage)

    return command


def _build(stage_class: type[Stage], kwargs: dict[str, Any]) -> Stage:
    try:
        return stage_class(**kwargs)
    except (OSError, ValueError) as error:
        raise click.ClickException(str(error)) from None


def _pipe(documents) -> None:
    try:
        write_jsonl(documents, sys.stdout)
        sys.stdout.flush()
    except BrokenPipeError:  # `... | head`: the reader left, which is not an error
        sys.stdout = None  # type: ignore[assignment]


for _filter in FILTERS.values():
    main.add_command(_make_filter_command(_filter))


@main.command("read-warc")
@click.argument("inputs", nargs=-1, required=True)
@_stage_click_options(WarcReader)
def read_warc(inputs: tuple[str, ...], **options: Any) -> None:
    """Read WARC files and print their HTML pages as JSON-line documents.

    INPUTS are .warc/.warc.gz files, folders, globs or CommonCrawl warc.paths[.gz] lists.
    Non-200 responses and non-HTML content are dropped; damaged files keep what came before.
    """
    reader = _build(WarcReader, _stage_kwargs(WarcReader, options))
    try:
        paths = reader.expand(inputs)
    except InputError as error:
        raise click.ClickException(str(error)) from None
    _pipe(reader.run(paths))
    _report(reader)


@main.command("write-parquet")
@click.argument("output_dir", type=click.Path(file_okay=False))
@_stage_click_options(ParquetShardWriter)
@click.option("--prefix", default="part", show_default=True, help="Shard names: PREFIX_00000.parquet, ...")
def write_parquet(output_dir: str, prefix: str, **options: Any) -> None:
    """Write JSON-line documents from stdin into sharded Parquet files in OUTPUT_DIR."""
    writer = _build(ParquetShardWriter, {"output_dir": output_dir, "prefix": prefix, **options})
    shards = writer.write(read_jsonl(sys.stdin))
    click.echo(f"write_parquet: {writer.stats.kept} documents in {len(shards)} shards under {output_dir}", err=True)


@main.command()
@click.argument("pipeline", type=click.Path(dir_okay=False))
@click.option(
    "--workers", "-w", type=click.IntRange(min=1), help="Worker processes (default: the YAML's, else all cores)."
)
@click.option("--input", "-i", "inputs", multiple=True, help="Replace the YAML's input (repeatable).")
@click.option("--output", "-o", help="Replace the YAML's output folder.")
@click.option("--progress/--no-progress", default=True, show_default=True, help="Show a progress bar.")
def run(pipeline: str, workers: int | None, inputs: tuple[str, ...], output: str | None, progress: bool) -> None:
    """Run the pipeline described by the YAML file PIPELINE.

    Input files are processed in parallel, one task per file. Rerunning into the same output
    folder skips files already done, so an interrupted run resumes where it stopped.
    """
    from webcorpus.config import ConfigError, load_pipeline
    from webcorpus.runner import format_table, run_pipeline

    try:
        config = load_pipeline(pipeline)
    except ConfigError as error:
        raise click.ClickException(str(error)) from None
    if inputs:
        config.input = list(inputs)
    if output:
        config.output = output
    if not config.input:
        raise click.ClickException(f"{pipeline}: input: missing (set it in the YAML or pass --input)")
    if not config.output:
        raise click.ClickException(f"{pipeline}: output: missing (set it in the YAML or pass --output)")
    try:
        result = run_pipeline(config, workers=workers, progress=progress)
    except (ValueError, RuntimeError, OSError) as error:  # bad input, bad option values, folder mismatch
        raise click.ClickException(str(error)) from None
    click.echo(format_table(result))
    for stats in result.stats:
        for bad in stats.bad_files:
            click.echo(f"bad file: {bad}")
    for step in result.after:
        click.echo(step["line"])
    kept = [step["documents_kept"] for step in result.after if "documents_kept" in step]
    final = kept[-1] if kept else result.documents_out
    click.echo(
        f"\n{final} documents from {result.files_done + result.files_skipped} files "
        f"({result.files_skipped} already done) in {result.wall_s:.1f}s -> {result.final_data}"
    )
    click.echo(f"per-stage figures: {result.output / 'stats.json'}")
    if result.failed:
        for failure in result.failed:
            click.echo(f"failed: {failure}", err=True)
        raise click.ClickException(f"{len(result.failed)} files failed; rerun the same command to retry them")


@main.command("dedup-batch")
@click.argument("input_dir", type=click.Path(exists=True, file_okay=False))
@click.argument("output_dir", type=click.Path(file_okay=False))
@click.option("--workers", "-w", type=click.IntRange(min=1), help="Worker processes (default: all cores).")
@click.option(
    "--clusters-out", type=click.Path(dir_okay=False), help="Write each cluster (kept id, removed ids) as JSON lines."
)
@click.option("--shingle-size", default=5, show_default=True, help="Words per shingle.")
@click.option("--bands", default=14, show_default=True, help="LSH bands.")
@click.option("--rows", default=8, show_default=True, help="Hashes per band.")
@click.option("--seed", default=1, show_default=True, help="Seed of the MinHash permutations.")
@click.option("--hash", "hash_name", default="sha1", show_default=True, help="Shingle hash: sha1, md5 or blake2b.")
@click.option("--hash-ranges", default=8, show_default=True, help="Split each band's buckets into this many parts.")
def dedup_batch(input_dir, output_dir, workers, clusters_out, shingle_size, bands, rows, seed, hash_name, hash_ranges):
    """Remove near-duplicates across a folder of Parquet shards (FineWeb's MinHash, in resumable phases).

    In each cluster of near-duplicates the document first in input order (shard name, then row)
    is kept; the others go to OUTPUT_DIR/removed/dedup/ with `duplicate_of` and `cluster`.
    Rerun the same command to resume an interrupted run.
    """
    from webcorpus.batch_dedup import DedupSettings, run_batch_dedup

    try:
        settings = DedupSettings(shingle_size, bands, rows, seed, hash_name, hash_ranges)
        summary = run_batch_dedup(input_dir, output_dir, settings, workers, clusters_out)
    except (FileNotFoundError, ValueError) as error:
        raise click.ClickException(str(error)) from None
    click.echo(summary["line"])


@main.command("train-tokenizer")
@click.argument("input_dir", type=click.Path(exists=True, file_okay=False))
@click.option(
    "--out", "-o", "out", required=True, type=click.Path(dir_okay=False), help="Where to write tokenizer.json."
)
@click.option("--vocab-size", default=32_768, show_default=True, help="Vocabulary size, at most 65,536 (uint16 ids).")
@click.option(
    "--max-characters", default=1_000_000_000, show_default=True, help="Train on at most this many characters."
)
@click.option("--min-frequency", default=2, show_default=True, help="A pair must occur this often to be merged.")
def train_tokenizer_command(input_dir, out, vocab_size, max_characters, min_frequency):
    """Train a byte-level BPE tokenizer (GPT-2 pre-tokenisation, <|endoftext|>) on a folder of Parquet shards.

    1% of the documents (chosen by a hash of their id) are held out; the compression on them is printed.
    """
    from webcorpus.tokenizer import TokenizerSettings, train_tokenizer

    try:
        settings = TokenizerSettings(vocab_size, max_characters, min_frequency)
        summary = train_tokenizer(input_dir, out, settings)
    except (FileNotFoundError, ValueError) as error:
        raise click.ClickException(str(error)) from None
    click.echo(summary["line"])


@main.command("tokenize")
@click.argument("input_dir", type=click.Path(exists=True, file_okay=False))
@click.option("--tokenizer", "tokenizer_path", required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--out", "-o", "out", required=True, type=click.Path(file_okay=False), help="Folder for the shards.")
@click.option("--shard-tokens", default=100_000_000, show_default=True, help="Tokens per .bin shard.")
@click.option(
    "--val-buckets", default=50, show_default=True, help="Per 10,000 documents (by id hash) in the validation split."
)
@click.option(
    "--format", "fmt", type=click.Choice(["bin", "parquet"]), default="bin", show_default=True,
    help="llm.c .bin shards, or Parquet with a tokens column.",
)  # fmt: skip
@click.option("--prefix", default="webcorpus", show_default=True, help="Shard name prefix.")
def tokenize_command(input_dir, tokenizer_path, out, shard_tokens, val_buckets, fmt, prefix):
    """Encode Parquet documents into uint16 token shards (llm.c layout), <|endoftext|> before each document.

    Writes PREFIX_val_000000.bin first, then PREFIX_train_NNNNNN.bin, each with a .idx of document
    starts. Rerun the same command to resume an interrupted run.
    """
    from webcorpus.tokenizer import TokenizeSettings, tokenize_corpus

    try:
        settings = TokenizeSettings(str(tokenizer_path), shard_tokens, val_buckets, fmt, prefix)
        summary = tokenize_corpus(input_dir, out, tokenizer_path, settings)
    except (FileNotFoundError, ValueError) as error:
        raise click.ClickException(str(error)) from None
    click.echo(summary["line"])


def _need_torch() -> None:
    try:
        import torch  # noqa: F401
    except ImportError:
        raise click.ClickException("the trainer needs PyTorch: pip install 'webcorpus[train]'") from None


@main.command("train")
@click.argument("tokens_dir", type=click.Path(exists=True, file_okay=False))
@click.option("--config", "config_file", type=click.Path(exists=True, dir_okay=False), help="YAML of training options.")
@click.option("--preset", default=None, help="tiny (CPU, seconds) or gpt2-124m; the YAML's preset otherwise.")
@click.option("--out", "-o", "out_dir", help="Folder for ckpt.pt and log.jsonl.")
@click.option("--max-steps", type=int, help="Optimiser steps (the learning-rate schedule ends there).")
@click.option("--batch-size", type=int, help="Sequences per micro-step per GPU.")
@click.option("--grad-accum", type=int, help="Micro-steps per optimiser step.")
@click.option("--lr", type=float, help="Peak learning rate.")
@click.option("--schedule", type=click.Choice(["cosine", "wsd"]), help="Learning-rate schedule after warmup.")
@click.option("--compile/--no-compile", default=None, help="torch.compile the model.")
@click.option("--device", help="cpu, cuda, cuda:1 ... (default: cuda when there is one).")
@click.option("--resume", is_flag=True, help="Continue from OUT/ckpt.pt; the batches are those it would have seen.")
def train_command(tokens_dir, config_file, preset, out_dir, max_steps, batch_size, grad_accum, lr, schedule, compile,
                  device, resume):  # fmt: skip
    """Train the bundled GPT on token shards made by `webcorpus tokenize` (one GPU, CPU, or torchrun).

    Options come from the preset, then the --config YAML (same names as the flags, plus `model:` with
    n_layer, n_head, n_embd, context, tie_embeddings, residual_dtype), then the flags. Multi-GPU:
    torchrun --nproc_per_node 8 -m webcorpus.cli train TOKENS_DIR ...
    """
    _need_torch()
    import yaml

    from webcorpus.token_shards import ShardError
    from webcorpus.train.train import TrainConfig, train

    options = {}
    if config_file:
        options = yaml.safe_load(Path(config_file).read_text()) or {}
        if not isinstance(options, dict):
            raise click.ClickException(f"{config_file}: expected a mapping of training options")
    flags = {"out_dir": out_dir, "max_steps": max_steps, "batch_size": batch_size, "grad_accum": grad_accum,
             "lr": lr, "schedule": schedule, "compile": compile, "device": device}  # fmt: skip
    options.update({k: v for k, v in flags.items() if v is not None})
    try:
        config = TrainConfig.build(preset or options.pop("preset", "tiny"), options)
    except ValueError as error:
        raise click.ClickException(f"{config_file or 'options'}: {error}") from None
    try:
        train(tokens_dir, config, resume=resume, log=click.echo)
    except (ShardError, FileNotFoundError, ValueError) as error:
        raise click.ClickException(str(error)) from None


@main.command("sample")
@click.argument("checkpoint", type=click.Path(exists=True, dir_okay=False))
@click.option("--tokenizer", "tokenizer_path", required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--prompt", default="", help="Text to continue (empty: start after <|endoftext|>).")
@click.option("--max-new-tokens", default=100, show_default=True)
@click.option("--temperature", default=0.8, show_default=True)
@click.option("--top-k", default=50, show_default=True, help="Sample among the k likeliest tokens (0: all).")
@click.option("--seed", default=1337, show_default=True)
@click.option("--device", default="auto", show_default=True)
def sample_command(checkpoint, tokenizer_path, prompt, max_new_tokens, temperature, top_k, seed, device):
    """Generate text from a checkpoint written by `webcorpus train`."""
    _need_torch()
    import torch

    from webcorpus.tokenizer import load_tokenizer
    from webcorpus.train.train import load_model, pick_device

    try:
        tokenizer, end = load_tokenizer(tokenizer_path)
    except ValueError as error:
        raise click.ClickException(str(error)) from None
    device = pick_device(device)
    try:
        model = load_model(checkpoint, device)
    except ValueError as error:
        raise click.ClickException(str(error)) from None
    torch.manual_seed(seed)
    ids = [end, *tokenizer.encode(prompt, add_special_tokens=False).ids]
    out = model.generate(torch.tensor([ids], device=device), max_new_tokens, temperature, top_k or None)
    click.echo(tokenizer.decode(out[0].tolist()[1:]))


@main.command()
@click.argument("path", type=click.Path(exists=True))
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
@click.option("--top", default=10, show_default=True, help="How many top domains to list.")
def stats(path: str, as_json: bool, top: int) -> None:
    """Summarise a folder of Parquet shards (documents, characters, languages, domains, lengths)
    or of token shards (shards, tokens, documents, tokens per document)."""
    from webcorpus.stats import corpus_stats, format_stats

    try:
        summary = corpus_stats(Path(path), top=top)
    except (FileNotFoundError, OSError, ValueError) as error:
        raise click.ClickException(str(error)) from None
    click.echo(json.dumps(summary, indent=2) if as_json else format_stats(summary))


@main.group()
def blocklists() -> None:
    """Manage URL blocklists (format: see the README)."""


@blocklists.command("import")
@click.argument("archive", type=click.Path(exists=True, dir_okay=False))
@click.option(
    "--out",
    default="blocklists",
    show_default=True,
    type=click.Path(file_okay=False),
    help="Blocklist folder to write into.",
)
@click.option(
    "--category", "categories", multiple=True, help="Only these categories (e.g. adult); repeatable. Default: all."
)
def import_blocklist(archive: str, out: str, categories: tuple[str, ...]) -> None:
    """Import a UT1-style blacklist ARCHIVE (tar.gz of CATEGORY/domains and CATEGORY/urls)."""
    from webcorpus.blocklists import import_ut1_archive

    try:
        written = import_ut1_archive(archive, out, list(categories) or None)
    except (ValueError, OSError) as error:
        raise click.ClickException(str(error)) from None
    for target, count in written.items():
        click.echo(f"{target}: {count} entries")


if __name__ == "__main__":
    main()

"""The `webcorpus` command. It parses options and calls the library; the work lives elsewhere.

Every step of the registry is a subcommand of the same name (dashes for underscores) whose flags are
generated from the step's option schema, so the shell and the YAML take the same options:

    webcorpus read-warc data/*.warc.gz | webcorpus url-filter | webcorpus extract \\
        | webcorpus langid --languages en | webcorpus write-parquet out/

Step subcommands are built only when asked for: `webcorpus train --help` imports no step.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from webcorpus import __version__
from webcorpus.pipeline import run_folder
from webcorpus.pipeline.executors import EXECUTORS
from webcorpus.pipeline.options import OptionSpec, options_of
from webcorpus.pipeline.progress import LiveCount
from webcorpus.pipeline.registry import STEPS
from webcorpus.pipeline.run_folder import Folder

INSPECT_LABEL_CHARACTERS = 300  # `inspect` clips a URL, path or reason from data here (a URL can be megabytes)
EXIT_NOTHING_KEPT = 3  # `webcorpus run` ran to the end, but the finished corpus (or the slice) is empty
RUN_EXIT_STATUS = (
    "Exit status: 0 when the finished corpus (or the slice) holds documents; 1 when the run failed (a bad "
    f"pipeline file or option, input files that failed); {EXIT_NOTHING_KEPT} when it ran to the end but kept "
    "nothing: the table, stats.json and report.html are written, the steps after the one that dropped "
    'everything are marked "not run", and the last line names that step and its top reason.'
)


class StepCommands(click.Group):
    """The fixed commands plus one per registered step, the latter built on first use; a mistyped name
    gets the nearest ones."""

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        name = args[0] if args else ""
        if args and self.get_command(ctx, name) is None and not ctx.resilient_parsing and not name.startswith("-"):
            from difflib import get_close_matches

            close = get_close_matches(name, self.list_commands(ctx), n=3, cutoff=0.6)
            hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
            ctx.fail(f"No such command '{name}'.{hint} (`webcorpus --help` lists them)")
        return super().resolve_command(ctx, args)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(self.commands) + [name.replace("_", "-") for name in STEPS]

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in self.commands:
            return self.commands[name]
        if name.replace("-", "_") in STEPS:
            from webcorpus.pipeline.registry import step_class

            return step_command(step_class(name.replace("-", "_")))
        return None

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """As click's, but a step's line comes from its summary read from source (registry.step_summary),
        so `webcorpus --help` imports no step and none of the libraries steps need."""
        from webcorpus.pipeline.registry import step_summary

        rows: list[tuple[str, click.Command]] = []
        for name in self.list_commands(ctx):
            command = self.commands.get(name) or click.Command(name, help=step_summary(name.replace("-", "_")))
            if not command.hidden:
                rows.append((name, command))
        if rows:
            limit = formatter.width - 6 - max(len(name) for name, _ in rows)
            with formatter.section("Commands"):
                formatter.write_dl([(name, command.get_short_help_str(limit)) for name, command in rows])


@click.group(cls=StepCommands, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="webcorpus")
def main() -> None:
    """Turn CommonCrawl WARC files into language-model training data, FineWeb style.

    Run the main job with `webcorpus run fineweb` (a recipe that ships with webcorpus, on its bundled
    sample; `--input` for yours), write a recipe out to edit with `webcorpus init fineweb`, or chain the
    step subcommands in a shell pipe (documents travel as JSON lines).
    """


# ---- flags from option schemas ------------------------------------------------------------------


def schema_flags(owner: type, defaults: bool = True):
    """Click options for every option of `owner` (a step class or a settings dataclass). With `defaults`
    false every flag defaults to None, so that only the flags given override a preset or a YAML file."""

    def decorate(command):
        specs = [spec for spec in options_of(owner) if not spec.is_mapping]
        # On a function, click collects decorators last-first; on a built command it appends.
        for spec in specs if isinstance(command, click.Command) else reversed(specs):
            command = _flag(spec, defaults)(command)
        return command

    return decorate


def _flag(spec: OptionSpec, defaults: bool):
    flag = spec.name.replace("_", "-")
    default = spec.default if defaults and not spec.required else None
    if spec.base_type is bool:
        return click.option(f"--{flag}/--no-{flag}", spec.name, default=default, show_default=defaults, help=spec.help)
    if spec.is_list:
        return click.option(f"--{flag}", spec.name, multiple=True, help=f"{spec.help} Repeat or separate with commas.")
    kind = click.Choice(spec.choices) if spec.choices else spec.base_type
    shown = defaults and default is not None
    return click.option(f"--{flag}", spec.name, type=kind, default=default, show_default=shown, help=spec.help)


def schema_values(owner: type, given: dict[str, Any]) -> dict[str, Any]:
    """Keyword arguments for `owner` from parsed flags (comma lists split; flags not given left out)."""
    values = {}
    for spec in options_of(owner):
        if spec.name not in given:
            continue
        value = given[spec.name]
        if spec.is_list:
            value = [item for v in value for item in v.split(",") if item] if value else None
            if value is None and not spec.optional:
                continue
        values[spec.name] = value
    return values


# ---- step subcommands ---------------------------------------------------------------------------


def step_command(step_class: type) -> click.Command:
    """The subcommand of one step, shaped by its role."""
    builders = {"read": _reader_command, "filter": _filter_command, "write": _writer_command, "corpus": _corpus_command}
    command = builders[step_class.role](step_class)
    return schema_flags(step_class)(command)


def _build(step_class: type, options: dict[str, Any]) -> Any:
    try:
        return step_class(**schema_values(step_class, options))
    except (OSError, ValueError) as error:
        raise click.ClickException(str(error)) from None


def _report(step: Any) -> None:
    stats = step.stats
    reasons = ", ".join(f"{r}: {n}" for r, n in stats.dropped.most_common()) or "none"
    errors = "".join(f", {e}: {n}" for e, n in sorted(stats.errors.items()))
    counts = "".join(f", {what}: {n}" for what, n in sorted(stats.counts.items()))
    click.echo(f"{step.name}: {stats.documents_in} in, {stats.kept} kept, dropped {reasons}{errors}{counts}", err=True)
    for bad in stats.bad_files:
        click.echo(f"{step.name}: bad file: {bad}", err=True)


def _pipe(documents) -> None:
    from webcorpus.document import write_jsonl

    try:
        write_jsonl(documents, sys.stdout)
        sys.stdout.flush()
    except BrokenPipeError:  # `... | head`: the reader left, which is not an error
        sys.stdout = None  # type: ignore[assignment]


def _filter_command(step_class: type) -> click.Command:
    @click.command(
        step_class.name.replace("_", "-"), help=f"{step_class.summary}\n\nJSON lines in on stdin, out on stdout."
    )
    @click.option(
        "--removed",
        type=click.Path(dir_okay=False),
        help="Write dropped documents (with metadata.drop_reason) to this .jsonl[.gz] file.",
    )
    def command(removed: str | None, **options: Any) -> None:
        from webcorpus.document import read_jsonl

        step = _build(step_class, options)
        exclusion = None
        if removed:
            from webcorpus.pipeline.exclusion import ExclusionWriter
            from webcorpus.pipeline.run_folder import Folder

            exclusion = ExclusionWriter(Folder(Path(removed).parent), Path(removed).name)
            step.on_drop = exclusion
        step.start_task()
        with LiveCount(step.name) as live:
            _pipe(live.outputs(step.run(live.inputs(read_jsonl(sys.stdin.buffer, counts=step.stats.errors)))))
        if exclusion is not None:
            exclusion.close()
        _report(step)

    return command


def _reader_command(step_class: type) -> click.Command:
    @click.command(
        step_class.name.replace("_", "-"), help=f"{step_class.summary}\n\nDocuments out on stdout as JSON lines."
    )
    @click.argument("inputs", nargs=-1, required=True)
    def command(inputs: tuple[str, ...], **options: Any) -> None:
        from webcorpus.pipeline.recipes import resolve_input

        reader = _build(step_class, options)
        try:
            paths = reader.expand([resolve_input(pattern) for pattern in inputs])  # webcorpus:sample/... too
        except ValueError as error:
            raise click.ClickException(str(error)) from None
        with LiveCount(reader.name, read=lambda: reader.stats.documents_in) as live:
            _pipe(live.outputs(reader.run(paths)))
        _report(reader)

    return command


def _writer_command(step_class: type) -> click.Command:
    @click.command(step_class.name.replace("_", "-"), help=f"{step_class.summary}\n\nJSON lines in on stdin.")
    @click.argument("output_dir", type=click.Path(file_okay=False))
    @click.option("--prefix", default="part", show_default=True, help="File names: PREFIX_00000.parquet, ...")
    def command(output_dir: str, prefix: str, **options: Any) -> None:
        from webcorpus.document import read_jsonl

        writer = _build(step_class, options)
        writer.open(Path(output_dir), prefix)
        with LiveCount(writer.name) as live:
            for _ in live.outputs(writer.run(live.inputs(read_jsonl(sys.stdin.buffer, counts=writer.stats.errors)))):
                pass
        click.echo(
            f"{writer.name}: {writer.stats.kept} documents in {len(writer.written)} files under {output_dir}", err=True
        )

    return command


def _corpus_command(step_class: type) -> click.Command:
    what = "file" if step_class.output_is_file else "folder"

    @click.command(
        step_class.name.replace("_", "-"),
        help=f"{step_class.summary}\n\nINPUT: one or more folders of Parquet shards, or run folders (their "
        f"finished corpus), globs allowed; their shards are taken together, in file-name order. OUTPUT: the "
        f"{what} to write (in a pipeline: RUN_DIR/{step_class.output_name}).",
    )
    @click.argument("sources", metavar="INPUT...", nargs=-1, required=True)
    @click.argument("output", metavar="OUTPUT", type=click.Path(dir_okay=not step_class.output_is_file))
    @click.option("--workers", "-w", type=click.IntRange(min=1), help="Worker processes (default: all cores).")
    @click.option("--progress/--no-progress", default=True, show_default=True, help="Show progress bars.")
    def command(sources: tuple[str, ...], output: str, workers: int | None, progress: bool, **options: Any) -> None:
        import os

        from webcorpus.pipeline.executors import CorpusContext
        from webcorpus.stats import corpus_folders

        step = _build(step_class, options)
        context = CorpusContext.local(workers or os.cpu_count() or 1, progress)
        try:
            result = step.run_corpus(corpus_folders(sources), output, context)
        except (FileNotFoundError, ValueError) as error:
            raise click.ClickException(str(error)) from None
        finally:
            context.executor.close()
        click.echo(result.line)

    return command


# ---- whole runs ---------------------------------------------------------------------------------


@main.command(epilog=RUN_EXIT_STATUS)
@click.argument("pipeline")
@click.option(
    "--workers", "-w", type=click.IntRange(min=1), help="Worker processes (default: the YAML's, else all cores)."
)
@click.option("--input", "-i", "inputs", multiple=True, help="Replace the YAML's input (repeatable).")
@click.option("--output", "-o", help="Replace the YAML's output folder.")
@click.option("--progress/--no-progress", default=True, show_default=True, help="Show progress bars.")
@click.option("--shard", metavar="I/N", help="Run only slice I of N of the input files, up to the first corpus step.")
@click.option("--merge", multiple=True, metavar="RUN_DIRS", help="Run the rest over these --shard runs (glob).")
@click.option(
    "--executor",
    type=click.Choice(list(EXECUTORS)),
    help="Where the work runs (default: the YAML's, else local).",
)
@click.option("--ray-address", help="Ray cluster address (default: the YAML's, $RAY_ADDRESS, else a local Ray).")
@click.option(
    "--limit",
    type=click.IntRange(min=1),
    help="At most N documents per input file (the first N the reader yields; for read_warc, HTTP 200 HTML responses), "
    "to try a configuration on little data. A limited run resumes only with the same --limit.",
)
@click.option("--dry-run", is_flag=True, help="Check everything, print the inputs and the plan; run and write nothing.")
def run(
    pipeline: str,
    workers: int | None,
    inputs: tuple[str, ...],
    output: str | None,
    progress: bool,
    shard: str | None,
    merge: tuple[str, ...],
    executor: str | None,
    ray_address: str | None,
    limit: int | None,
    dry_run: bool,
) -> None:
    """Run the pipeline described by the YAML file PIPELINE, or a recipe that ships with webcorpus by name
    (fineweb, fineweb2; a file of that name wins). `webcorpus init NAME` writes a recipe out to edit.

    Per-document steps run in parallel, one task per input file; corpus steps (minhash_dedup,
    train_tokenizer, tokenize) run over everything written before them. Rerunning into the same
    output folder skips what is done, so an interrupted run resumes where it stopped.

    On several machines: run `--shard I/N -o runs/I` on machine I (the per-document steps on every N-th
    input file), gather the folders, then `--merge 'runs/*' -o OUT` runs the rest over all of them.
    Every run writes what made it (the effective pipeline, inputs, versions, times) to OUTPUT/pipeline.yaml.
    """
    from webcorpus.pipeline.config import ConfigError, load_pipeline
    from webcorpus.pipeline.recipes import RecipeError, find_pipeline
    from webcorpus.pipeline.runner import Slice, describe_run, format_table, nothing_kept, run_pipeline

    try:
        config = load_pipeline(find_pipeline(pipeline))
    except (ConfigError, RecipeError) as error:
        raise click.ClickException(str(error)) from None
    if inputs:
        config.input = list(inputs)
    if output:
        config.output = output
    if limit:
        config.limit = limit
    if workers:
        config.workers = workers
    if not config.input:
        raise click.ClickException(f"{pipeline}: input: missing (set it in the YAML or pass --input)")
    if not config.output:
        raise click.ClickException(f"{pipeline}: output: missing (set it in the YAML or pass --output)")
    config.executor = executor or config.executor
    config.ray_address = ray_address or config.ray_address
    if shard and merge:
        raise click.ClickException("--shard and --merge are two separate runs: slices first, then the merge")
    try:
        piece = Slice.parse(shard) if shard else None
        if dry_run:
            for line in describe_run(config, workers, piece, list(merge) or None):
                click.echo(line)
            return
        result = run_pipeline(config, workers=workers, progress=progress, shard=piece, merge=list(merge) or None)
    except (ValueError, RuntimeError, OSError) as error:  # bad input, bad option values, folder mismatch
        raise click.ClickException(str(error)) from None
    click.echo(format_table(result))
    for bad in result.bad_files:
        click.echo(f"bad file: {bad}")
    for report in result.steps:
        if report.line:
            click.echo(report.line)
    click.echo(
        f"\n{result.documents_out} documents from {result.files_done + result.files_skipped} files "
        f"({result.files_skipped} already done) in {result.wall_s:.1f}s -> {result.final_data}"
    )
    click.echo(f"per-step figures: {result.output}/{run_folder.STATS}")
    if Folder(result.output).exists(run_folder.REPORT):
        click.echo(f"report: {result.output}/{run_folder.REPORT}")
    if piece is not None and not result.failed:
        click.echo(f"slice {piece} done; once every slice is: webcorpus run {pipeline} --merge 'RUN_DIRS' -o OUT")
    if result.failed:
        for failure in result.failed:
            click.echo(f"failed: {failure}", err=True)
        raise click.ClickException(f"{len(result.failed)} files failed; rerun the same command to retry them")
    empty = nothing_kept(result)
    for line in empty:
        click.echo(line, err=True)
    if empty:
        sys.exit(EXIT_NOTHING_KEPT)


@main.command()
@click.argument("name")
@click.argument("path", required=False, type=click.Path())
def init(name: str, path: str | None) -> None:
    """Write the recipe NAME (fineweb, fineweb2) to PATH (default: ./NAME.yaml) to edit and run with
    `webcorpus run PATH`; never over an existing file."""
    from webcorpus.pipeline.recipes import RecipeError, write_recipe

    try:
        written = write_recipe(name, path)
    except (RecipeError, OSError) as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"{written}: the {name.removesuffix('.yaml')} recipe; edit it, then: webcorpus run {written}")


@main.command()
@click.argument("pipeline", type=click.Path(dir_okay=False))
@click.option("--slices", "-n", type=int, required=True, help="How many array jobs (N of --shard I/N).")
@click.option("--runs", required=True, type=click.Path(file_okay=False), help="Folder of the slices (DIR/slice-I).")
@click.option("--output", "-o", required=True, help="The merged run's output folder.")
@click.option("--input", "-i", "inputs", multiple=True, help="Replace the YAML's input (repeatable).")
@click.option("--workers", "-w", type=click.IntRange(min=1), help="Workers per job (default: --cpus-per-task).")
@click.option("--partition", "-p", help="#SBATCH --partition.")
@click.option("--time", "-t", "time_limit", metavar="HH:MM:SS", help="#SBATCH --time (per job).")
@click.option("--cpus-per-task", "-c", type=click.IntRange(min=1), help="#SBATCH --cpus-per-task.")
@click.option("--mem", help="#SBATCH --mem (per job, e.g. 16G).")
@click.option("--python", type=click.Path(dir_okay=False), help="Interpreter on the nodes (default: this one).")
@click.option("--script", type=click.Path(dir_okay=False), help="Array script path (default: RUNS/slices.sbatch).")
@click.option("--submit", is_flag=True, help="Queue both jobs with sbatch (the merge waits for every slice).")
def slurm(
    pipeline: str,
    slices: int,
    runs: str,
    output: str,
    inputs: tuple[str, ...],
    workers: int | None,
    partition: str | None,
    time_limit: str | None,
    cpus_per_task: int | None,
    mem: str | None,
    python: str | None,
    script: str | None,
    submit: bool,
) -> None:
    """Write sbatch scripts that run PIPELINE (a file, or a recipe's name) as N `--shard` slices (a job
    array) and then `--merge` them.

    The array script runs slice I into RUNS/slice-I on array index I; the merge script (beside it, named
    with -merge) runs the rest of the pipeline over RUNS/slice-* into OUTPUT. With --submit both are queued,
    the merge with --dependency=afterok on the array. Logs: RUNS/logs/. More: the project's docs/slurm.md.
    """
    from webcorpus.pipeline import slurm as slurm_jobs
    from webcorpus.pipeline.recipes import recipe_or_path

    try:
        scripts = slurm_jobs.slurm_scripts(
            recipe_or_path(pipeline), slices, runs, output, inputs=inputs, workers=workers, partition=partition,
            time=time_limit, cpus_per_task=cpus_per_task, mem=mem, python=python,
        )  # fmt: skip
        array_path, merge_path = slurm_jobs.write_scripts(scripts, script or Path(runs) / "slices.sbatch", runs)
    except (ValueError, OSError) as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"array script ({slices} slices): {array_path}")
    click.echo(f"merge script: {merge_path}")
    if not submit:
        click.echo("submit with:")
        for command in slurm_jobs.sbatch_commands(array_path, merge_path):
            click.echo(f"  {command}")
        return
    try:
        array_id, merge_id = slurm_jobs.submit(array_path, merge_path)
    except slurm_jobs.SlurmError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"slices: job {array_id} (array 0-{slices - 1}); merge: job {merge_id} (after every slice succeeds)")


@main.command()
@click.argument("path", type=click.Path(exists=True))
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
@click.option("--top", default=10, show_default=True, help="How many top domains to list.")
def stats(path: str, as_json: bool, top: int) -> None:
    """Summarise a run folder's finished corpus, a folder of Parquet shards (documents, characters,
    languages, domains, lengths) or of token shards (shards, tokens, documents per split)."""
    from webcorpus.stats import corpus_stats, format_stats

    try:
        summary = corpus_stats(Path(path), top=top)
    except (FileNotFoundError, OSError, ValueError) as error:
        raise click.ClickException(str(error)) from None
    click.echo(json.dumps(summary, indent=2) if as_json else format_stats(summary))


@main.command()
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False))
def report(run_dir: str) -> None:
    """Write RUN_DIR/report.html: one self-contained page (plots inline, nothing fetched) with the funnel,
    drop reasons, languages, domains, lengths, dedup, PII, tokens, samples per drop reason, time per step
    and bad input files. `webcorpus run` writes it at the end of every run."""
    from webcorpus.report.html import write_report

    try:
        click.echo(write_report(Folder(run_dir)))
    except (FileNotFoundError, ValueError, KeyError) as error:
        raise click.ClickException(str(error)) from None


@main.command()
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False))
@click.option("--step", help="Only documents this step dropped (e.g. gopher_quality).")
@click.option("--reason", help="Only documents dropped for this reason (e.g. short_doc).")
@click.option("--kept", is_flag=True, help="Show documents of the finished corpus instead of dropped ones.")
@click.option("-n", "count", default=5, show_default=True, type=click.IntRange(min=1), help="Documents per reason.")
@click.option("--characters", default=1500, show_default=True, type=click.IntRange(min=1), help="Clip texts here.")
def inspect(run_dir: str, step: str | None, reason: str | None, kept: bool, count: int, characters: int) -> None:
    """Print sample documents of a finished run, paged: dropped ones (from RUN_DIR's removed/ folders, so
    the run needs `removed: true`, the default) with their step, reason and URL, or --kept ones."""
    from webcorpus.report.samples import dropped_samples, kept_samples, removed_files
    from webcorpus.report.text import printable, shown

    run = Path(run_dir)
    if kept:
        stats = run / run_folder.STATS
        summary = json.loads(stats.read_text()) if stats.is_file() else {}
        samples = list(kept_samples(Folder(summary.get("final_data") or run / run_folder.DATA), count))
    else:
        steps = removed_files(Folder(run))
        if not steps:
            raise click.ClickException(f"{run}: no removed/ folders (was the run made with `removed: false`?)")
        if step is not None and step not in steps:
            known = printable(", ".join(steps))
            raise click.ClickException(f"no dropped documents of step '{printable(step)}' (steps with some: {known})")
        samples = list(dropped_samples(Folder(run), step, reason, count))
    if not samples:
        raise click.ClickException("no documents match" + (f" reason '{printable(reason)}'" if reason else ""))
    pages = []
    for sample in samples:
        # Everything shown comes from documents: escape sequences in it (a terminal title, the clipboard, a
        # link) are printed as text, not sent to the terminal; only the text's newlines and tabs stay.
        text = printable(sample.text[:characters], keep="\n\t") + (" …" if len(sample.text) > characters else "")
        heading = shown(f"{sample.step}: {sample.reason}", INSPECT_LABEL_CHARACTERS)
        measured = [sample.detail] if sample.detail else []
        if sample.language:
            score = f" (score {sample.language_score:.2f})" if sample.language_score is not None else ""
            measured.append(f"language {sample.language}{score}")
        details = shown("; ".join(measured), INSPECT_LABEL_CHARACTERS) + "\n" if measured else ""
        pages.append(
            f"{click.style(heading, bold=True)}  {shown(sample.url, INSPECT_LABEL_CHARACTERS)}\n{details}"
            f"{click.style(shown(sample.source, INSPECT_LABEL_CHARACTERS), dim=True)}\n{text}\n"
        )
    click.echo_via_pager("\n".join(pages))


@main.command()
@click.argument("pipelines", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--output", "-o", required=True, type=click.Path(file_okay=False), help="Folder for everything.")
@click.option("--preset", default="tiny", show_default=True, help="The trainer's preset (tiny, gpt2-124m).")
@click.option("--train-tokens", type=click.IntRange(min=1), help="Tokens per variant (default: the smallest's).")
@click.option("--eval", "eval_source", type=click.Path(exists=True), help="Evaluation text: a .txt file or Parquet.")
@click.option("--vocab-size", default=8192, show_default=True, type=click.IntRange(min=257, max=65536))
@click.option("--workers", "-w", type=click.IntRange(min=1), help="Worker processes (default: all cores).")
@click.option("--progress/--no-progress", default=True, show_default=True, help="Show progress bars.")
def ablate(
    pipelines: tuple[str, ...],
    output: str,
    preset: str,
    train_tokens: int | None,
    eval_source: str | None,
    vocab_size: int,
    workers: int | None,
    progress: bool,
) -> None:
    """Which pipeline makes the better model? Runs each PIPELINE variant (reusing finished runs), trains
    one tokenizer on an equal mix of them, trains the same model from the same seed on the same number of
    tokens of each, and scores each on the same held-out text in bits per byte. Writes OUTPUT/ablation.json,
    OUTPUT/ablation.svg and OUTPUT/report.html; a rerun reuses every finished phase."""
    _need_torch()
    from webcorpus.ablate.run import run_ablation
    from webcorpus.pipeline.config import ConfigError

    try:
        summary = run_ablation(
            [Path(p) for p in pipelines], Path(output), preset, train_tokens,
            Path(eval_source) if eval_source else None, vocab_size, workers, progress, log=click.echo,
        )  # fmt: skip
    except (ConfigError, ValueError, RuntimeError, OSError) as error:
        raise click.ClickException(str(error)) from None
    # run_ablation printed the scores with their intervals, the verdicts and any warnings.
    click.echo(f"{summary['train_tokens']:,} training tokens each -> {Path(output) / 'ablation.json'}, report.html")


# ---- training -----------------------------------------------------------------------------------


def _need_torch() -> None:
    try:
        import torch  # noqa: F401
    except ImportError:
        raise click.ClickException("the trainer needs PyTorch: pip install 'webcorpus[train]'") from None


def _train_config_class() -> type:
    """TrainConfig without importing torch (its module does), for building `train`'s flags."""
    from webcorpus.train.config import TrainConfig

    return TrainConfig


@main.command("train")
@click.argument("tokens_dir", type=click.Path(exists=True, file_okay=False))
@click.option("--config", "config_file", type=click.Path(exists=True, dir_okay=False), help="YAML of training options.")
@schema_flags(_train_config_class(), defaults=False)
@click.option("--resume", is_flag=True, help="Continue from OUT/ckpt.pt; the batches are those it would have seen.")
def train_command(tokens_dir: str, config_file: str | None, resume: bool, **flags: Any) -> None:
    """Train the bundled GPT on token shards made by `webcorpus tokenize` (one GPU, CPU, or torchrun).

    Options come from the preset (--preset tiny: CPU, seconds; gpt2-124m), then the --config YAML (the
    same names, plus `model:` with n_layer, n_head, n_embd, context, tie_embeddings, residual_dtype,
    kernels), then the flags. Multi-GPU: torchrun --nproc_per_node 8 -m webcorpus.cli train TOKENS_DIR ...
    """
    from webcorpus.train.config import ConfigError, TrainConfig, load_train_options

    try:
        options = load_train_options(config_file) if config_file else {}
        options.update({k: v for k, v in schema_values(TrainConfig, flags).items() if v is not None})
        config = TrainConfig.build(options.pop("preset", None), options)
    except ConfigError as error:
        raise click.ClickException(str(error)) from None
    from webcorpus.tokens.shards import ShardError

    if config.backend == "jax":
        try:
            from webcorpus.train.jax_train import train
        except ImportError:
            raise click.ClickException("--backend jax needs JAX and optax: pip install 'webcorpus[jax]'") from None
    else:
        _need_torch()
        from webcorpus.train.train import train

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

    from webcorpus.tokens.bpe import load_tokenizer
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


# ---- blocklists ---------------------------------------------------------------------------------


@main.group()
def blocklists() -> None:
    """Manage URL blocklists.

    A blocklist folder holds plain UTF-8 files, one entry a line, # for comments: domains/*.txt (a registered
    domain, or a host), urls/*.txt (exact URLs, compared without scheme, leading www. and trailing /),
    banned_words.txt, soft_banned_words.txt (words of the URL) and banned_subwords.txt (anywhere in the URL).
    """


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
    from webcorpus.stages.blocklists import import_ut1_archive

    try:
        written = import_ut1_archive(archive, out, list(categories) or None)
    except (ValueError, OSError) as error:
        raise click.ClickException(str(error)) from None
    for target, count in written.items():
        click.echo(f"{target}: {count} entries")


# ---- quality classifiers ------------------------------------------------------------------------


def _classifier_settings_class() -> type:
    from webcorpus.classifiers.train import TrainSettings  # light: numpy and fastText load when it trains

    return TrainSettings


@main.command("train-classifier")
@click.argument("positive")
@click.argument("negative")
@click.option("--output", "-o", required=True, type=click.Path(dir_okay=False), help="The model file to write (.bin).")
@schema_flags(_classifier_settings_class())
def train_classifier_command(positive: str, negative: str, output: str, **flags: Any) -> None:
    """Train a fastText quality classifier (DCLM's recipe) on POSITIVE and NEGATIVE documents: each a .jsonl
    file (a `text` field per line) or webcorpus Parquet shards (a file or folder). Prints precision and recall
    of the positive label on held-out documents; score with the fasttext_classifier step (the project's
    docs/quality.md)."""
    from webcorpus.classifiers.train import TrainSettings, train_classifier

    try:
        result = train_classifier(positive, negative, output, TrainSettings(**schema_values(TrainSettings, flags)))
    except (OSError, ValueError) as error:
        raise click.ClickException(str(error)) from None
    for line in result.lines():
        click.echo(line)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""FineWeb-2's per-language filters, page by page: datatrove 0.10.1 with FineWeb-2's configs vs webcorpus.

usage (webcorpus's venv; PYTHONPATH picks which webcorpus is judged, e.g. the latest main):
  PYTHONPATH=/work/main /work/main/.venv/bin/python bench/data/fineweb2_vs_datatrove.py \\
      [WARC ...] [--dtpython /work/dtvenv/bin/python] [--fineweb2 GITDIR] [--commit SHA] \\
      [--recipe pipelines/fineweb2.yaml | --webcorpus-defaults] [--json OUT.json]

Each page of the WARC files (default: the multilingual dev set) is read and extracted ONCE, by webcorpus
(read_warc, then extract with FineWeb's settings: trafilatura favor_precision, deduplicate, no comments),
and labelled by webcorpus's langid (lid.176, the bundled lid.176.ftz). The label maps to FineWeb-2's
`iso3_Script` (webcorpus/languages/fineweb2.json's `config`; datatrove's tokenizer_assignment.csv where that
table is missing). Both sides then judge the same text:

- datatrove (a subprocess in its own venv, `--datatrove-side`): GopherRepetitionFilter, FineWebQualityFilter
  and GopherQualityFilter built exactly as fineweb-2-pipeline.py builds them from configs/<iso3_Script>.yml
  (read with `git show COMMIT:configs/X.yml` from the fineweb-2 repository), each with `language=iso3_Script`;
  and FineWeb-2's language-score rule (`language_score >= config.language_score`) on lid.176's score.
- webcorpus: langid, gopher_repetition, fineweb_quality, gopher_quality with the options the recipe
  (pipelines/fineweb2.yaml under PYTHONPATH's checkout) gives them, `document.metadata["language"]` set to
  the lid.176 label; `--webcorpus-defaults` builds them with no options (before the recipe existed).

Every filter judges every page on its own (not only the pages an earlier filter kept), so each filter is
compared on all pages; `pipeline` is the chained verdict (first drop in FineWeb-2's order). It prints, per
language and filter, pages, agreement (same keep/drop) and each disagreeing page with both sides' reasons.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
DEFAULT_WARC = HERE / "multilingual" / "multilingual-00000.warc.gz"
DEFAULT_FINEWEB2 = Path("/work/.mirror/huggingface+fineweb-2/repo")
FINEWEB2_COMMIT = "d0defb24f193bb9a5a11b8b14524a03c4858e1b6"
FILTERS = ("langid", "gopher_repetition", "fineweb_quality", "gopher_quality")
# datatrove's reason -> webcorpus's name for the same rule, to tell "both drop, same rule" from "both drop"
DATATROVE_REASONS = {
    "gopher_short_doc": "short_doc",
    "gopher_long_doc": "long_doc",
    "gopher_below_avg_threshold": "short_words",
    "gopher_above_avg_threshold": "long_words",
    "gopher_too_many_hashes": "too_many_hashes",
    "gopher_too_many_ellipsis": "too_many_ellipsis",
    "gopher_too_many_bullets": "too_many_bullets",
    "gopher_too_many_end_ellipsis": "too_many_end_ellipsis",
    "gopher_below_alpha_threshold": "few_alpha_words",
    "gopher_enough_stop_words": "few_stop_words",
    "language_score": "low_score",
    **{f"duplicated_{n}_n_grams": f"dup_{n}_gram" for n in range(5, 11)},
}


# ---------------------------------------------------------------------------------------------------------
# datatrove side: runs in datatrove's venv; imports nothing from webcorpus.
# ---------------------------------------------------------------------------------------------------------


def fineweb2_config(repo: Path, commit: str, config: str) -> dict[str, Any] | None:
    """configs/<config>.yml of the fineweb-2 repository at `commit`, or None when it has none."""
    import yaml

    shown = subprocess.run(
        ["git", "-C", str(repo), "show", f"{commit}:configs/{config}.yml"], capture_output=True, text=True
    )
    return yaml.safe_load(shown.stdout) if shown.returncode == 0 else None


def datatrove_filters(config: dict[str, Any], language: str) -> dict[str, Any]:
    """The three filters exactly as fineweb-2-pipeline.py step 5 builds them (no exclusion writers)."""
    from datatrove.pipeline.filters import FineWebQualityFilter, GopherQualityFilter, GopherRepetitionFilter

    return {
        "gopher_repetition": GopherRepetitionFilter(
            language=language,
            dup_para_frac=0,
            dup_line_char_frac=0,
            dup_para_char_frac=0,
            dup_line_frac=config["dup_line_frac"],
            top_n_grams=config["top_n_grams"],
            dup_n_grams=config["dup_n_grams"],
        ),
        "fineweb_quality": FineWebQualityFilter(
            language=language,
            short_line_thr=999,
            char_duplicates_ratio=0.1,
            line_punct_thr=config["line_punct_thr"],
            new_line_ratio=config["new_line_ratio"],
        ),
        "gopher_quality": GopherQualityFilter(
            language=language,
            max_avg_word_length=config["max_avg_word_length"],
            min_avg_word_length=config["min_avg_word_length"],
            stop_words=config["stopwords"],
            max_non_alpha_words_ratio=config["max_non_alpha_words_ratio"],
            min_stop_words=2,
        ),
    }


def datatrove_side(inp: Path, out: Path, repo: Path, commit: str, timing: bool = False) -> None:
    """Judge each {id, language (iso3_Script), language_score, text} line of `inp`; write {id, filter, reason}
    lines to `out` (reason null: kept). With `timing`, judge every page a second time, warm, and write the
    seconds its three filters took as {id, "seconds", s}."""
    from datatrove.data import Document

    configs: dict[str, dict[str, Any] | None] = {}
    filters: dict[str, dict[str, Any]] = {}
    with open(inp, encoding="utf-8") as src, open(out, "w", encoding="utf-8") as dst:
        for line in src:
            page = json.loads(line)
            name = page["language"]
            if name not in configs:
                configs[name] = fineweb2_config(repo, commit, name) if name else None
                if configs[name] is not None:
                    filters[name] = datatrove_filters(configs[name], name)
            config = configs[name]
            if name:
                from datatrove.utils.text import split_into_words

                words = len(split_into_words(page["text"], name))
                dst.write(json.dumps({"id": page["id"], "filter": "words", "reason": words}) + "\n")
            for step in FILTERS:
                if config is None:
                    reason: str | None = "no_config"
                elif step == "langid":
                    # fineweb-2-pipeline.py step 3: keep language_score >= the config's threshold
                    reason = None if page["language_score"] >= config["language_score"] else "language_score"
                else:
                    doc = Document(text=page["text"], id=page["id"], metadata={})
                    try:
                        verdict = filters[name][step].filter(doc)
                    except Exception as error:  # a filter crashing on a page is a finding, not the end
                        reason = f"error:{type(error).__name__}"
                    else:
                        reason = None if verdict is True else (verdict[1] if isinstance(verdict, tuple) else "drop")
                dst.write(json.dumps({"id": page["id"], "filter": step, "reason": reason}) + "\n")
        if timing:
            src.seek(0)
            for line in src:
                page = json.loads(line)
                if page["language"] not in filters:
                    continue
                doc = Document(text=page["text"], id=page["id"], metadata={})
                start = time.perf_counter()
                for step in FILTERS[1:]:
                    try:
                        filters[page["language"]][step].filter(doc)
                    except Exception:  # reported in the first pass
                        pass
                seconds = time.perf_counter() - start
                dst.write(json.dumps({"id": page["id"], "filter": "seconds", "reason": seconds}) + "\n")


# ---------------------------------------------------------------------------------------------------------
# webcorpus side (webcorpus's venv)
# ---------------------------------------------------------------------------------------------------------


def extract_pages(warcs: list[Path]) -> tuple[list[Any], list[dict[str, str]]]:
    """Documents read, extracted and labelled by webcorpus (language, language_score in metadata), and the
    pages that left before the filters, with their reason."""
    from webcorpus.stages.extract import TrafilaturaExtractor
    from webcorpus.stages.langid import LanguageFilter
    from webcorpus.stages.read_warc import WarcReader

    reader, extractor, labeller = WarcReader(), TrafilaturaExtractor(), LanguageFilter(label_only=True)
    documents, lost = [], []
    for warc in warcs:
        extractor.start_task()
        for document in reader.read(warc):
            reason = extractor.filter(document)
            if reason is not None:
                lost.append({"id": document.id, "url": document.url, "reason": f"extract:{reason}"})
                continue
            labeller.filter(document)
            documents.append(document)
    return documents, lost


def iso3_script(label: str) -> str | None:
    """FineWeb-2's config name for a lid.176 label: webcorpus's table, else datatrove's tokenizer CSV."""
    try:
        from webcorpus.languages.table import load_table

        entry = load_table("fineweb2")["languages"].get(label)
        return entry["config"] if entry else None
    except (ImportError, FileNotFoundError):
        return _datatrove_csv_mapping().get(label)


def _datatrove_csv_mapping() -> dict[str, str]:
    import csv

    path = Path("/work/dtvenv/lib/python3.11/site-packages/datatrove/assets/tokenizer_assignment.csv")
    mapping: dict[str, str] = {}
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            if row["code_1"] and row["default_code_1"] == "TRUE" and row["default_script"] == "TRUE":
                mapping.setdefault(row["code_1"], f"{row['code_3']}_{row['script']}")
    return mapping


def webcorpus_filters(recipe: Path | None) -> tuple[dict[str, Any], str]:
    """langid and the three filters, with the recipe's options (or none), and a line saying which."""
    import yaml

    from webcorpus.pipeline.registry import step_class

    options: dict[str, dict[str, Any]] = {step: {} for step in FILTERS}
    if recipe is not None:
        spec = yaml.safe_load(recipe.read_text(encoding="utf-8"))
        for entry in spec["steps"]:
            ((name, opts),) = entry.items()
            if name in options:
                options[name] = dict(opts or {})
        options["langid"]["languages"] = []  # every language; the comparison is of the score threshold
    built = {step: step_class(step)(**options[step]) for step in FILTERS}
    described = "; ".join(f"{step} {options[step] or 'defaults'}" for step in FILTERS)
    return built, described


def webcorpus_verdicts(documents: list[Any], filters: dict[str, Any]) -> dict[tuple[str, str], str | None]:
    """(id, filter) -> webcorpus's reason (None: kept); each filter judges its own copy of each document."""
    from webcorpus.document import Document

    verdicts: dict[tuple[str, str], str | None] = {}
    for document in documents:
        for step, step_filter in filters.items():
            copy = Document(document.id, document.url, document.text, dict(document.metadata))
            try:
                verdicts[(document.id, step)] = step_filter.filter(copy)
            except Exception as error:
                verdicts[(document.id, step)] = f"error:{type(error).__name__}:{error}"
    return verdicts


def webcorpus_seconds(documents: list[Any], filters: dict[str, Any]) -> dict[tuple[str, str], float]:
    """(id, "seconds") -> the seconds webcorpus's three filters take on the page, warm (after the first pass)."""
    from webcorpus.document import Document

    seconds = {}
    for document in documents:
        copy = Document(document.id, document.url, document.text, dict(document.metadata))
        start = time.perf_counter()
        for step in FILTERS[1:]:
            try:
                filters[step].filter(copy)
            except Exception:  # reported in the first pass
                pass
        seconds[(document.id, "seconds")] = time.perf_counter() - start
    return seconds


def print_seconds(documents: list[Any], dt: dict, wc: dict) -> None:
    """Per language: milliseconds per page of the three filters, warm, on each side."""
    by_language: dict[str, list[Any]] = defaultdict(list)
    for document in documents:
        if (document.id, "seconds") in dt:
            by_language[document.metadata["language"]].append(document)
    print("\nthe three filters, warm (second pass), milliseconds per page:")
    print(f"{'lang':<5} {'pages':>5} {'datatrove':>9} {'webcorpus':>9}")
    totals = [0, 0.0, 0.0]
    for language in sorted(by_language, key=lambda lang: (-len(by_language[lang]), lang)):
        docs = by_language[language]
        dt_s = sum(dt[(d.id, "seconds")] for d in docs)
        wc_s = sum(wc[(d.id, "seconds")] for d in docs)
        totals = [totals[0] + len(docs), totals[1] + dt_s, totals[2] + wc_s]
        print(f"{language:<5} {len(docs):>5} {1000 * dt_s / len(docs):>9.1f} {1000 * wc_s / len(docs):>9.1f}")
    if totals[0]:
        n = totals[0]
        print(f"{'all':<5} {n:>5} {1000 * totals[1] / n:>9.1f} {1000 * totals[2] / n:>9.1f}")


def webcorpus_word_counts(documents: list[Any]) -> dict[tuple[str, str], int]:
    """(id, "words") -> how many words webcorpus splits the text into for its language."""
    from webcorpus.text import split_words

    return {(d.id, "words"): len(split_words(d.text, d.metadata["language"])) for d in documents}


def print_word_counts(documents: list[Any], dt: dict, wc: dict) -> None:
    """Per language: how webcorpus's word counts compare with datatrove's word tokenizer's."""
    by_language: dict[str, list[Any]] = defaultdict(list)
    for document in documents:
        if (document.id, "words") in dt:
            by_language[document.metadata["language"]].append(document)
    print("\nwords per page, webcorpus / datatrove (the tokenizers FineWeb-2 used):")
    print(f"{'lang':<5} {'pages':>5} {'equal':>5} {'median ratio':>12} {'min':>6} {'max':>6}")
    for language in sorted(by_language, key=lambda lang: (-len(by_language[lang]), lang)):
        docs = by_language[language]
        ratios = sorted(wc[(d.id, "words")] / max(dt[(d.id, "words")], 1) for d in docs)
        equal = sum(wc[(d.id, "words")] == dt[(d.id, "words")] for d in docs)
        median = ratios[len(ratios) // 2]
        print(f"{language:<5} {len(docs):>5} {equal:>5} {median:>12.3f} {ratios[0]:>6.3f} {ratios[-1]:>6.3f}")


def run_datatrove(
    pages: list[dict[str, Any]], dtpython: str, repo: Path, commit: str, timing: bool = False
) -> dict[tuple[str, str], Any]:
    """(id, filter) -> datatrove's reason (None: kept), from the subprocess in datatrove's venv."""
    with tempfile.TemporaryDirectory(prefix="fw2-vs-dt-") as tmp:
        inp, out = Path(tmp) / "pages.jsonl", Path(tmp) / "verdicts.jsonl"
        with open(inp, "w", encoding="utf-8") as f:
            for page in pages:
                f.write(json.dumps(page, ensure_ascii=False) + "\n")
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # datatrove's venv, not webcorpus
        command = [dtpython, __file__, "--datatrove-side", str(inp), str(out), "--fineweb2", str(repo)]
        subprocess.run([*command, "--commit", commit, *(["--timing"] if timing else [])], check=True, env=env)
        verdicts = {}
        with open(out, encoding="utf-8") as f:
            for line in f:
                row = json.loads(line)
                verdicts[(row["id"], row["filter"])] = row["reason"]
    return verdicts


def chained(verdicts: dict[tuple[str, str], Any], page_id: str) -> str | None:
    """The pipeline's verdict: the first filter (FineWeb-2's order) that drops the page, with its reason."""
    for step in FILTERS:
        reason = verdicts[(page_id, step)]
        if reason is not None:
            return f"{step}:{reason}"
    return None


def same_reason(datatrove: str | None, webcorpus: str | None) -> bool:
    """Whether both sides name the same rule (`pipeline` verdicts are `filter:reason`)."""
    if datatrove is None or webcorpus is None:
        return datatrove is webcorpus
    step, _, reason = datatrove.rpartition(":")
    return f"{step}:{DATATROVE_REASONS.get(reason, reason)}".lstrip(":") == webcorpus


def report(documents: list[Any], lost: list[dict[str, str]], dt: dict, wc: dict, header: str) -> dict[str, Any]:
    """Print the per-language, per-filter agreement table and the disagreements; return them as data."""
    by_language: dict[str, list[Any]] = defaultdict(list)
    no_config: dict[str, int] = defaultdict(int)
    for document in documents:
        if dt[(document.id, "langid")] == "no_config":  # FineWeb-2 has no thresholds for it: nothing to compare
            no_config[document.metadata["language"]] += 1
        else:
            by_language[document.metadata["language"]].append(document)
    for document in documents:
        dt[(document.id, "pipeline")] = chained(dt, document.id)
        wc[(document.id, "pipeline")] = chained(wc, document.id)
    steps = (*FILTERS, "pipeline")
    print(header)
    print(
        f"{'lang':<5} {'config':<9} {'filter':<18} {'pages':>5} {'agree':>5} {'dt drop':>7} {'wc drop':>7} "
        f"{'same rule':>9}"
    )
    rows, disagreements = [], []
    totals = defaultdict(lambda: [0, 0])
    for language in sorted(by_language, key=lambda lang: (-len(by_language[lang]), lang)):
        docs = by_language[language]
        for step in steps:
            agree = sum((dt[(d.id, step)] is None) == (wc[(d.id, step)] is None) for d in docs)
            dt_drop = sum(dt[(d.id, step)] is not None for d in docs)
            wc_drop = sum(wc[(d.id, step)] is not None for d in docs)
            same_rule = sum(
                dt[(d.id, step)] is not None and same_reason(dt[(d.id, step)], wc[(d.id, step)]) for d in docs
            )
            totals[step][0] += len(docs)
            totals[step][1] += agree
            config = iso3_script(language) or "-"
            print(
                f"{language:<5} {config:<9} {step:<18} {len(docs):>5} {agree:>5} {dt_drop:>7} {wc_drop:>7} "
                f"{same_rule:>9}"
            )
            rows.append(
                dict(
                    language=language,
                    config=config,
                    filter=step,
                    pages=len(docs),
                    agree=agree,
                    datatrove_drop=dt_drop,
                    webcorpus_drop=wc_drop,
                    same_rule=same_rule,
                )
            )
            for d in docs:
                if (dt[(d.id, step)] is None) != (wc[(d.id, step)] is None):
                    disagreements.append(
                        dict(
                            language=language,
                            filter=step,
                            id=d.id,
                            url=d.url,
                            datatrove=dt[(d.id, step)],
                            webcorpus=wc[(d.id, step)],
                        )
                    )
    print()
    for step in steps:
        pages, agree = totals[step]
        print(f"all languages  {step:<18} {pages:>5} pages, {agree} agree ({100 * agree / max(pages, 1):.0f}%)")
    print(
        f"\n{len(disagreements)} disagreements (a filter keeps on one side and drops on the other; "
        "pipeline rows not repeated):"
    )
    for row in disagreements:
        if row["filter"] == "pipeline":
            continue
        print(
            f"  {row['language']:<3} {row['filter']:<18} datatrove={row['datatrove'] or 'keep'} "
            f"webcorpus={row['webcorpus'] or 'keep'}  {row['url'][:90]}"
        )
    if no_config:
        listed = ", ".join(f"{language} {n}" for language, n in sorted(no_config.items(), key=lambda kv: -kv[1]))
        print(f"\n{sum(no_config.values())} pages in languages FineWeb-2 has no config for, not compared: {listed}")
    if lost:
        print(f"\n{len(lost)} pages left before the filters (same text for both sides, so not compared):")
        for row in lost:
            print(f"  {row['reason']:<18} {row['url'][:100]}")
    return {"header": header, "table": rows, "disagreements": disagreements, "lost": lost, "no_config": no_config}


def write_reference(path: Path, documents: list[Any], lost: list[dict[str, str]], dt: dict) -> None:
    """datatrove's verdicts per page (FineWeb-2's reference behaviour) as TSV; `id` is the dev set's page id
    where the URL is one of bench/data/multilingual/sources.tsv's."""
    import csv

    page_ids: dict[str, str] = {}
    sources = HERE / "multilingual" / "sources.tsv"
    if sources.is_file():
        with open(sources, newline="", encoding="utf-8") as f:
            page_ids = {row["url"]: row["id"] for row in csv.DictReader(f, delimiter="\t")}
    columns = ["id", "url", "language", "language_score", "config", "words", *FILTERS, "pipeline"]
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, delimiter="\t", lineterminator="\n")
        writer.writerow(columns)
        for d in documents:
            verdicts = [dt[(d.id, step)] or "keep" for step in (*FILTERS, "pipeline")]
            language = d.metadata["language"]
            writer.writerow([page_ids.get(d.url, ""), d.url, language, d.metadata["language_score"],
                             iso3_script(language) or "", dt.get((d.id, "words"), ""), *verdicts])  # fmt: skip
        for row in lost:
            writer.writerow([page_ids.get(row["url"], ""), row["url"], "", "", "", "", *[row["reason"]] * 5])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("warcs", nargs="*", type=Path, default=[DEFAULT_WARC])
    parser.add_argument("--dtpython", default="/work/dtvenv/bin/python", help="python of datatrove 0.10.1's venv")
    parser.add_argument("--fineweb2", type=Path, default=DEFAULT_FINEWEB2, help="fineweb-2 git repository")
    parser.add_argument("--commit", default=FINEWEB2_COMMIT, help="fineweb-2 commit whose configs/ to use")
    parser.add_argument(
        "--recipe",
        type=Path,
        help="webcorpus recipe whose options to use (default: pipelines/fineweb2.yaml of the webcorpus being judged)",
    )
    parser.add_argument("--webcorpus-defaults", action="store_true", help="webcorpus filters with no options")
    parser.add_argument("--json", type=Path, help="write the table, disagreements and every verdict here")
    parser.add_argument("--reference-tsv", type=Path, help="write datatrove's verdict per page and filter here")
    parser.add_argument("--timing", action="store_true", help="also time both sides' three filters, warm")
    parser.add_argument("--datatrove-side", nargs=2, type=Path, metavar=("IN", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.datatrove_side:
        datatrove_side(*args.datatrove_side, args.fineweb2, args.commit, args.timing)
        return 0

    import webcorpus

    recipe = None
    if not args.webcorpus_defaults:
        recipe = args.recipe or Path(webcorpus.__file__).resolve().parent.parent / "pipelines" / "fineweb2.yaml"
        if not recipe.is_file():
            parser.error(f"{recipe}: no such recipe (use --webcorpus-defaults before it exists)")
    documents, lost = extract_pages(args.warcs)
    pages = [
        dict(
            id=d.id,
            language=iso3_script(d.metadata["language"]),
            language_score=d.metadata["language_score"],
            text=d.text,
        )
        for d in documents
    ]
    dt = run_datatrove(pages, args.dtpython, args.fineweb2, args.commit, args.timing)
    filters, described = webcorpus_filters(recipe)
    wc = webcorpus_verdicts(documents, filters)
    head = subprocess.run(
        ["git", "-C", str(Path(webcorpus.__file__).parent), "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
    ).stdout.strip()
    header = (
        f"webcorpus {Path(webcorpus.__file__).parent} @ {head or '?'}: {described}\n"
        f"datatrove 0.10.1 with fineweb-2 configs @ {args.commit[:12]}; "
        f"{len(documents)} pages from {', '.join(map(str, args.warcs))}\n"
    )
    result = report(documents, lost, dt, wc, header)
    if args.reference_tsv:
        write_reference(args.reference_tsv, documents, lost, dt)
    try:
        wc.update(webcorpus_word_counts(documents))
    except ImportError:  # a webcorpus before per-language words
        pass
    else:
        print_word_counts(documents, dt, wc)
    if args.timing:
        wc.update(webcorpus_seconds(documents, filters))
        print_seconds(documents, dt, wc)
    if args.json:
        result["verdicts"] = [
            dict(
                id=d.id,
                url=d.url,
                language=d.metadata["language"],
                filter=step,
                datatrove=dt[(d.id, step)],
                webcorpus=wc[(d.id, step)],
            )
            for d in documents
            for step in (*FILTERS, "pipeline")
        ]
        args.json.write_text(json.dumps(result, ensure_ascii=False, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""`RUN_DIR/report.html`: one self-contained page (inline SVG plots and CSS, no script, nothing fetched)
that answers where the pages went, which rule removed what, what is left and what it looks like.

It is built from `stats.json` (per-step counts, characters, time, bounded distributions) and a few
sample documents per drop reason (samples.py); it never loads the corpus, so its size and time do not
grow with the run.
"""

from __future__ import annotations

import math
from collections import Counter
from html import escape
from pathlib import Path
from typing import Any

from webcorpus.pipeline import run_folder
from webcorpus.pipeline.run_folder import Folder
from webcorpus.report import plots
from webcorpus.report.reasons import meaning
from webcorpus.report.samples import Sample, dropped_samples, kept_samples
from webcorpus.report.text import clip, looks_like_html, visible_text
from webcorpus.stages.score_filter import BINS_PER_UNIT, DEFAULT_LANGUAGE, SCORE_PREFIX, SCORED_KEPT, THRESHOLDS

REPORT_NAME = run_folder.REPORT
SAMPLE_CHARACTERS = 400
TOP = 15
LANGUAGE_COLUMNS = 8  # languages in the per-step table; the rest are summed as OTHER
OTHER = "other"
LABEL_CHARACTERS = 24  # a language label longer than this (from a foreign Parquet column) is clipped
# Any other string from the run or its data (a URL, host, reason, path, message) is clipped to this, and
# lists that grow with the input are cut, so that the page's size is bounded whatever the input.
TEXT_CHARACTERS = 300
SAMPLES_SHOWN = 100
BAD_FILES_SHOWN = 200
CSS = """
body { font: 14px/1.45 system-ui, sans-serif; color: #1a202c; margin: 0 auto; max-width: 1100px; padding: 16px 24px; }
h1 { font-size: 22px; margin-bottom: 4px; } h2 { font-size: 18px; margin-top: 32px; border-bottom: 1px solid #e2e8f0; }
table { border-collapse: collapse; margin: 8px 0; font-variant-numeric: tabular-nums; }
th, td { padding: 3px 10px; border-bottom: 1px solid #edf2f7; text-align: right; vertical-align: top; }
th:first-child, td:first-child, td.text { text-align: left; }
.muted { color: #718096; } .sample { white-space: pre-wrap; font-size: 12px; max-width: 760px; text-align: left; }
svg { max-width: 100%; height: auto; } .bad { color: #c53030; }
"""


def write_report(location: Folder | str | Path) -> Path | str:
    """Write RUN/report.html from RUN/stats.json (a local run folder or one on object storage); returns
    where it is (a Path for a local run)."""
    run = Folder.of(location)
    run.write_bytes(REPORT_NAME, build_report(run).encode("utf-8"))
    return run.url(REPORT_NAME) if run.remote else run.path(REPORT_NAME)


def build_report(location: Folder | str | Path) -> str:
    run = Folder.of(location)
    if not run.is_file(run_folder.STATS):
        raise FileNotFoundError(
            f"{run.url(run_folder.STATS)}: no stats.json (is {run} the output folder of a finished run?)"
        )
    summary = run.read_json(run_folder.STATS)
    steps = summary["steps"]
    sections = [
        _header(summary),
        _funnel(steps),
        _drops(steps),
        _languages(steps),
        _domains(steps),
        _lengths(steps),
        _scores(steps),
        _decontamination(steps),
        _dedup(steps),
        _mix(steps),
        _pii_and_tokens(steps),
        _samples(run, summary),
        _time(steps),
        _bad_files(summary),
    ]
    body = "\n".join(section for section in sections if section)
    title = f"webcorpus run: {_text(summary.get('output', str(run)))}"
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
        f"<style>{CSS}</style></head>\n<body>\n{body}\n</body></html>\n"
    )


def _text(value: object, limit: int = TEXT_CHARACTERS) -> str:
    """A string from the run or its data, as HTML: clipped, then escaped."""
    return escape(clip(str(value), limit))


def _label(step: dict[str, Any], index: int) -> str:
    return f"{index + 1}. {step['step']}" + (" *" if step.get("implicit") else "")


def _header(summary: dict[str, Any]) -> str:
    out = summary.get("documents_out", 0)
    empty = "<br>".join(_text(line) for line in summary.get("nothing_kept", []))
    return (
        f"<h1>webcorpus run report</h1><p class='muted'>pipeline {_text(str(summary.get('pipeline')))} · output "
        f"{_text(str(summary.get('output')))} · finished corpus {_text(str(summary.get('final_data')))}</p>"
        f"<p><b id='documents-out'>{out:,}</b> documents in the finished corpus, from "
        f"{summary.get('files_processed', 0) + summary.get('files_skipped_as_done', 0):,} input files "
        f"({len(summary.get('files_failed', []))} failed, {len(summary.get('bad_files', []))} damaged).</p>"
        + (f"<p class='bad' id='nothing-kept'>{empty}</p>" if empty else "")
        + _record(summary.get("record"))
    )


def _record(record: Any) -> str:
    """What made the run (RUN/pipeline.yaml's `record:`, which stats.json carries): where the pipeline came
    from, the versions, executor, inputs and times, so a report read months later says what it reports on.
    Empty for a run folder made before runs were recorded."""
    if not isinstance(record, dict):
        return ""
    attempts = record.get("attempts") or []
    inputs = record.get("inputs") or {}
    limit = record.get("limit")
    dependencies = ", ".join(f"{name} {version or '(not installed)'}" for name, version in
                             (record.get("dependencies") or {}).items())  # fmt: skip
    rows = [
        ("started from", record.get("source")),
        ("webcorpus", record.get("webcorpus")),
        ("dependencies", dependencies),
        ("executor", f"{record.get('executor')}, {record.get('workers')} workers"),
        ("input files", f"{inputs.get('files', 0):,}" + (f" (slice {record['slice']})" if record.get("slice") else "")),
        ("limit", f"at most {limit:,} documents per input file (--limit)" if limit else "none: every document"),
        ("started", record.get("started")),
        ("ended", record.get("ended") or "not finished"),
        ("attempts", f"{len(attempts)}" + (" (resumed)" if len(attempts) > 1 else "")),
    ]
    cells = "".join(f"<tr><td>{_text(name)}</td><td class='text'>{_text(value)}</td></tr>" for name, value in rows)
    return f"<table id='run-record'>{cells}</table>"


def _funnel(steps: list[dict[str, Any]]) -> str:
    rows = []
    for i, step in enumerate(steps):
        dropped = sum(step["dropped"].values())
        chars = f"{step['characters_in']:,} → {step['characters_out']:,}" if step.get("characters_in") else "—"
        tokens = step.get("counts", {}).get("tokens")
        note = f"not run: {_text(step['not_run'])}" if step.get("not_run") else f"{tokens:,} tokens" if tokens else ""
        cells = [
            f"<td>{_text(_label(step, i))}</td>",
            *(
                f"<td data-step='{i}' data-field='{field}'>{value:,}</td>"
                for field, value in (
                    ("documents_in", step["documents_in"]),
                    ("kept", step["kept"]),
                    ("dropped", dropped),
                )
            ),
            f"<td>{chars}</td>",
            f"<td>{note}</td>",
        ]
        rows.append("<tr>" + "".join(cells) + "</tr>")
    chart = plots.horizontal_bars(
        [_label(s, i) for i, s in enumerate(steps)],
        {"kept": [s["kept"] for s in steps], "dropped": [sum(s["dropped"].values()) for s in steps]},
        "documents",
    )
    return (
        "<h2>Funnel</h2><p class='muted'>Documents into and out of every step, in order (* added by the runner "
        "between corpus steps); characters before and after each per-document step.</p>"
        "<table id='funnel'><tr><th>step</th><th>in</th><th>kept</th><th>dropped</th><th>characters</th><th></th></tr>"
        + "".join(rows)
        + "</table>"
        + chart
    )


def _drops(steps: list[dict[str, Any]]) -> str:
    """Each step's drop reasons, with what each means, most frequent first; a chart of the top ones."""
    reasons = Counter({(s["step"], r): n for s in steps for r, n in s["dropped"].items()})
    if not reasons:
        return ""
    total = sum(reasons.values())
    rows = "".join(
        f"<tr><td>{_text(f'{step}: {reason}')}</td><td>{n:,}</td><td>{100 * n / total:.1f}%</td>"
        f"<td class='text meaning'>{_meaning(step, reason)}</td></tr>"
        for (step, reason), n in reasons.most_common()
    )
    top = reasons.most_common(25)
    labels, series = [f"{s}: {r}" for (s, r), _ in top], {"dropped": [n for _, n in top]}
    # The table above has every number: a chart only where its bars tell more.
    chart = plots.horizontal_bars(labels, series, "documents dropped") if plots.informative(labels, series) else ""
    return (
        "<h2>Why documents were dropped</h2><p class='muted'>Each rule's share of all drops, and what it means.</p>"
        "<table id='reasons'><tr><th>step: reason</th><th>documents</th><th>share</th><th class='text'>meaning</th>"
        f"</tr>{rows}</table>{chart}"
    )


def _meaning(step: str, reason: str) -> str:
    """A reason's one-line meaning as HTML (the step's own declaration; reasons.py)."""
    found = meaning(step, reason)
    return _text(found) if found else "<span class='muted'>(no meaning declared)</span>"


def _distribution(steps: list[dict[str, Any]], name: str) -> tuple[dict[str, Any] | None, Counter]:
    for step in steps:
        if step.get("distributions", {}).get(name):
            return step, Counter(step["distributions"][name])
    return None, Counter()


def _language_label(language: str) -> str:
    return clip(language, LABEL_CHARACTERS)


def _languages(steps: list[dict[str, Any]]) -> str:
    parts = []
    step, seen = _distribution(steps, "language_in")
    if step is not None:
        kept = Counter(step["distributions"].get("language_kept", {}))
        top = [language for language, _ in seen.most_common(TOP)]
        chart = plots.horizontal_bars(
            [_language_label(x) for x in top],
            {"identified": [seen[x] for x in top], "kept": [kept[x] for x in top]},
            "documents",
        )
        parts.append(
            f"<p class='muted'>What {_text(step['step'])} identified ({sum(seen.values()):,} documents, "
            f"{len(seen)} languages; the top {len(top)} shown) and what it kept.</p>{chart}"
        )
    parts.append(_languages_per_step(steps))
    body = "".join(part for part in parts if part)
    return f"<h2>Languages</h2>{body}" if body else ""


def _languages_per_step(steps: list[dict[str, Any]]) -> str:
    """Each step's documents kept and dropped per language: the most frequent languages, the rest as OTHER."""
    counted = []
    for i, step in enumerate(steps):
        distributions = step.get("distributions", {})
        kept = Counter(distributions.get("language_kept", {}))
        dropped = Counter(distributions.get("language_dropped", {}))
        if kept or dropped:
            counted.append((i, step, kept, dropped))
    if not counted:
        return ""
    total: Counter = Counter()
    for _, _, kept, dropped in counted:
        total.update(kept)
        total.update(dropped)
    ranked = sorted(total, key=lambda language: (-total[language], language))
    columns, rest = ranked[:LANGUAGE_COLUMNS], ranked[LANGUAGE_COLUMNS:]
    header = "".join(f"<th>{_text(_language_label(language))}</th>" for language in columns)
    header += f"<th>{OTHER}</th>" if rest else ""
    rows = []
    for i, step, kept, dropped in counted:
        cells = [(kept[x], dropped[x]) for x in columns]
        if rest:
            cells.append((sum(kept[x] for x in rest), sum(dropped[x] for x in rest)))
        row = "".join(f"<td>{k:,}<span class='muted'> / {d:,}</span></td>" for k, d in cells)
        rows.append(f"<tr><td>{_text(_label(step, i))}</td>{row}</tr>")
    return (
        f"<p class='muted'>Kept / dropped per language by each step (the language a document had after the step; "
        f"{len(ranked)} languages, the {len(columns)} most frequent shown"
        f"{f', the rest as {OTHER}' if rest else ''}).</p>"
        f"<table id='languages-per-step'><tr><th>step</th>{header}</tr>{''.join(rows)}</table>"
    )


def _domains(steps: list[dict[str, Any]]) -> str:
    dropped: Counter = Counter()
    for step in steps:
        dropped.update(step.get("distributions", {}).get("domain_dropped", {}))
    kept_step = next((s for s in reversed(steps) if s.get("distributions", {}).get("domain_kept")), None)
    if not dropped and kept_step is None:
        return ""
    parts = ["<h2>Domains</h2><p class='muted'>Counted per input file and summed (each file keeps its top 50).</p>"]
    if kept_step is not None:
        kept = Counter(kept_step["distributions"]["domain_kept"]).most_common(TOP)
        parts.append(f"<h3>Kept after {_text(kept_step['step'])}</h3>")
        parts.append(plots.horizontal_bars([d for d, _ in kept], {"kept": [n for _, n in kept]}, "documents"))
    if dropped:
        top = dropped.most_common(TOP)
        parts.append("<h3>Dropped, all steps</h3>")
        parts.append(plots.horizontal_bars([d for d, _ in top], {"dropped": [n for _, n in top]}, "documents"))
    return "".join(parts)


def _lengths(steps: list[dict[str, Any]]) -> str:
    # The quality filters: from the first filter after language ID (or the first filter) to the last
    # filter before the first writer.
    roles = [s["role"] for s in steps]
    first_pass = steps[: roles.index("write")] if "write" in roles else steps
    filters = [s for s in first_pass if s["role"] == "filter" and s.get("distributions", {}).get("length_in")]
    if not filters:
        return ""
    langid = [i for i, s in enumerate(filters) if s.get("distributions", {}).get("language_in")]
    first = filters[langid[0] + 1] if langid and langid[0] + 1 < len(filters) else filters[0]
    last = filters[-1]
    before, after = Counter(first["distributions"]["length_in"]), Counter(last["distributions"]["length_out"])
    bins = _power_bins(set(before) | set(after))
    chart = plots.histogram(
        [f"{int(b):,}+" for b in bins],
        {f"into {first['step']}": [before[b] for b in bins], f"kept by {last['step']}": [after[b] for b in bins]},
        "characters (bins of powers of two)",
    )
    where = f"Before {_text(first['step'])} and after {_text(last['step'])}."
    return f"<h2>Document lengths</h2><p class='muted'>{where}</p>{chart}"


SCORE_LANGUAGES = 10  # languages per step in the scores table; the rest summed as one row
SCORE_SERIES = 4  # languages drawn in a step's score histogram
SCORE_BARS = 60  # bins drawn at most: finer bins are merged into wider ones of a multiple of 0.05


def _score_index(label: str) -> int | None:
    """A score bin's label ("0.35", score_filter.score_bin) as its index in bins of 0.05, or None if it is not one."""
    try:
        value = float(label)
    except ValueError:
        return None
    return round(value * BINS_PER_UNIT) if math.isfinite(value) and abs(value) <= 1e6 else None


def _score_histograms(step: dict[str, Any]) -> dict[str, Counter]:
    """A step's score histograms per language, as {language: Counter(bin index: documents)}."""
    histograms: dict[str, Counter] = {}
    for name, values in step.get("distributions", {}).items():
        if not name.startswith(SCORE_PREFIX):
            continue
        bins: Counter = Counter()
        for label, count in values.items():
            index = _score_index(label)
            if index is not None and isinstance(count, int) and count > 0:
                bins[index] += count
        if bins:
            histograms[name.removeprefix(SCORE_PREFIX)] = bins
    return histograms


def _median_bin(bins: Counter) -> str:
    half, seen = (sum(bins.values()) + 1) // 2, 0
    for index in sorted(bins):
        seen += bins[index]
        if seen >= half:
            return f"{index / BINS_PER_UNIT:.2f}"
    return "—"


def _thresholds(step: dict[str, Any]) -> dict[str, str]:
    """The thresholds a step recorded, {language or "(all)": threshold as written}."""
    thresholds = {}
    for key in step.get("distributions", {}).get(THRESHOLDS, {}):
        language, _, value = str(key).rpartition("=")
        thresholds[language] = value
    return thresholds


def _scores(steps: list[dict[str, Any]]) -> str:
    """Per step that counted scores (score_filter): scored and kept documents per language, the median score
    bin and the threshold, most documents first, and a histogram of the most frequent languages."""
    parts = []
    for i, step in enumerate(steps):
        histograms = _score_histograms(step)
        if not histograms:
            continue
        kept = Counter(step.get("distributions", {}).get(SCORED_KEPT, {}))
        thresholds = _thresholds(step)
        default = thresholds.get(DEFAULT_LANGUAGE, "—")
        ranked = sorted(histograms, key=lambda language: (-sum(histograms[language].values()), language))
        shown, rest = ranked[:SCORE_LANGUAGES], ranked[SCORE_LANGUAGES:]
        rows = []
        for language in shown:
            bins = histograms[language]
            rows.append(
                f"<tr><td>{_text(_language_label(language))}</td><td>{sum(bins.values()):,}</td>"
                f"<td>{kept[language]:,}</td><td>{_median_bin(bins)}</td>"
                f"<td>{_text(thresholds.get(language, default), LABEL_CHARACTERS)}</td></tr>"
            )
        if rest:
            merged: Counter = Counter()
            for language in rest:
                merged.update(histograms[language])
            rows.append(
                f"<tr><td>{len(rest):,} more languages</td><td>{sum(merged.values()):,}</td>"
                f"<td>{sum(kept[x] for x in rest):,}</td><td>{_median_bin(merged)}</td><td></td></tr>"
            )
        drawn = ranked[:SCORE_SERIES]
        lowest = min(min(histograms[x]) for x in drawn)
        highest = max(max(histograms[x]) for x in drawn)
        width = max(1, math.ceil((highest - lowest + 1) / SCORE_BARS))  # in bins of 0.05
        starts = range(lowest - lowest % width, highest + 1, width)
        series = {}
        for language in drawn:
            coarse: Counter = Counter()
            for index, count in histograms[language].items():
                coarse[index - index % width] += count
            series[_language_label(language)] = [coarse[start] for start in starts]
        chart = plots.histogram([f"{start / BINS_PER_UNIT:.2f}" for start in starts], series,
                                f"score (bins of {width / BINS_PER_UNIT:.2f}, by lower edge)")  # fmt: skip
        per_language = "; ".join(
            f"{_text(_language_label(language))}: {_text(value, LABEL_CHARACTERS)}"
            for language, value in sorted(thresholds.items())[: SCORE_LANGUAGES + 1]
            if language != DEFAULT_LANGUAGE
        )
        caption = f"threshold {_text(default, LABEL_CHARACTERS)}" + (
            f" (per language: {per_language})" if per_language else ""
        )
        parts.append(
            f"<h3>{_text(_label(step, i))}</h3><p class='muted'>Documents scored per language ({len(ranked):,} "
            f"languages, the {len(shown)} most frequent shown); kept: scored and at or over the threshold; "
            f"median: the bin of 0.05 holding the median score. Kept at or over the {caption}.</p>"
            f"<table class='scores' data-step='{i}'><tr><th>language</th><th>scored</th><th>kept</th>"
            f"<th>median bin</th><th>threshold</th></tr>{''.join(rows)}</table>{chart}"
            f"<p class='muted'>The {len(drawn)} most frequent languages; {caption}.</p>"
        )
    return "<h2>Scores</h2>" + "".join(parts) if parts else ""


def _decontamination(steps: list[dict[str, Any]]) -> str:
    """Per decontaminate step: every benchmark in force, the documents sharing an n-gram with it, and how many
    of those it dropped (each drop is named after the first benchmark a document matched) or trimmed."""
    # Imported here: a report without this step need not load the word splitting it imports.
    from webcorpus.stages.decontaminate import BENCHMARKS, MATCHED, REASON_PREFIX, TRIMMED

    parts = []
    for i, step in enumerate(steps):
        distributions = step.get("distributions", {})
        if BENCHMARKS not in distributions:
            continue
        matched, trimmed = Counter(distributions.get(MATCHED, {})), Counter(distributions.get(TRIMMED, {}))
        rows = "".join(
            f"<tr><td>{_text(name)}</td><td>{matched[name]:,}</td>"
            f"<td>{step['dropped'].get(REASON_PREFIX + name, 0):,}</td><td>{trimmed[name]:,}</td></tr>"
            for name in list(distributions[BENCHMARKS])[:TOP]
        )
        parts.append(
            f"<h3>{_text(_label(step, i))}</h3><table class='decontamination' data-step='{i}'><tr><th>benchmark</th>"
            f"<th>documents matched</th><th>dropped</th><th>trimmed</th></tr>{rows}</table>"
        )
    return (
        "<h2>Decontamination</h2><p class='muted'>Documents sharing an n-gram with each benchmark's texts; a "
        "document matching several is dropped or trimmed under the first named.</p>" + "".join(parts)
        if parts
        else ""
    )


def _dedup(steps: list[dict[str, Any]]) -> str:
    step = next((s for s in steps if s.get("summary", {}).get("cluster_sizes") is not None), None)
    if step is None:
        return ""
    sizes = step["summary"]["cluster_sizes"]
    documents, removed = step["summary"].get("documents", 0), step["summary"].get("removed", 0)
    share = f"{100 * removed / documents:.1f}%" if documents else "0%"
    labels = _integer_bins({int(k) for k in sizes})
    chart = (
        plots.histogram(labels, {"clusters": [sizes.get(k, 0) for k in labels]}, "cluster size")
        if sizes
        else "<p>No near-duplicates.</p>"
    )
    return (
        f"<h2>Deduplication</h2><p>{_text(step['step'])}: {removed:,} of {documents:,} documents removed "
        f"(<span id='dedup-share'>{share}</span>) in {sum(sizes.values()):,} clusters.</p>{chart}"
    )


def _mix(steps: list[dict[str, Any]]) -> str:
    """Per part of a mix step: its weight, documents and characters in and out, and the tokens a later
    tokenize step counted for it (copies counted each time)."""
    step = next((s for s in steps if s["step"] == "mix" and s.get("summary", {}).get("parts") is not None), None)
    if step is None:
        return ""
    summary = step["summary"]
    tokenized = next((s for s in steps if s["step"] == "tokenize"), None)
    tokens = (tokenized or {}).get("summary", {}).get("parts", {})
    rows = "".join(
        f"<tr><td>{_text(part['part'], LABEL_CHARACTERS)}</td><td>{part['weight']:g}</td>"
        f"<td>{part['documents_in']:,}</td><td>{part['documents_out']:,}</td><td>{part['characters_in']:,}</td>"
        f"<td>{part['characters_out']:,}</td>"
        f"<td>{format(tokens[part['part']]['tokens'], ',') if part['part'] in tokens else '—'}</td></tr>"
        for part in summary["parts"][:SAMPLES_SHOWN]
    )
    rehydrate = summary.get("rehydrate")
    buckets = (
        "rehydration by minhash_cluster_size: " + ", ".join(f"{_text(k)} × {v:g}" for k, v in rehydrate)
        if rehydrate
        else "no rehydration"
    )
    return (
        f"<h2>Mix</h2><p>{_text(step['step'])}: {summary.get('documents', 0):,} documents → "
        f"{summary.get('written', 0):,} written (seed {summary.get('seed')}; {buckets}).</p>"
        "<table id='mix'><tr><th>part</th><th>weight</th><th>documents in</th><th>documents out</th>"
        f"<th>characters in</th><th>characters out</th><th>tokens out</th></tr>{rows}</table>"
    )


def _pii_and_tokens(steps: list[dict[str, Any]]) -> str:
    parts = []
    for step in steps:
        counts, summary = step.get("counts", {}), step.get("summary", {})
        if step["role"] == "filter" and counts:
            rows = "".join(f"<tr><td>{_text(k)}</td><td>{n:,}</td></tr>" for k, n in sorted(counts.items()))
            parts.append(f"<h3>{_text(step['step'])}: replaced</h3><table>{rows}</table>")
        if "vocab_size" in summary:
            parts.append(
                f"<h3>{_text(step['step'])}</h3><p>vocabulary {summary['vocab_size']:,}; "
                f"{summary.get('bytes_per_token', 0)} bytes per token on held-out documents.</p>"
            )
        if "train" in summary and "val" in summary:
            rows = "".join(
                f"<tr><td>{split}</td><td>{summary[split]['documents']:,}</td><td>{summary[split]['tokens']:,}</td></tr>"
                for split in ("train", "val")
            )
            parts.append(
                f"<h3>{_text(step['step'])}</h3><table><tr><th>split</th><th>documents</th><th>tokens</th></tr>"
                f"{rows}</table>"
            )
        if summary.get("languages"):
            parts.append(_bytes_per_token(summary["languages"]))
    return "<h2>Personal data and tokens</h2>" + "".join(parts) if parts else ""


def _bytes_per_token(languages: dict[str, dict[str, Any]]) -> str:
    """tokenize's UTF-8 bytes per token of text per language, most documents first; the rest as OTHER."""
    ranked = sorted(languages.items(), key=lambda item: (-item[1]["documents"], item[0]))
    shown = [(_language_label(language), row) for language, row in ranked[:TOP]]
    if len(ranked) > TOP:
        rest = [row for _, row in ranked[TOP:]]
        shown.append((OTHER, {key: sum(row[key] for row in rest) for key in ("documents", "bytes", "tokens")}))

    def ratio(row: dict[str, Any]) -> float:
        return row["bytes"] / row["tokens"] if row["tokens"] else 0.0

    rows = "".join(
        f"<tr><td>{_text(label)}</td><td>{row['documents']:,}</td><td>{row['bytes']:,}</td><td>{row['tokens']:,}</td>"
        f"<td>{ratio(row):.3f}</td></tr>"
        for label, row in shown
    )
    labels, series = [label for label, _ in shown], {"bytes per token": [ratio(row) for _, row in shown]}
    xlabel = "UTF-8 bytes per token (higher: fewer tokens)"
    # The table above has every number: a chart only where its bars tell more.
    chart = plots.horizontal_bars(labels, series, xlabel) if plots.informative(labels, series) else ""
    return (
        "<h3>Bytes per token per language</h3><p class='muted'>UTF-8 bytes of text per token of text (the "
        "document separator aside) in the tokenized corpus.</p><table id='bytes-per-token'><tr><th>language</th>"
        f"<th>documents</th><th>bytes</th><th>tokens</th><th>bytes/token</th></tr>{rows}</table>{chart}"
    )


def _samples(run: Folder, summary: dict[str, Any]) -> str:
    parts = ["<h2>Samples</h2><p class='muted'>A few documents per drop reason, clipped, each with what the rule "
             "measured against its threshold and the language found; pages dropped before extraction show their "
             "visible text, not their HTML. The full files are listed with each. <code>webcorpus inspect</code> "
             "shows more in the terminal.</p>"]  # fmt: skip
    order = {step["step"]: i for i, step in reversed(list(enumerate(summary["steps"])))}
    html_steps = _html_steps(summary["steps"])
    dropped = sorted(dropped_samples(run), key=lambda s: order.get(s.step, len(order)))
    parts.extend(_sample_html(sample, run, sample.step in html_steps) for sample in dropped[:SAMPLES_SHOWN])
    final = Folder(str(summary.get("final_data", "")))
    if summary.get("final_data") and final.names(""):
        parts.append("<h3>Kept (the first documents of the finished corpus)</h3>")
        parts.extend(_sample_html(sample, run) for sample in kept_samples(final, 3))
    return "".join(parts) if len(parts) > 1 else ""


def _html_steps(steps: list[dict[str, Any]]) -> set[str]:
    """The steps whose documents are still HTML: those up to and including the first `extract` (none when
    the run has no extract step: its documents came as text)."""
    names = [step["step"] for step in steps]
    return set(names[: names.index("extract") + 1]) if "extract" in names else set()


def _sample_html(sample: Sample, run: Folder, html_page: bool = False) -> str:
    """One sample: its step and reason, what that means, the measured value against the threshold, the
    language and its score, the URL and file; then its text (a page's visible text if it is still HTML)."""
    note = ""
    if html_page and looks_like_html(sample.text):
        text = visible_text(sample.text, SAMPLE_CHARACTERS + 1)
        note = f"visible text of the page ({len(sample.text):,} characters of HTML)" if text else "no visible text"
    else:
        text = sample.text
    text = text[:SAMPLE_CHARACTERS] + (" …" if len(text) > SAMPLE_CHARACTERS else "")
    source = sample.source.removeprefix(run.location + "/")
    facts = []
    if sample.detail:
        facts.append(f"<span class='detail'>{_text(sample.detail)}</span>")
    if sample.language:
        score = f" (score {sample.language_score:.2f})" if sample.language_score is not None else ""
        facts.append(f"<span class='language'>language {_text(sample.language, LABEL_CHARACTERS)}{score}</span>")
    if note:
        facts.append(f"<span class='muted'>{note}</span>")
    found = meaning(sample.step, sample.reason) if sample.reason != "kept" else None
    return (
        f"<div class='drop-sample'><p><b>{_text(sample.step)}: {_text(sample.reason)}</b>"
        + (f" <span class='muted'>— {_text(found)}</span>" if found else "")
        + f"<br>{_text(sample.url)} · <span class='muted'>{_text(str(source))}</span>"
        + (f"<br>{' · '.join(facts)}" if facts else "")
        + f"</p><div class='sample'>{escape(text)}</div></div>"
    )


def _power_bins(labels: set[str]) -> list[str]:
    """Power-of-two length bins (step.length_bin's labels) from the smallest to the largest present, the
    empty ones between included, so that a gap reads as a gap and not as neighbouring bars."""
    values = sorted(int(label) for label in labels)
    if not values:
        return []
    powers = [v for v in values if v > 0]
    filled = []
    if powers:
        low, high = powers[0].bit_length() - 1, powers[-1].bit_length() - 1
        filled = [str(1 << k) for k in range(low, high + 1)]
    return (["0"] if values[0] == 0 else []) + filled


FILLED_BINS = 60  # integer bins filled in up to this many; past it, only the bins present are drawn


def _integer_bins(values: set[int]) -> list[str]:
    """Integer bins (cluster sizes) from the smallest to the largest, the empty ones included when there are
    at most FILLED_BINS of them."""
    if not values:
        return []
    low, high = min(values), max(values)
    chosen = range(low, high + 1) if high - low < FILLED_BINS else sorted(values)
    return [str(value) for value in chosen]


def _time(steps: list[dict[str, Any]]) -> str:
    """Wall and CPU seconds per step, as the run's table gives them (start-up included); a stats.json from
    before they were recorded has only time_s, the seconds inside each step summed over workers."""
    labels = [_label(s, i) for i, s in enumerate(steps)]
    if not all("wall_s" in s for s in steps):
        chart = plots.horizontal_bars(labels, {"seconds": [s["time_s"] for s in steps]}, "seconds")
        return f"<h2>Time per step</h2>{chart}"
    series = {"wall": [s["wall_s"] for s in steps], "CPU, all workers": [s.get("cpu_s", 0.0) for s in steps]}
    startup = [f"{label} {s['startup_s']:.1f} s" for label, s in zip(labels, steps) if s.get("startup_s", 0) >= 1]
    chart = plots.horizontal_bars(labels, series, "seconds")
    if startup:
        what = "Start-up (building steps, loading models), summed over workers"
        chart += f"<p class='muted'>{what}: {escape(', '.join(startup))}</p>"
    return f"<h2>Time per step</h2>{chart}"


def _bad_files(summary: dict[str, Any]) -> str:
    bad = summary.get("bad_files", []) + summary.get("files_failed", [])
    if not bad:
        return "<h2>Bad input files</h2><p>None.</p>"
    items = "".join(f"<li class='bad'>{_text(line)}</li>" for line in bad[:BAD_FILES_SHOWN])
    if len(bad) > BAD_FILES_SHOWN:
        items += f"<li>and {len(bad) - BAD_FILES_SHOWN:,} more (stats.json lists them all)</li>"
    return f"<h2>Bad input files</h2><p>Each with what was lost.</p><ul>{items}</ul>"

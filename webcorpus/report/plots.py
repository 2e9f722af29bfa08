"""The report's plots: matplotlib figures written as inline SVG (no pyplot, so no global state and no
display), with fixed ids and no date in the file, so the same run gives the same SVG. Labels come from data
(hosts, reasons, languages): each is clipped and drawn as written, never parsed as math (`$...$`)."""

from __future__ import annotations

import io
from collections.abc import Sequence
from html import escape

import matplotlib
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from webcorpus.report.text import shown

STYLE = {"svg.hashsalt": "webcorpus", "svg.fonttype": "path", "font.size": 9, "axes.spines.top": False,
         "axes.spines.right": False, "text.parse_math": False}  # fmt: skip
LABEL_CHARACTERS = 40
KEPT, DROPPED, OTHER = "#2b6cb0", "#c05621", "#718096"
COLOURS = {"kept": KEPT, "dropped": DROPPED}


def colour(series: str, index: int) -> str:
    """Kept is blue and dropped orange wherever they appear; other series take grey, then the rest."""
    return COLOURS.get(series, [OTHER, KEPT, DROPPED][index % 3])


def clip_label(text: object) -> str:
    """A tick label from data (a host, a reason, a language), bounded: a 200,000-character host is not drawn
    whole. Series names are the report's own."""
    return shown(text, LABEL_CHARACTERS)


def svg(figure: Figure) -> str:
    buffer = io.StringIO()
    with matplotlib.rc_context(STYLE):
        figure.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
    text = buffer.getvalue()
    return text[text.index("<svg") :]  # inline: no XML declaration or DOCTYPE


def counts(series: dict[str, Sequence[float]]) -> bool:
    """Whether every value is a whole number (documents, clusters): its axis then has whole ticks only, as a
    count of 2.5 documents means nothing."""
    return all(isinstance(value, int) for values in series.values() for value in values)


def value_text(value: float) -> str:
    return f"{value:,}" if isinstance(value, int) else f"{value:,.3g}"


def informative(labels: Sequence[str], series: dict[str, Sequence[float]]) -> bool:
    """Whether bars would show more than a table does: two rows at least, and, for one series, not all of
    one length (a run of 13 hosts with one document each is a list, not a chart)."""
    if len(labels) < 2:
        return False
    return len(series) > 1 or len({value for values in series.values() for value in values}) > 1


def small_table(labels: Sequence[str], series: dict[str, Sequence[float]], label_header: str, unit: str) -> str:
    """What a chart that is not `informative` would show, as a table: one bar, or bars of one length, tell
    nothing that numbers do not."""
    if not labels:
        return ""
    header = "".join(f"<th>{escape(name if name == unit or not unit else f'{name} ({unit})')}</th>" for name in series)
    rows = "".join(
        f"<tr><td>{escape(label)}</td>"
        + "".join(f"<td>{value_text(values[i])}</td>" for values in series.values())
        + "</tr>"
        for i, label in enumerate(labels)
    )
    return f"<table class='small-chart'><tr><th>{escape(label_header)}</th>{header}</tr>{rows}</table>"


def horizontal_bars(labels: Sequence[str], series: dict[str, Sequence[float]], xlabel: str, log: bool = False) -> str:
    """One row per label (top to bottom in the given order), one bar per series; a table where bars would
    not be `informative`."""
    labels = [clip_label(x) for x in labels]
    if not informative(labels, series):
        return small_table(labels, series, "", xlabel)
    with matplotlib.rc_context(STYLE):
        figure = Figure(figsize=(7.5, 0.8 + 0.28 * len(labels) * max(1, len(series)) ** 0.5))
        axes = figure.add_subplot()
        height = 0.8 / max(len(series), 1)
        for k, (name, values) in enumerate(series.items()):
            positions = [i + k * height for i in range(len(labels))]
            axes.barh(positions, values, height=height, label=name, color=colour(name, k))
        axes.set_yticks([i + height * (len(series) - 1) / 2 for i in range(len(labels))], labels)
        axes.invert_yaxis()
        axes.set_xlabel(xlabel)
        if log:
            axes.set_xscale("symlog")
        elif counts(series):
            axes.xaxis.set_major_locator(MaxNLocator(integer=True))
        if len(series) > 1:
            axes.legend(loc="lower right", frameon=False)
        return svg(figure)


def histogram(bins: Sequence[str], series: dict[str, Sequence[float]], xlabel: str) -> str:
    """Bars over ordered bins (e.g. powers of two), one colour per series, side by side; a table for a single
    bin. The caller gives every bin, empty ones too, so that gaps show."""
    bins = [clip_label(x) for x in bins]
    if len(bins) < 2:
        return small_table(bins, series, xlabel, "")
    with matplotlib.rc_context(STYLE):
        figure = Figure(figsize=(7.5, 2.8))
        axes = figure.add_subplot()
        width = 0.8 / max(len(series), 1)
        for k, (name, values) in enumerate(series.items()):
            axes.bar([i + k * width for i in range(len(bins))], values, width=width, label=name, color=colour(name, k))
        axes.set_xticks([i + width * (len(series) - 1) / 2 for i in range(len(bins))], bins, rotation=45, ha="right")
        axes.set_xlabel(xlabel)
        axes.set_ylabel("documents")
        if counts(series):
            axes.yaxis.set_major_locator(MaxNLocator(integer=True))
        if len(series) > 1:
            axes.legend(frameon=False)
        return svg(figure)


def curves(
    series: dict[str, tuple[Sequence[float], Sequence[float]]],
    xlabel: str,
    ylabel: str,
    scores: tuple[str, dict[str, float]] | None = None,
) -> str:
    """One line per series, given as (x values, y values); with `scores` (a label and one value per
    series), a bar chart of them beside the lines, in the same colours."""
    palette = [KEPT, DROPPED, OTHER, "#2f855a", "#6b46c1"]
    with matplotlib.rc_context(STYLE):
        figure = Figure(figsize=(10.5 if scores else 7.5, 3.2), layout="constrained")
        lines = figure.add_subplot(1, 2, 1) if scores else figure.add_subplot()
        for k, (name, (xs, ys)) in enumerate(series.items()):
            lines.plot(xs, ys, label=name, color=palette[k % 5], marker=".")
        lines.set_xlabel(xlabel)
        lines.set_ylabel(ylabel)
        lines.legend(frameon=False)
        if scores:
            label, values = scores
            bars = figure.add_subplot(1, 2, 2)
            names = list(values)
            bars.barh(names, [values[n] for n in names], color=[palette[k % 5] for k in range(len(names))])
            bars.invert_yaxis()
            bars.set_xlabel(label)
            for k, name in enumerate(names):
                bars.annotate(f"{values[name]:.4f}", (values[name], k), xytext=(3, 0), textcoords="offset points",
                              va="center")  # fmt: skip
        return svg(figure)

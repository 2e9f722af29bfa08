"""DIR/report.html of an ablation: the warnings first, then the verdicts, the variants side by side with
each score's interval, their loss curves and scores (one page, the figure inline), and DIR/ablation.svg,
the same figure as a file of its own."""

from __future__ import annotations

from html import escape
from pathlib import Path
from typing import Any

import matplotlib
from matplotlib.figure import Figure

from webcorpus.ablate.uncertainty import MIN_CURVE_POINTS, score_decimals, score_text, verdict_text
from webcorpus.atomic import atomic_path
from webcorpus.pipeline import run_folder
from webcorpus.report import plots
from webcorpus.report.html import CSS

PALETTE = [plots.KEPT, plots.DROPPED, plots.OTHER, "#2f855a", "#6b46c1"]
WARNING_CSS = ".warning { border: 2px solid #c53030; background: #fff5f5; padding: 6px 14px; margin: 12px 0; }"


def write_ablation_report(output: Path, summary: dict[str, Any]) -> Path:
    variants = summary["variants"]
    figure = ablation_figure(summary)
    with atomic_path(output / "ablation.svg") as tmp:
        Path(tmp).write_text(figure, encoding="utf-8")
    rows = "".join(
        f"<tr><td>{escape(v['name'])}</td><td data-variant='{escape(v['name'])}'>"
        f"{escape(score_text(v['eval_bits_per_byte'], v.get('eval_interval'), _digits(summary, v)))}</td>"
        f"<td>{_number(v['own_val_loss'])}</td><td>{v['documents']:,}</td><td>{v['train_tokens_available']:,}</td>"
        f"<td>{'x' + str(v['repeated']) if v['repeated'] else 'no'}</td>"
        f"<td class='text'>{escape(_differs(summary, v['name']))}</td></tr>"
        for v in variants
    )
    evaluation = summary["eval"]
    warnings = summary.get("warnings", [])
    warning_box = (
        "<div class='warning' id='warnings'><strong>These scores say little:</strong><ul>"
        + "".join(f"<li>{escape(w)}</li>" for w in warnings)
        + "</ul></div>"
        if warnings
        else ""
    )
    verdicts = "".join(f"<li>{escape(verdict_text(c))}</li>" for c in summary.get("comparisons", []))
    page = (
        f"<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'><title>webcorpus ablation</title>"
        f"<style>{CSS}{WARNING_CSS}</style></head><body><h1>Ablation: which data makes the better model?</h1>"
        f"{warning_box}<ul id='verdicts'>{verdicts}</ul>"
        f"<p>Preset {escape(summary['preset'])}, the same seed, {summary['train_tokens']:,} training tokens per "
        f"variant ({summary['tokens_per_step']:,} per optimiser step), one tokenizer of "
        f"{summary['tokenizer']['vocab_size']:,} tokens for all. Evaluation: {escape(evaluation['source'])}, "
        f"{evaluation['documents']:,} documents, {evaluation['bytes']:,} bytes, {evaluation['tokens']:,} tokens. "
        "Lower bits per byte is better. Each score has a 95% bootstrap interval over the evaluation documents "
        "(the same resamples for every variant); two variants whose difference has an interval containing 0 "
        "are a tie. The intervals leave out the training seed's own noise.</p>"
        "<table id='scores'><tr><th>variant</th><th>eval bits per byte (95% interval)</th>"
        "<th>own validation loss</th><th>documents</th><th>training tokens</th><th>repeated</th>"
        "<th>differs by</th></tr>"
        f"{rows}</table><h2>Training loss and scores</h2>{figure}</body></html>\n"
    )
    target = output / run_folder.REPORT
    with atomic_path(target) as tmp:
        Path(tmp).write_text(page, encoding="utf-8")
    return target


def ablation_figure(summary: dict[str, Any]) -> str:
    """The training loss curves beside the scores with their intervals as error bars. A curve of fewer
    than MIN_CURVE_POINTS steps is not drawn (a line through two dots suggests a trend that is not there),
    nor are scores without intervals: each panel says why instead."""
    variants = summary["variants"]
    with matplotlib.rc_context(plots.STYLE):
        figure = Figure(figsize=(10.5, 3.2), layout="constrained")
        lines = figure.add_subplot(1, 2, 1)
        points = min(len(v["curve"]) for v in variants)
        if points < MIN_CURVE_POINTS:
            note = f"{points} training step{'s' * (points != 1)}: too few for a loss curve"
            lines.text(0.5, 0.5, note, ha="center", va="center", transform=lines.transAxes, gid="too-few-points")
            lines.set_axis_off()
        else:
            for k, v in enumerate(variants):
                steps, losses = [r["step"] for r in v["curve"]], [r["loss"] for r in v["curve"]]
                lines.plot(steps, losses, label=plots.clip_label(v["name"]), color=PALETTE[k % 5])
            lines.set_xlabel("optimiser step")
            lines.set_ylabel("training loss (nats per token)")
            lines.legend(frameon=False)
        scores = figure.add_subplot(1, 2, 2)
        if any(v.get("eval_interval") is None for v in variants):
            # Dots on an axis zoomed to their spread would make any difference look large: not drawn.
            documents = summary["eval"]["documents"]
            note = f"{documents} evaluation document{'s' * (documents != 1)}: no intervals, scores in the table"
            scores.text(0.5, 0.5, note, ha="center", va="center", transform=scores.transAxes, gid="no-intervals")
            scores.set_axis_off()
            return plots.svg(figure)
        for k, v in enumerate(variants):
            score, (low, high) = v["eval_bits_per_byte"], v["eval_interval"]
            error = [[score - low], [high - score]]
            bar = scores.errorbar([score], [k], xerr=error, fmt="o", color=PALETTE[k % 5], capsize=4)
            bar.lines[0].set_gid(f"score-{k}")
            label = f"{score:.{_digits(summary, v)}f}"
            scores.annotate(label, (score, k), xytext=(0, 7), textcoords="offset points", ha="center")
        scores.set_yticks(range(len(variants)), [plots.clip_label(v["name"]) for v in variants])
        scores.set_ylim(len(variants) - 0.5, -0.6)
        scores.set_xlabel("eval bits per byte, 95% interval (lower is better)")
        return plots.svg(figure)


def _digits(summary: dict[str, Any], variant: dict[str, Any]) -> int:
    return score_decimals(variant["name"], variant.get("eval_interval"), summary.get("comparisons", []))


def _differs(summary: dict[str, Any], name: str) -> str:
    return "; ".join(summary["differences"][name]) or "(the common steps only)"


def _number(value: float | None) -> str:
    return "—" if value is None else f"{value:.4f}"

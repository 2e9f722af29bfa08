"""DIR/report.html of an ablation: the variants side by side, their loss curves and scores (one page,
the figure inline), and DIR/ablation.svg, the same figure as a file of its own."""

from __future__ import annotations

from html import escape
from pathlib import Path
from typing import Any

from webcorpus.atomic import atomic_path
from webcorpus.pipeline import run_folder
from webcorpus.report import plots
from webcorpus.report.html import CSS


def write_ablation_report(output: Path, summary: dict[str, Any]) -> Path:
    variants = summary["variants"]
    curves = {v["name"]: ([r["step"] for r in v["curve"]], [r["loss"] for r in v["curve"]]) for v in variants}
    scores = ("eval bits per byte (lower is better)", {v["name"]: v["eval_bits_per_byte"] for v in variants})
    figure = plots.curves(curves, "optimiser step", "training loss (nats per token)", scores)
    with atomic_path(output / "ablation.svg") as tmp:
        Path(tmp).write_text(figure, encoding="utf-8")
    rows = "".join(
        f"<tr><td>{escape(v['name'])}</td><td data-variant='{escape(v['name'])}'>{v['eval_bits_per_byte']:.4f}</td>"
        f"<td>{_number(v['own_val_loss'])}</td><td>{v['documents']:,}</td><td>{v['train_tokens_available']:,}</td>"
        f"<td>{'x' + str(v['repeated']) if v['repeated'] else 'no'}</td>"
        f"<td class='text'>{escape(_differs(summary, v['name']))}</td></tr>"
        for v in variants
    )
    evaluation = summary["eval"]
    page = (
        f"<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'><title>webcorpus ablation</title>"
        f"<style>{CSS}</style></head><body><h1>Ablation: which data makes the better model?</h1>"
        f"<p>Preset {escape(summary['preset'])}, the same seed, {summary['train_tokens']:,} training tokens per "
        f"variant ({summary['tokens_per_step']:,} per optimiser step), one tokenizer of "
        f"{summary['tokenizer']['vocab_size']:,} tokens for all. Evaluation: {escape(evaluation['source'])}, "
        f"{evaluation['documents']:,} documents, {evaluation['bytes']:,} bytes, {evaluation['tokens']:,} tokens. "
        "Lower bits per byte is better.</p>"
        "<table id='scores'><tr><th>variant</th><th>eval bits per byte</th><th>own validation loss</th>"
        "<th>documents</th><th>training tokens</th><th>repeated</th><th>differs by</th></tr>"
        f"{rows}</table><h2>Training loss and scores</h2>{figure}</body></html>\n"
    )
    target = output / run_folder.REPORT
    with atomic_path(target) as tmp:
        Path(tmp).write_text(page, encoding="utf-8")
    return target


def _differs(summary: dict[str, Any], name: str) -> str:
    return "; ".join(summary["differences"][name]) or "(the common steps only)"


def _number(value: float | None) -> str:
    return "—" if value is None else f"{value:.4f}"

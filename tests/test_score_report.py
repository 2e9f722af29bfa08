"""score_filter's per-language score histograms: counted into stats.json (merged over tasks), and the report's
Scores section built from them."""

import json
from pathlib import Path

import pytest

from webcorpus.document import Document
from webcorpus.pipeline.config import load_pipeline
from webcorpus.pipeline.runner import run_pipeline
from webcorpus.pipeline.step import LANGUAGE_TOP
from webcorpus.report.html import build_report
from webcorpus.stages.score_filter import ScoreFilter, score_bin
from webcorpus.stages.write_parquet import ParquetWriter

HOSTILE = "<script>alert(1)</script>"
# (language, score) per input shard; None: no score (dropped as no_score, not counted).
SHARDS = {
    "a": [("en", 0.1), ("en", 0.35), ("en", 0.36), ("en", 0.9), ("de", 0.2), ("de", 0.6), ("en", None)],
    "b": [("en", 0.35), ("en", 0.55), ("de", 0.31), (HOSTILE, 1e300), ("de", -0.01)],
}


def write_inputs(folder: Path) -> None:
    for prefix, rows in SHARDS.items():
        documents = []
        for i, (language, score) in enumerate(rows):
            metadata = {"language": language} | ({} if score is None else {"quality_hq": score})
            documents.append(Document(f"{prefix}{i}", f"https://{prefix}.example.org/{i}", f"text {i} " * 20, metadata))
        ParquetWriter().write(documents, folder, prefix=prefix)


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> tuple[dict, str]:
    root = tmp_path_factory.mktemp("scores")
    write_inputs(root / "in")
    config = root / "scores.yaml"
    config.write_text(
        f"input: {root / 'in'}\noutput: {root / 'out'}\nsteps:\n  - read_parquet\n"
        "  - score_filter: {score: quality_hq, threshold: 0.5, per_language: {de: {threshold: 0.3}}}\n"
        "  - write_parquet\n"
    )
    run_pipeline(load_pipeline(config), workers=1, progress=False)
    stats = json.loads((root / "out" / "stats.json").read_text())
    html = (root / "out" / "report.html").read_text()
    assert html == build_report(root / "out")  # the run wrote it (a failing report is only a warning there)
    return stats, html


def score_step(stats: dict) -> dict:
    [step] = [s for s in stats["steps"] if s["step"] == "score_filter"]
    return step


def test_score_bins():
    assert [score_bin(x) for x in (0.35, 0.36, 0.3999, 0.4, 0, -0.01, 1.0)] == [
        "0.35", "0.35", "0.35", "0.40", "0.00", "-0.05", "1.00"
    ]  # fmt: skip
    assert score_bin(1e300) == score_bin(float("inf")) == "10.00" and score_bin(-1e300) == "-10.00"


def test_stats_hold_the_per_language_bins_summed_over_both_shards(run):
    stats, _ = run
    step = score_step(stats)
    assert step["documents_in"] == 12 and step["dropped"] == {"below_threshold": 6, "no_score": 1}
    distributions = step["distributions"]
    assert distributions["score_en"] == {"0.10": 1, "0.35": 3, "0.55": 1, "0.90": 1}
    assert distributions["score_de"] == {"-0.05": 1, "0.20": 1, "0.30": 1, "0.60": 1}
    assert distributions[f"score_{HOSTILE}"] == {"10.00": 1}  # 1e300, clamped
    assert distributions["scored_kept"] == {"en": 2, "de": 2, HOSTILE: 1}
    # One count per task that used the threshold: two input files.
    assert distributions["thresholds"] == {"(all)=0.5": 2, "de=0.3": 2}


def test_the_report_has_a_scores_section_with_both_languages_and_the_thresholds(run):
    stats, html = run
    assert "<h2>Scores</h2>" in html
    section = html[html.index("<h2>Scores</h2>") :]
    table = section[section.index("<table class='scores'") : section.index("</table>")]
    # Most documents first: en (6), de (4), then the hostile label (1), escaped.
    assert table.index("<td>en</td><td>6</td><td>2</td><td>0.35</td><td>0.5</td>") < table.index(
        "<td>de</td><td>4</td><td>2</td><td>0.20</td><td>0.3</td>"
    )
    assert "threshold 0.5 (per language: de: 0.3)" in section
    assert HOSTILE not in html and "&lt;script&gt;" in table
    assert section.count("<svg") >= 1


def test_languages_past_the_bound_are_counted_as_other():
    step = ScoreFilter(threshold=0.5)
    step.start_task()
    documents = [Document(str(i), "", "x", {"language": f"l{i}", "quality_hq": 0.7}) for i in range(LANGUAGE_TOP + 5)]
    assert len(list(step.run(documents))) == LANGUAGE_TOP + 5
    names = [name for name in step.stats.distributions if name.startswith("score_")]
    assert len(names) == LANGUAGE_TOP + 1 and step.stats.distributions["score_other"] == {"0.70": 5}
    assert step.stats.distributions["scored_kept"]["other"] == 5


def test_the_report_summarises_languages_past_the_first_ten(tmp_path):
    from webcorpus.report.html import _scores

    distributions = {f"score_l{i:02d}": {"0.50": 20 - i} for i in range(14)}
    distributions |= {"scored_kept": {"l00": 20}, "thresholds": {"(all)=0.25": 1}}
    html = _scores([{"step": "score_filter", "role": "filter", "distributions": distributions}])
    assert "<td>l09</td>" in html and "<td>l10</td>" not in html
    assert "<td>4 more languages</td><td>" + str(sum(20 - i for i in range(10, 14))) in html
    assert _scores([{"step": "x", "role": "filter", "distributions": {"length_in": {"1": 1}}}]) == ""

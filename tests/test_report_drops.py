"""The report explains its drops (issue 33): each dropped sample says what its rule measured against the
threshold and the language found, every reason has a meaning, pages dropped before extraction show their
visible text, and charts of one or two bars stay readable."""

from __future__ import annotations

import ast
import gzip
import importlib
import inspect
import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import REPO

from webcorpus.cli import main
from webcorpus.document import Document
from webcorpus.pipeline.drops import DETAIL, compared
from webcorpus.pipeline.registry import STEPS, step_class
from webcorpus.report import plots
from webcorpus.report.html import _integer_bins, _power_bins
from webcorpus.report.reasons import declared, meaning
from webcorpus.report.text import visible_text
from webcorpus.stages.c4_quality import C4QualityFilter
from webcorpus.stages.fineweb_quality import FineWebQualityFilter
from webcorpus.stages.gopher_quality import GopherQualityFilter
from webcorpus.stages.gopher_repetition import GopherRepetitionFilter
from webcorpus.stages.url_filter import UrlFilter

# Steps that read pages or make drops elsewhere than in their filters; their reasons are still declared.
MEASURED_STEPS = ("gopher_repetition", "gopher_quality", "c4_quality", "fineweb_quality", "langid", "quick_langid",
                  "url_filter", "extract")  # fmt: skip
COMPARISON = re.compile(r"\d[\d,]*(\.\d+)? (&lt;|&gt;|<|>|≤|≥) \d[\d,]*(\.\d+)?")  # as text, or in HTML


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("drops") / "out"
    result = CliRunner().invoke(
        main, ["run", str(REPO / "pipelines" / "fineweb.yaml"), "-o", str(out), "--no-progress"]
    )
    assert result.exit_code == 0, result.output
    return out


def removed_documents(run: Path) -> Iterator[dict]:
    for path in sorted(run.glob("removed/*/*.jsonl.gz")):
        with gzip.open(path, "rt", encoding="utf-8") as f:
            yield from map(json.loads, f)


def samples_section(report: str) -> str:
    return report[report.index("<h2>Samples</h2>") : report.index("<h2>Time per step</h2>")]


def test_every_document_a_measuring_filter_dropped_carries_its_measure(run_dir):
    seen = set()
    for row in removed_documents(run_dir):
        step, _, reason = row["metadata"]["drop_reason"].partition(":")
        if step in MEASURED_STEPS:
            assert row["metadata"].get(DETAIL), row["metadata"]
            seen.add(step)
    assert {"gopher_quality", "gopher_repetition", "langid", "quick_langid", "url_filter", "extract"} <= seen


def test_the_report_shows_measures_against_thresholds_languages_and_meanings(run_dir):
    report = (run_dir / "report.html").read_text()
    samples = samples_section(report)
    gopher = re.search(r"<b>gopher_quality: short_doc</b>.*?<span class='detail'>([^<]*)</span>", samples, re.S)
    assert gopher is not None and re.fullmatch(r"words \d+ &lt; 50", gopher.group(1)), gopher
    for step in ("gopher_repetition", "langid"):
        details = re.findall(rf"<b>{step}: [a-z_0-9]+</b>.*?<span class='detail'>([^<]*)</span>", samples, re.S)
        assert details and all(COMPARISON.search(d) or " not in " in d for d in details), details
    assert re.search(r"<span class='language'>language en \(score 0\.\d\d\)</span>", samples)
    assert re.search(
        r"<b>minhash_dedup: near_duplicate</b>.*?<span class='detail'>duplicate of [^<]+</span>", samples, re.S
    )

    stats = json.loads((run_dir / "stats.json").read_text())
    table = report[
        report.index("<table id='reasons'>") : report.index("</table>", report.index("<table id='reasons'>"))
    ]
    for step in stats["steps"]:
        for reason in step["dropped"]:
            found = meaning(step["step"], reason)
            assert found, (step["step"], reason)
            assert found.replace("'", "&#x27;") in table
    assert "no meaning declared" not in report


def test_pages_dropped_before_extraction_show_their_visible_text(run_dir):
    samples = samples_section((run_dir / "report.html").read_text())
    assert "DOCTYPE" not in samples and "&lt;html" not in samples and "&lt;div" not in samples
    url_sample = samples[samples.index("<b>url_filter: domain</b>") :]
    assert "visible text of the page" in url_sample[:2000]
    assert "Composting turns kitchen scraps" in url_sample[:3000]


def test_visible_text_is_the_text_a_reader_sees_bounded():
    page = (
        "<!DOCTYPE html><html><head><title>Title here</title><style>p{color:red}</style>"
        "<script>var x = '<p>not text</p>';</script></head><body><nav>Home</nav><div>One <b>two</b></div>"
        "<p>three &amp; four<!-- a comment --></p>" + "<p>word</p>" * 100_000
    )
    text = visible_text(page, 60)
    assert text.startswith("Title here\nHome\nOne two\nthree & four\nword")
    assert len(text) <= 60 and "not text" not in text and "comment" not in text and "color" not in text
    assert visible_text("", 50) == ""
    assert visible_text("<?xml version='1.0' encoding='utf-8'?><html><body><p>a\x00b</p>", 50) != ""


def test_compared_writes_the_value_against_the_threshold_with_digits_that_tell_them_apart():
    assert compared("mean word length", 1.0234, "<", 3) == "mean word length 1.02 < 3"
    assert compared("share of repeated lines", 0.30001, ">", 0.3) == "share of repeated lines 0.30001 > 0.3"
    assert compared("words", 12, "<", 50) == "words 12 < 50"
    assert compared("characters", 12_000_000, ">", 10_000_000) == "characters 12,000,000 > 10,000,000"


@pytest.mark.parametrize(
    "step, text, reason, detail",
    [
        (GopherQualityFilter(min_doc_words=1), "a b c d e f g h i j the and", "short_words",
         "mean word length 1.33 < 3"),
        (GopherQualityFilter(), "the cat sat", "short_doc", "words 3 < 50"),
        (GopherRepetitionFilter(), "same line\nsame line\nsame line\nother", "dup_line_frac",
         "share of repeated lines 0.50 > 0.3"),
        (C4QualityFilter(), "one two three four.", "too_few_sentences", "sentences in kept lines 1 < 5"),
        (FineWebQualityFilter(), "no punctuation here at all\nnor here at all", "line_punct_ratio",
         "share of lines ending in punctuation 0.00 < 0.12"),
    ],
)  # fmt: skip
def test_a_filter_records_what_it_measured_only_on_the_documents_it_drops(step, text, reason, detail):
    document = Document("1", "https://example.com/", text)
    assert step.filter(document) == reason
    assert COMPARISON.search(document.metadata[DETAIL]), document.metadata
    if detail is not None:
        assert document.metadata[DETAIL] == detail


def test_a_kept_document_gains_no_detail():
    kept = Document("2", "https://example.com/", "The quick brown fox jumps over the lazy dog with the others. " * 10)
    assert GopherQualityFilter().filter(kept) is None
    assert kept.metadata == {}


def test_score_filter_and_extract_say_how_far_a_document_missed():
    from webcorpus.stages.extract import TrafilaturaExtractor
    from webcorpus.stages.score_filter import ScoreFilter

    document = Document("1", "https://example.com/", "text", {"quality": 0.25})
    assert ScoreFilter(score="quality", threshold=0.5).filter(document) == "below_threshold"
    assert document.metadata[DETAIL] == "quality 0.25 < 0.5"
    page = Document("2", "https://example.com/", "<html>" + "x" * 100 + "</html>")
    assert TrafilaturaExtractor(max_characters=50).filter(page) == "too_large"
    assert page.metadata[DETAIL] == "characters 113 > 50"


def test_decontaminate_counts_the_shared_n_grams(tmp_path):
    from webcorpus.stages.decontaminate import Decontaminate

    words = "one two three four five six seven eight nine ten eleven twelve thirteen fourteen".split()
    (tmp_path / "quiz.txt").write_text(" ".join(words) + "\n")
    document = Document("1", "https://example.org/", "Before it: " + " ".join(words), {"language": "en"})
    assert Decontaminate(benchmarks={"quiz": str(tmp_path / "quiz.txt")}).filter(document) == "contaminated:quiz"
    assert document.metadata[DETAIL] == "2 13-word n-grams shared with quiz"


def test_url_filter_names_the_listed_domain():
    document = Document("1", "https://www.xvideos.com/video1", "<html></html>")
    assert UrlFilter().filter(document) == "domain"
    assert document.metadata[DETAIL] == "registered domain xvideos.com is listed"


def _module_constants(tree: ast.Module) -> dict[str, str]:
    constants = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    constants[target.id] = node.value.value
    return constants


def _reason_patterns(node: ast.AST, constants: dict[str, str]) -> Iterator[str]:
    """A reason written in source, as a regular expression (an f-string's fields match anything)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        yield re.escape(node.value)
    elif isinstance(node, ast.Name) and node.id in constants:
        yield re.escape(constants[node.id])
    elif isinstance(node, ast.JoinedStr):
        yield "".join(re.escape(part.value) if isinstance(part, ast.Constant) else ".+" for part in node.values)
    elif isinstance(node, ast.IfExp):
        yield from _reason_patterns(node.body, constants)
        yield from _reason_patterns(node.orelse, constants)


def emitted_reasons(name: str) -> set[str]:
    """The drop reasons step `name`'s module writes: what its filter methods return, what it passes to
    `dropped(...)` and `.drop(...)`, and the keys it sets in `stats.dropped[...]`. In a module of several
    steps, only the step's own class is read."""
    module_name, _, class_name = STEPS[name].partition(":")
    tree = ast.parse(inspect.getsource(importlib.import_module(module_name)))
    constants = _module_constants(tree)
    scanned: ast.AST = tree
    if sum(path.startswith(module_name + ":") for path in STEPS.values()) > 1:
        scanned = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == class_name)
    found: set[str] = set()
    for node in ast.walk(scanned):
        if isinstance(node, ast.FunctionDef) and node.name in ("filter", "judge", "verdict"):
            for inner in ast.walk(node):
                if isinstance(inner, ast.Return) and inner.value is not None:
                    found.update(_reason_patterns(inner.value, constants))
        elif isinstance(node, ast.Call):
            name = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", "")
            if name in ("dropped", "drop") and len(node.args) >= 2:
                found.update(_reason_patterns(node.args[1], constants))
        elif isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Store):
            if isinstance(node.value, ast.Attribute) and node.value.attr == "dropped":
                found.update(_reason_patterns(node.slice, constants))
    return found


@pytest.mark.parametrize("name", list(STEPS))
def test_every_reason_a_registered_step_can_drop_for_has_a_meaning(name):
    table = declared(name)
    for reason, said in table.items():
        assert said.strip() and "\n" not in said and len(said) <= 120, (name, reason)
    for pattern in emitted_reasons(name):
        matching = [r for r in table if re.fullmatch(pattern, r) or (r.endswith(":") and re.match(pattern, r))]
        assert matching, f"{name}: a reason matching {pattern!r} has no meaning in drop_reasons"
    if name in MEASURED_STEPS:
        assert step_class(name).drop_reasons, name


def test_a_reason_with_a_prefix_takes_its_meaning():
    assert meaning("decontaminate", "contaminated:mmlu")
    assert meaning("mix", "not_sampled:web")
    assert meaning("gopher_quality", "no_such_reason") is None


def svg_texts(svg: str) -> list[str]:
    """The strings drawn in a plots.py SVG (each glyph run is preceded by a comment holding its text)."""
    return re.findall(r"<!-- (.*?) -->", svg)


def test_charts_at_small_scale():
    one = plots.horizontal_bars(["en"], {"identified": [3], "kept": [2]}, "documents")
    assert "<svg" not in one and "<table" in one and ">3<" in one and ">2<" in one
    assert plots.horizontal_bars([], {"dropped": []}, "documents") == ""
    hosts = plots.horizontal_bars(["a.org", "b.org", "c.org"], {"kept": [1, 1, 1]}, "documents")
    assert "<svg" not in hosts and hosts.count("<tr>") == 4  # bars of one length: a list, not a chart
    assert "<svg" not in plots.histogram(["1,024+"], {"documents": [5]}, "characters")

    two = plots.horizontal_bars(["a", "b"], {"dropped": [1, 2]}, "documents")
    assert "<svg" in two
    ticks = [t for t in svg_texts(two) if re.fullmatch(r"[\d.,]+", t)]
    assert ticks and all(re.fullmatch(r"\d+", t) for t in ticks), ticks
    bars = plots.histogram(["0", "1", "2"], {"clusters": [1, 0, 2]}, "cluster size")
    ticks = [t for t in svg_texts(bars) if re.fullmatch(r"[\d.,]+", t)]
    assert all(re.fullmatch(r"\d+", t) for t in ticks), ticks
    seconds = plots.horizontal_bars(["a", "b"], {"seconds": [0.2, 0.7]}, "seconds")
    assert any("." in t for t in svg_texts(seconds))  # times are not counts: their ticks may be fractions

    assert _power_bins({"0", "4", "64"}) == ["0", "4", "8", "16", "32", "64"]
    assert _power_bins({"256"}) == ["256"]
    assert _integer_bins({2, 5}) == ["2", "3", "4", "5"]
    assert _integer_bins({2, 500}) == ["2", "500"]

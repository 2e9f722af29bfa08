"""The run report in a real headless browser, and `webcorpus inspect`."""

import gzip
import json
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import REPO

from webcorpus.cli import main
from webcorpus.report.html import write_report


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("report") / "out"
    result = CliRunner().invoke(
        main, ["run", str(REPO / "pipelines" / "fineweb.yaml"), "-o", str(out), "--no-progress"]
    )
    assert result.exit_code == 0, result.output
    assert f"report: {out / 'report.html'}" in result.output
    return out


class FunnelCells(HTMLParser):
    """The funnel table's numbers, by (step index, field)."""

    def __init__(self) -> None:
        super().__init__()
        self.cells: dict[tuple[int, str], str] = {}
        self._open: tuple[int, str] | None = None

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "td" and "data-step" in attributes:
            self._open = (int(attributes["data-step"]), attributes["data-field"])

    def handle_data(self, data):
        if self._open is not None:
            self.cells[self._open] = data
            self._open = None


def funnel_numbers(html: str) -> dict[tuple[int, str], int]:
    parser = FunnelCells()
    parser.feed(html)
    return {key: int(value.replace(",", "")) for key, value in parser.cells.items()}


def expected_numbers(stats: dict) -> dict[tuple[int, str], int]:
    expected = {}
    for i, step in enumerate(stats["steps"]):
        expected[(i, "documents_in")] = step["documents_in"]
        expected[(i, "kept")] = step["kept"]
        expected[(i, "dropped")] = sum(step["dropped"].values())
    return expected


def test_the_report_is_one_self_contained_file_whose_numbers_are_the_runs(run_dir):
    html = (run_dir / "report.html").read_text()
    stats = json.loads((run_dir / "stats.json").read_text())
    assert funnel_numbers(html) == expected_numbers(stats)
    # Nothing fetched: no scripts, styles or images by URL (the plots' own "#id" references stay inside).
    assert not re.search(r"""\b(?:src|href)\s*=\s*["'](?!#)""", html)
    assert html.count("<svg") >= 5  # funnel, reasons, languages, lengths, time
    # At this scale bars would tell nothing more: the domains (one document each) and the cluster sizes (one).
    assert html.count("<table class='small-chart'>") >= 3
    for heading in ("Funnel", "Why documents were dropped", "Languages", "Domains", "Document lengths",
                    "Deduplication", "Samples", "Time per step", "Bad input files"):  # fmt: skip
        assert f"<h2>{heading}</h2>" in html, heading
    assert "gopher_quality: short_doc" in html and "removed/gopher_quality/00000.jsonl.gz" in html


def test_the_report_in_a_headless_browser(run_dir, tmp_path):
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip("chromium is not installed (.ci/run installs it with apt)")
    page = (run_dir / "report.html").as_uri()
    flags = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--enable-logging=stderr"]
    shot = tmp_path / "report.png"
    taken = subprocess.run([*flags, "--window-size=1280,2400", f"--screenshot={shot}", page],
                           capture_output=True, text=True, timeout=120)  # fmt: skip
    assert shot.is_file(), taken.stderr[-2000:]
    assert "CONSOLE" not in taken.stderr, taken.stderr  # the page logged nothing: no errors
    from PIL import Image

    image = Image.open(shot).convert("RGB")
    colours = image.getcolors(maxcolors=1 << 20)
    assert len(colours) > 50  # text and plots, not a blank page
    assert max(count for count, _ in colours) < 0.97 * image.width * image.height
    dom = subprocess.run([*flags, "--dump-dom", page], capture_output=True, text=True, timeout=120).stdout
    assert funnel_numbers(dom) == expected_numbers(json.loads((run_dir / "stats.json").read_text()))


def test_report_command_rewrites_it_and_explains_a_wrong_folder(run_dir, tmp_path):
    (run_dir / "report.html").unlink()
    result = CliRunner().invoke(main, ["report", str(run_dir)])
    assert result.exit_code == 0 and (run_dir / "report.html").is_file()
    missing = CliRunner().invoke(main, ["report", str(tmp_path)])
    assert missing.exit_code == 1 and "no stats.json" in missing.output


def test_inspect_shows_dropped_and_kept_documents(run_dir):
    shown = CliRunner().invoke(main, ["inspect", str(run_dir), "--step", "gopher_quality", "--reason", "short_doc"])
    assert shown.exit_code == 0
    assert (
        "gopher_quality: short_doc" in shown.output and "harbourtown-gazette.com/notices/road-closure" in shown.output
    )
    assert "words " in shown.output and " < 50" in shown.output  # what gopher_quality measured, against what
    kept = CliRunner().invoke(main, ["inspect", str(run_dir), "--kept", "-n", "2"])
    assert kept.exit_code == 0 and kept.output.count("final: kept") == 2
    unknown = CliRunner().invoke(main, ["inspect", str(run_dir), "--step", "nope"])
    assert unknown.exit_code == 1 and "steps with some:" in unknown.output


def test_a_big_runs_report_reads_bounded_samples_and_stays_small(run_dir, tmp_path):
    big = tmp_path / "big"
    shutil.copytree(run_dir, big)
    stats = json.loads((big / "stats.json").read_text())
    for step in stats["steps"]:  # a run of 100,000 pages: counts scale, distributions stay bounded
        step["documents_in"] *= 5000
        step["kept"] *= 5000
        step["dropped"] = {reason: n * 5000 for reason, n in step["dropped"].items()}
    (big / "stats.json").write_text(json.dumps(stats))
    row = json.dumps(
        {"id": "x", "url": "https://e.com/", "text": "word " * 200, "metadata": {"drop_reason": "langid:language"}}
    )
    with gzip.open(big / "removed" / "langid" / "00002.jsonl.gz", "wt") as f:
        f.write((row + "\n") * 100_000)
    assert write_report(big).stat().st_size < 3_000_000


def test_languages_per_step_and_bytes_per_token_with_bounded_escaped_labels(run_dir, tmp_path):
    html = (run_dir / "report.html").read_text()
    stats = json.loads((run_dir / "stats.json").read_text())
    bytes_per_token = {s["step"]: s for s in stats["steps"]}["tokenize"]["summary"]["languages"]
    assert list(bytes_per_token) == ["en"]
    assert f"<td>{bytes_per_token['en']['bytes_per_token']:.3f}</td>" in html
    assert "<table id='languages-per-step'>" in html and "<th>en</th>" in html

    # Labels come from data (a Parquet `language` column): many, long and hostile ones stay bounded and inert.
    odd = tmp_path / "odd"
    shutil.copytree(run_dir, odd)
    labels = ["<script>alert(1)</script>" + "x" * 100] + [f"l{i:03d}" for i in range(40)]
    for step in stats["steps"]:
        if step["step"] in ("gopher_quality", "tokenize"):
            step["distributions"]["language_dropped"] = {label: 1000 - i for i, label in enumerate(labels)}
            step.setdefault("summary", {})["languages"] = {
                label: {"documents": 1000 - i, "bytes": 400, "tokens": 100, "bytes_per_token": 4.0}
                for i, label in enumerate(labels)
            }
    (odd / "stats.json").write_text(json.dumps(stats))
    page = write_report(odd).read_text()
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/scrip…</th>" in page
    assert "x" * 30 not in page  # clipped
    table = page[page.index("<table id='languages-per-step'>") :]
    table = table[: table.index("</table>")]
    assert table.count("<th>") == 1 + 8 + 1  # step, the most frequent languages, other
    assert "<td>other</td>" in page  # bytes per token: the rest summed


def test_a_report_on_hostile_urls_hosts_and_reasons_is_written_and_stays_small(run_dir, tmp_path):
    # Six 20 MB URLs and a 200,000-character host made a 136 MB report (nothing was clipped), and a host
    # that matplotlib read as math ($...$) ended the run without one.
    hostile = tmp_path / "hostile"
    shutil.copytree(run_dir, hostile)
    stats = json.loads((hostile / "stats.json").read_text())
    hosts = {"h" * 200_000 + ".example.com": 9, "a$^$b.example.com": 8, "$\\foo$.example.com": 7}
    for step in stats["steps"]:
        for name in ("domain_kept", "domain_dropped"):
            if name in step.get("distributions", {}):
                step["distributions"][name].update(hosts)
        if step["step"] == "langid":
            step["dropped"]["$x$ " + "r" * 100_000] = 1
    stats["bad_files"] = ["/" + "d" * 100_000 + ".warc.gz: EOFError: cut short"] * 1000
    (hostile / "stats.json").write_text(json.dumps(stats))
    with gzip.open(hostile / "removed" / "langid" / "00003.jsonl.gz", "wt") as f:
        for i in range(6):
            url = "https://e.com/" + "u" * 2_000_000
            row = {"id": str(i), "url": url, "text": "word " * 200, "metadata": {"drop_reason": f"langid:r{i}" * 9999}}
            f.write(json.dumps(row) + "\n")
    page = write_report(hostile)
    size = page.stat().st_size
    assert size < (run_dir / "report.html").stat().st_size + 500_000, size
    html = page.read_text()
    assert html.count("<svg") >= 6 and "<h2>Bad input files</h2>" in html
    assert "https://e.com/" + "u" * 200 in html and "u" * 300 not in html  # sample URLs are clipped


def test_inspect_prints_escape_sequences_from_documents_as_text(tmp_path):
    # A page's text, URL and reason reached the terminal raw: OSC 0 set its title, OSC 52 its clipboard,
    # OSC 8 made links, DCS and C1 CSI sent commands, \r and \b rewrote what was shown.
    import os
    import sys

    hostile = "\x1b]0;owned\x07 \x1b]52;c;ZWNobyBvd25lZA==\x07 \x1b]8;;https://evil.example\x1b\\link\x1b]8;;\x1b\\ "
    hostile += "\x1bP+q544e\x1b\\ \x9b2J \rover\bwritten\x00 \u202eright-to-left"
    row = {
        "id": "x",
        "url": "https://e.com/\x1b]0;url\x07" + "u" * 1_000_000,
        "text": "First line.\n\tIndented " + hostile,
        "metadata": {"drop_reason": "langid:\x1b[31mred"},
    }
    (tmp_path / "removed" / "langid").mkdir(parents=True)
    with gzip.open(tmp_path / "removed" / "langid" / "00000.jsonl.gz", "wt") as f:
        f.write(json.dumps(row) + "\n")
    shown = subprocess.run(
        [sys.executable, "-m", "webcorpus.cli", "inspect", str(tmp_path)],
        capture_output=True, text=True, env={**os.environ, "PAGER": "cat"}, timeout=120,
    )  # fmt: skip
    assert shown.returncode == 0, shown.stderr
    out = shown.stdout
    for raw in ("\x1b", "\x07", "\x9b", "\r", "\b", "\x00", "\u202e"):
        assert raw not in out, repr(raw)
    assert "\\x1b]0;owned\\x07" in out and "\\x9b2J" in out and "\\x1b[31mred" in out
    assert "First line.\n\tIndented" in out  # a document's own newlines and tabs stay
    assert len(out) < 10_000  # the megabyte URL is clipped

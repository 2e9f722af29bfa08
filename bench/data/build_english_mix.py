#!/usr/bin/env python3
"""Build the English-heavy benchmark WARCs (bench/data/english/) from public pages and the shared dev WARCs.

usage:
  build_english_mix.py --mirrors DIR                 # write english-00000/00001.warc.gz from sources.tsv
  build_english_mix.py --mirrors DIR --select        # first choose the pages and write sources.tsv

The mix (issue 35): real pages kept as test fixtures in three public GitHub repositories (read out of bare
git mirrors laid out as DIR/owner+name/repo, what the tool library's `fetch` makes) plus pages taken from the
shared development WARCs (../shared/data/warc/dev-0000[01].warc.gz next to this checkout): all their English
pages and a deterministic subset of the others, so that a little over half the pages are English by lid.176
on trafilatura's text, as in CommonCrawl's English-heavy share (about 45% English there).

`--select` reads the three repositories at their HEAD and the dev WARCs, leaves out synthetic test pages
(Lorem ipsum, tiny snippets), pages byte-identical to a dev WARC page and pages whose URL a dev WARC page
already has, labels every page's language (trafilatura `favor_precision=True`, no deduplication, then
lid.176's top label on the first 20,000 characters) and writes sources.tsv. Without `--select` the script only
reads sources.tsv: repository pages at the recorded commit (written by `build_multilingual_devset.write_warc`,
so their records look like the multilingual dev set's), dev WARC pages copied record by record, byte for
byte (request, response, metadata: original URL, headers and body). The output is the same byte for byte on
every rebuild; each page's SHA-1 is checked against sources.tsv.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import hashlib
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from build_multilingual_devset import _record_id, _warc_date, write_warc  # this folder's neighbour
from warcio.archiveiterator import ArchiveIterator
from warcio.warcwriter import WARCWriter

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
OUT_DIR = HERE / "english"
SOURCES = OUT_DIR / "sources.tsv"
DEV_DIR = REPO.parent / "shared" / "data" / "warc"
DEV_WARCS = ("dev-00000.warc.gz", "dev-00001.warc.gz")
OUTPUTS = ("english-00000.warc.gz", "english-00001.warc.gz")
COLUMNS = (
    "id source repo path commit license url url_made_up url_from charset lang lang_prob text_chars bytes sha1 warc"
).split()
# The dev WARCs' pages are trafilatura's evaluation pages (../shared/data/README.md).
DEV_REPO, DEV_COMMIT, DEV_LICENSE = "adbar/trafilatura", "e90b0ef5", "Apache-2.0"
REPOS = {  # source -> (repository, licence)
    "zyte": ("scrapinghub/article-extraction-benchmark", "MIT"),
    "readability": ("mozilla/readability", "Apache-2.0"),
    "gotraf": ("markusmobius/go-trafilatura", "Apache-2.0"),
}
LOREM = re.compile(rb"lorem\W+ipsum|consectetur\s+adipisi", re.I)  # readability's synthetic test pages
ENGLISH_SHARE = 0.55  # --select takes as many non-English dev pages as brings the English share nearest this


def git(mirror: Path, *args: str) -> bytes:
    return subprocess.run(["git", "--git-dir", str(mirror), *args], capture_output=True, check=True).stdout


def mirror_of(mirrors: Path, repo: str) -> Path:
    path = mirrors / repo.replace("/", "+") / "repo"
    if not path.exists():
        sys.exit(f"no mirror of {repo} at {path} (fetch github:{repo} first)")
    return path


def repo_page(mirror: Path, commit: str, path: str) -> bytes:
    """A page's bytes at `commit` (the article-extraction benchmark keeps its pages gzipped)."""
    blob = git(mirror, "show", f"{commit}:{path}")
    return gzip.decompress(blob) if path.endswith(".gz") else blob


def dev_records(name: str) -> dict[str, dict]:
    """Response record id -> {url, raw (the page's request + response + metadata gzip members, in file order),
    body, charset} for one dev WARC."""
    path = DEV_DIR / name
    if not path.exists():
        sys.exit(
            f"{path} is absent: the English mix takes part of its pages from the shared dev WARCs "
            "(../shared/data/warc/dev-00000.warc.gz and dev-00001.warc.gz next to this checkout)"
        )
    data = path.read_bytes()
    offsets, records = [], []
    with open(path, "rb") as f:
        it = ArchiveIterator(f)
        for record in it:
            offsets.append(it.offset)
            headers = record.rec_headers
            body = record.content_stream().read() if record.rec_type == "response" else b""
            ctype = record.http_headers.get_header("Content-Type", "") if record.http_headers else ""
            records.append(
                (
                    record.rec_type,
                    headers.get_header("WARC-Record-ID"),
                    headers.get_header("WARC-Concurrent-To"),
                    headers.get_header("WARC-Target-URI"),
                    body,
                    ctype,
                )
            )
    offsets.append(len(data))
    pages: dict[str, dict] = {}
    for i, (kind, rid, concurrent, url, body, ctype) in enumerate(records):
        raw = data[offsets[i] : offsets[i + 1]]
        if kind == "warcinfo":
            continue
        key = rid if kind == "response" else concurrent
        page = pages.setdefault(key, {"raw": b""})
        page["raw"] += raw
        if kind == "response":
            match = re.search(r"charset=([\w.:-]+)", ctype, re.I)
            page.update(url=url, body=body, charset=match.group(1).lower() if match else "")
    return pages


def sniff_charset(html: bytes) -> str:
    """The encoding the bytes really decode in: UTF-8 if they are valid UTF-8, else the `<meta>` charset if
    it decodes them, else windows-1252."""
    try:
        html.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError:
        pass
    match = re.search(rb"""charset\s*=\s*["']?([\w.:-]+)""", html[:8192], re.I)
    if match:
        name = match.group(1).decode("ascii").lower()
        try:
            html.decode(name)
            return name
        except (LookupError, UnicodeDecodeError):
            pass
    return "windows-1252"


def page_url(html: bytes) -> str:
    """The page's own absolute og:url or canonical link, if it has one."""
    head = html[:65536].decode("utf-8", "replace")
    for pattern in (
        r"""<meta[^>]+property=["']og:url["'][^>]+content=["'](https?://[^"'\s]+)""",
        r"""<meta[^>]+content=["'](https?://[^"'\s]+)["'][^>]+property=["']og:url""",
        r"""<link[^>]+rel=["']canonical["'][^>]+href=["'](https?://[^"'\s]+)""",
        r"""<link[^>]+href=["'](https?://[^"'\s]+)["'][^>]+rel=["']canonical""",
    ):
        match = re.search(pattern, head, re.I)
        if match:
            return match.group(1).replace("&amp;", "&")
    return ""


class Labeller:
    """lid.176's top label on trafilatura's text, as bench/data/multilingual/README.md labels its pages."""

    def __init__(self) -> None:
        from webcorpus.stages.langid import load_language_model

        self.model = load_language_model()

    def __call__(self, html: bytes) -> tuple[str, str, int, str]:
        """Language, its probability, the text's length and the text's SHA-1."""
        import trafilatura

        text = trafilatura.extract(html, favor_precision=True, include_comments=False, deduplicate=False) or ""
        if not text:
            return "none", "0.00", 0, ""
        labels, probs = self.model.predict(text.replace("\n", " ")[:20000])
        digest = hashlib.sha1(text.encode()).hexdigest()
        return labels[0].removeprefix("__label__"), f"{probs[0]:.2f}", len(text), digest


def candidates(mirrors: Path, dev_bodies: set[str], dev_urls: set[str]) -> tuple[list[dict], list[str]]:
    """Every usable repository page as a sources row (language still to label), and what was left out."""
    rows, left_out = [], []
    for source, (repo, license_) in REPOS.items():
        mirror = mirror_of(mirrors, repo)
        commit = git(mirror, "rev-parse", "HEAD").decode().strip()
        names = git(mirror, "ls-tree", "-r", "-z", "--name-only", commit).decode().split("\0")
        urls: dict[str, str] = {}
        if source == "zyte":
            truth = json.loads(git(mirror, "show", f"{commit}:ground-truth.json"))
            urls = {f"html/{key}.html.gz": value["url"] for key, value in truth.items()}
            names = [n for n in names if n.startswith("html/") and n.endswith(".html.gz")]
        elif source == "readability":
            names = [n for n in names if n.startswith("test/test-pages/") and n.endswith("/source.html")]
        else:
            data = git(mirror, "show", f"{commit}:scripts/comparison/data.go").decode()
            urls = {
                f"test-files/comparison/{m.group(2)}": m.group(1)
                for m in re.finditer(r'^\t"([^"]+)": \{\s*File:\s*"([^"]+)"', data, re.M)
            }
            names = [n for n in names if n.startswith("test-files/comparison/") and n.endswith(".html")]
        for path in sorted(names):
            html = repo_page(mirror, commit, path)
            sha1 = hashlib.sha1(html).hexdigest()
            if sha1 in dev_bodies:
                left_out.append(f"{source}\t{path}\tsame bytes as a dev WARC page")
                continue
            if source == "readability" and (LOREM.search(html) or len(html) < 5000):
                why = "Lorem ipsum" if LOREM.search(html) else "a hand-written snippet under 5,000 bytes"
                left_out.append(f"{source}\t{path}\tsynthetic test page ({why})")
                continue
            if source == "gotraf" and f"hard::{path.split('/')[-1]}" in dev_urls:
                left_out.append(f"{source}\t{path}\tanother copy of a dev WARC page (its URL there: hard::FILE)")
                continue
            url, made_up, url_from = urls.get(path, ""), "no", "ground-truth.json" if source == "zyte" else "data.go"
            if not url:
                url, url_from = page_url(html), "page og:url/canonical"
            if not url:
                folder = path.split("/")[-2] if source == "readability" else Path(path).stem
                url = f"https://{source}.example/english-mix/{re.sub(r'[^A-Za-z0-9._-]+', '-', folder)}"
                made_up, url_from = "yes", "made up"
            rows.append(
                {
                    "id": f"{source}-{sha1[:12]}",
                    "source": source,
                    "repo": repo,
                    "path": path,
                    "commit": commit,
                    "license": license_,
                    "url": url,
                    "url_made_up": made_up,
                    "url_from": url_from,
                    "charset": sniff_charset(html),
                    "bytes": str(len(html)),
                    "sha1": sha1,
                    "html": html,
                }
            )
    return rows, left_out


def select(mirrors: Path) -> None:
    """Choose the pages, label their languages and write sources.tsv (and left-out.tsv)."""
    label = Labeller()
    dev, dev_texts = [], set()
    for name in DEV_WARCS:
        for rid, page in dev_records(name).items():
            sha1 = hashlib.sha1(page["body"]).hexdigest()
            lang, prob, chars, text = label(page["body"])
            dev_texts.add(text)
            dev.append(
                {
                    "id": f"dev-{sha1[:12]}",
                    "source": "dev",
                    "repo": DEV_REPO,
                    "path": f"{name}#{rid}",
                    "commit": DEV_COMMIT,
                    "license": DEV_LICENSE,
                    "url": page["url"],
                    "url_made_up": "no",
                    "url_from": "dev WARC",
                    "charset": page["charset"],
                    "lang": lang,
                    "lang_prob": prob,
                    "text_chars": str(chars),
                    "bytes": str(len(page["body"])),
                    "sha1": sha1,
                }
            )
    dev_urls = {row["url"] for row in dev}
    repo_rows, left_out = candidates(mirrors, {row["sha1"] for row in dev}, dev_urls)
    seen_urls: set[str] = set()
    new = []
    for row in repo_rows:
        if row["url"] in dev_urls or row["url"] in seen_urls:
            left_out.append(f"{row['source']}\t{row['path']}\tURL already taken: {row['url']}")
            continue
        seen_urls.add(row["url"])
        row["lang"], row["lang_prob"], chars, text = label(row.pop("html"))
        if text and text in dev_texts:
            left_out.append(f"{row['source']}\t{row['path']}\tthe same trafilatura text as a page already taken")
            continue
        dev_texts.add(text)
        row["text_chars"] = str(chars)
        new.append(row)
    english = [r for r in new + dev if r["lang"] == "en"]
    others_new = [r for r in new if r["lang"] != "en"]
    others_dev = sorted((r for r in dev if r["lang"] != "en"), key=lambda r: hashlib.sha1(r["url"].encode()).digest())
    fixed = len(english) + len(others_new)
    take = max(0, min(len(others_dev), round(len(english) / ENGLISH_SHARE) - fixed))
    chosen = english + others_new + others_dev[:take]
    # a fixed shuffle (by id), then a cut where the pages' bytes reach half: two files of about the same size
    chosen.sort(key=lambda r: hashlib.sha1(r["id"].encode()).digest())
    half, total = sum(int(r["bytes"]) for r in chosen) / 2, 0
    for row in chosen:
        row["warc"] = OUTPUTS[0] if total < half else OUTPUTS[1]
        total += int(row["bytes"])
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    with open(SOURCES, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, COLUMNS, delimiter="\t", lineterminator="\n", extrasaction="ignore")
        writer.writeheader()
        writer.writerows(chosen)
    (OUT_DIR / "left-out.tsv").write_text(
        "source\tpath\twhy\n" + "".join(line + "\n" for line in left_out), encoding="utf-8"
    )
    share = sum(r["lang"] == "en" for r in chosen) / len(chosen)
    print(
        f"{len(chosen)} pages ({len(new)} from repositories, {len(chosen) - len(new)} from the dev WARCs), "
        f"English {share:.1%}; {len(left_out)} left out -> {SOURCES}",
        file=sys.stderr,
    )


def build(mirrors: Path) -> None:
    """Write the two WARCs from sources.tsv."""
    with open(SOURCES, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    dev = {}
    for name in DEV_WARCS:
        dev.update({f"{name}#{rid}": page for rid, page in dev_records(name).items()})
    raw: dict[str, bytes] = {}
    with tempfile.TemporaryDirectory() as tmp:
        pages = Path(tmp)
        repo_rows = [row for row in rows if row["source"] != "dev"]
        for row in repo_rows:
            html = repo_page(mirror_of(mirrors, row["repo"]), row["commit"], row["path"])
            if hashlib.sha1(html).hexdigest() != row["sha1"]:
                sys.exit(f"{row['id']}: {row['repo']}@{row['commit'][:12]}:{row['path']} is not the recorded page")
            row["file"] = f"{row['id']}.html"
            (pages / row["file"]).write_bytes(html)
        # the multilingual dev set's writer makes each repository page's request + response records
        write_warc(repo_rows, pages, pages / "repo.warc.gz")
        data = (pages / "repo.warc.gz").read_bytes()
        with open(pages / "repo.warc.gz", "rb") as f:
            it = ArchiveIterator(f)
            marks = [(it.offset, record.rec_type) for record in it] + [(len(data), "")]
        for i, (offset, _kind) in enumerate(marks[1:-1], start=1):  # after warcinfo: request, response per row
            row = repo_rows[(i - 1) // 2]
            raw[row["id"]] = raw.get(row["id"], b"") + data[offset : marks[i + 1][0]]
    for row in rows:
        if row["source"] == "dev":
            page = dev.get(row["path"])
            if page is None or hashlib.sha1(page["body"]).hexdigest() != row["sha1"]:
                sys.exit(f"{row['id']}: {row['path']} is not in the dev WARCs as recorded")
            raw[row["id"]] = page["raw"]
    for name in OUTPUTS:
        chosen = [row for row in rows if row["warc"] == name]
        with open(OUT_DIR / name, "wb") as out:
            writer = WARCWriter(out, gzip=True)
            info = {
                "software": "webcorpus bench/data/build_english_mix.py (warcio)",
                "format": "WARC File Format 1.0",
                "description": "webcorpus English-heavy benchmark mix: real pages from public GitHub repositories "
                "and from the shared dev WARCs (see bench/data/english/README.md); for benchmarks only",
                "isPartOf": "webcorpus-english-mix",
            }
            warcinfo = writer.create_warcinfo_record(name, info)
            warcinfo.rec_headers.replace_header("WARC-Record-ID", _record_id("warcinfo", name))
            warcinfo.rec_headers.replace_header("WARC-Date", _warc_date(0))
            writer.write_record(warcinfo)
            for row in chosen:
                out.write(raw[row["id"]])
        english = sum(row["lang"] == "en" for row in chosen)
        print(
            f"{len(chosen)} pages ({english} English) -> {OUT_DIR / name} ({(OUT_DIR / name).stat().st_size:,} bytes)",
            file=sys.stderr,
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mirrors", type=Path, required=True, help="bare git mirrors, laid out as DIR/owner+name/repo")
    parser.add_argument("--select", action="store_true", help="choose the pages and rewrite sources.tsv first")
    args = parser.parse_args(argv)
    if args.select:
        select(args.mirrors)
    build(args.mirrors)
    return 0


if __name__ == "__main__":
    sys.exit(main())

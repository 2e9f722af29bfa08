#!/usr/bin/env python3
"""Build the multilingual development WARC from a folder of HTML pages and a sources TSV.

usage:
  build_multilingual_devset.py --pages DIR [--sources TSV] [--output WARC] [--ids ja-07,zh-10,...]
  build_multilingual_devset.py --pages DIR --fetch-from MIRRORS   # first copy the pages out of bare git mirrors

The TSV (bench/data/multilingual/sources.tsv) has one row per page: id, lang, kind, file, url, url_made_up,
charset, repo, path, commit, license, bytes, text_chars, lid. Every page is written as CommonCrawl writes a
fetch: a `request` record and a `response` record (HTTP/1.1 200, `Content-Type: text/html; charset=...`, the
page's original bytes as the body), after one `warcinfo` record. Record ids and dates are derived from the
row, so the same inputs give the same WARC byte for byte.

`--fetch-from MIRRORS` fills DIR from bare git mirrors laid out as MIRRORS/owner+name/repo (what the tool
library's `fetch` makes), reading each page at the commit the TSV names: `git show COMMIT:PATH`.
"""

from __future__ import annotations

import argparse
import csv
import subprocess
import sys
import uuid
from datetime import datetime, timedelta, timezone
from io import BytesIO
from pathlib import Path
from urllib.parse import quote

from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

HERE = Path(__file__).resolve().parent
DEFAULT_SOURCES = HERE / "multilingual" / "sources.tsv"
DEFAULT_OUTPUT = HERE / "multilingual" / "multilingual-00000.warc.gz"
CRAWL_START = datetime(2025, 1, 6, tzinfo=timezone.utc)  # a fixed, made-up fetch time; one second per page
USER_AGENT = "CCBot/2.0 (https://commoncrawl.org/faq/)"


def read_sources(path: Path) -> list[dict[str, str]]:
    """The sources TSV as a list of rows (column name -> value)."""
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f, delimiter="\t"))


def fetch_pages(rows: list[dict[str, str]], mirrors: Path, pages: Path) -> None:
    """Copy each row's page out of its bare mirror at the recorded commit into `pages`/FILE."""
    pages.mkdir(parents=True, exist_ok=True)
    for row in rows:
        repo = mirrors / row["repo"].replace("/", "+") / "repo"
        blob = subprocess.run(
            ["git", "-C", str(repo), "show", f"{row['commit']}:{row['path']}"], capture_output=True, check=True
        ).stdout
        (pages / row["file"]).write_bytes(blob)


def as_uri(url: str) -> str:
    """A URL with non-ASCII characters percent-encoded as UTF-8 (an IRI as a WARC-Target-URI); idempotent."""
    return quote(url, safe=":/?#[]@!$&'()*+,;=%~")


def _record_id(*parts: str) -> str:
    return f"<urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, '|'.join(parts))}>"


def _warc_date(index: int) -> str:
    return (CRAWL_START + timedelta(seconds=index)).strftime("%Y-%m-%dT%H:%M:%SZ")


def _http_date(index: int) -> str:
    return (CRAWL_START + timedelta(seconds=index)).strftime("%a, %d %b %Y %H:%M:%S GMT")


def write_warc(rows: list[dict[str, str]], pages: Path, output: Path) -> int:
    """Write warcinfo + request/response per row into `output` (gzip per record). Returns the page count."""
    output.parent.mkdir(parents=True, exist_ok=True)
    with open(output, "wb") as out:
        writer = WARCWriter(out, gzip=True)
        info = {
            "software": "webcorpus bench/data/build_multilingual_devset.py (warcio)",
            "format": "WARC File Format 1.0",
            "description": "webcorpus multilingual dev set: real pages from public GitHub repositories "
            "(see bench/data/multilingual/README.md); fetch dates and request headers are made up",
            "isPartOf": "webcorpus-multilingual-devset",
        }
        warcinfo = writer.create_warcinfo_record(output.name, info)
        warcinfo.rec_headers.replace_header("WARC-Record-ID", _record_id("warcinfo", output.name))
        warcinfo.rec_headers.replace_header("WARC-Date", _warc_date(0))
        writer.write_record(warcinfo)
        for index, row in enumerate(rows, start=1):
            body = (pages / row["file"]).read_bytes()
            url = as_uri(row["url"])
            host = url.split("/")[2]
            path = "/" + url.split("/", 3)[3] if url.count("/") >= 3 else "/"
            date = _warc_date(index)
            response_id = _record_id("response", url, row["id"])
            request_id = _record_id("request", url, row["id"])
            request_headers = StatusAndHeaders(
                f"GET {path.split('#')[0]} HTTP/1.1",
                [("User-Agent", USER_AGENT), ("Accept", "text/html,application/xhtml+xml,*/*;q=0.8"), ("Host", host)],
                is_http_request=True,
            )
            request = writer.create_warc_record(
                url,
                "request",
                http_headers=request_headers,
                warc_headers_dict={"WARC-Record-ID": request_id, "WARC-Date": date, "WARC-Concurrent-To": response_id},
            )
            response_headers = StatusAndHeaders(
                "200 OK",
                [
                    ("Date", _http_date(index)),
                    ("Content-Type", f"text/html; charset={row['charset']}"),
                    ("Content-Length", str(len(body))),
                    ("X-Devset-Source", f"{row['repo']}@{row['commit'][:12]}:{row['path']}"),
                ],
                protocol="HTTP/1.1",
            )
            response = writer.create_warc_record(
                url,
                "response",
                payload=BytesIO(body),
                length=len(body),
                http_headers=response_headers,
                warc_headers_dict={
                    "WARC-Record-ID": response_id,
                    "WARC-Date": date,
                    "WARC-Identified-Payload-Type": "text/html",
                },
            )
            writer.write_record(request)
            writer.write_record(response)
    return len(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=Path, required=True, help="folder holding the pages named in the TSV")
    parser.add_argument("--sources", type=Path, default=DEFAULT_SOURCES)
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    parser.add_argument("--ids", default="", help="comma-separated page ids to include (default: all)")
    parser.add_argument("--fetch-from", type=Path, help="bare mirrors folder to copy the pages from first")
    args = parser.parse_args(argv)
    rows = read_sources(args.sources)
    if args.ids:
        wanted = args.ids.split(",")
        by_id = {row["id"]: row for row in rows}
        missing = [i for i in wanted if i not in by_id]
        if missing:
            parser.error(f"unknown ids: {', '.join(missing)}")
        rows = [by_id[i] for i in wanted]
    if args.fetch_from:
        fetch_pages(rows, args.fetch_from, args.pages)
    count = write_warc(rows, args.pages, args.output)
    print(f"{count} pages -> {args.output} ({args.output.stat().st_size:,} bytes)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""trafilatura with FineWeb's settings, as installed against with our Python selectors, on the same pages.

    python bench/data/extract_speed.py [--input dev|english] [--rounds 2] [WARC ...]

Reads the HTML responses of the WARCs, then extracts every page with `extract`'s settings (favor_precision,
no comments, tables, deduplicate; trafilatura's paragraph memory cleared before each pass), one process,
the two ways taking turns --rounds times: plain trafilatura, then with webcorpus/stages/trafilatura_xpath.py
installed. Prints CPU ms per page for each pass and the ratio, and checks that every page's text is the same
byte for byte. Inputs as in bench/data/pipeline.py.
"""

from __future__ import annotations

import argparse
import glob
import sys
import time

import trafilatura
from pipeline import INPUTS  # this folder's neighbour (run as a script, its folder is on the path)
from trafilatura.deduplication import LRU_TEST
from warcio.archiveiterator import ArchiveIterator

from webcorpus.stages import trafilatura_xpath
from webcorpus.stages.extract import TrafilaturaExtractor


def html_pages(warcs: list[str]) -> list[str]:
    pages = []
    for warc in warcs:
        with open(warc, "rb") as stream:
            for record in ArchiveIterator(stream):
                if record.rec_type == "response":
                    pages.append(record.content_stream().read().decode("utf-8", "replace"))
    return pages


def extract_all(pages: list[str], settings: dict) -> tuple[float, list[str | None]]:
    LRU_TEST.clear()
    start = time.process_time()
    texts = [trafilatura.extract(page, **settings) for page in pages]
    return time.process_time() - start, texts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("warcs", nargs="*", help="WARC files (default: the --input set)")
    parser.add_argument("--input", choices=sorted(INPUTS), default="dev")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    warcs = args.warcs or sorted(glob.glob(INPUTS[args.input]))
    if not warcs:
        sys.exit(f"no input: {INPUTS[args.input]} matches nothing; or pass WARC files")
    pages = html_pages(warcs)
    settings = TrafilaturaExtractor().settings
    print(f"{len(pages)} pages from {len(warcs)} files, trafilatura {trafilatura.__version__}")
    texts: dict[str, list[str | None]] = {}
    for round_number in range(1, args.rounds + 1):
        seconds = {}
        for name in ("trafilatura", "python selectors"):
            if name == "trafilatura":
                trafilatura_xpath.uninstall()
            else:
                trafilatura_xpath.install()
            seconds[name], texts[name] = extract_all(pages, settings)
        plain, fast = seconds["trafilatura"], seconds["python selectors"]
        print(
            f"round {round_number}: trafilatura {1000 * plain / len(pages):.2f} CPU ms/page, with python selectors "
            f"{1000 * fast / len(pages):.2f}; {plain / fast:.2f}x"
        )
    differing = sum(a != b for a, b in zip(texts["trafilatura"], texts["python selectors"]))
    print(f"pages whose text differs: {differing} of {len(pages)}")


if __name__ == "__main__":
    main()

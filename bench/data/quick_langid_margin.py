"""How close quick_langid comes to dropping a page that langid would keep, on real pages.

    python bench/data/quick_langid_margin.py [--languages en] [WARC ...]

Reads the pages (read_warc, url_filter), extracts every one with FineWeb's settings and runs langid on the
text: the pages the exact path keeps at language ID. For every page it also finds quick_langid's best
stretch (the highest score of a listed language on top, over the stretches of its visible text) and the
whole visible text's score. Prints the lowest best-stretch scores among the pages langid keeps, how many
pages each threshold would drop before extraction and how many of those langid keeps, and the pages langid
keeps whose whole visible text scores under 0.1 (why quick_langid looks at stretches).
"""

from __future__ import annotations

import argparse
import glob
from pathlib import Path

from webcorpus.document import Document
from webcorpus.stages.extract import TrafilaturaExtractor
from webcorpus.stages.langid import LanguageFilter
from webcorpus.stages.quick_langid import QuickLanguageFilter, text_stretches
from webcorpus.stages.read_warc import WarcReader
from webcorpus.stages.url_filter import UrlFilter

REPO = Path(__file__).resolve().parents[2]
THRESHOLDS = (0.1, 0.3, 0.5, 0.7, 0.8, 0.9)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "warcs", nargs="*", default=sorted(glob.glob(str(REPO.parent / "shared/data/warc/dev-*.warc.gz")))
    )
    parser.add_argument("--languages", default="en")
    args = parser.parse_args()
    languages = args.languages.split(",")
    labels = {f"__label__{code}" for code in languages}
    reader, urls, extractor = WarcReader(), UrlFilter(), TrafilaturaExtractor()
    langid = LanguageFilter(languages=languages)
    quick = QuickLanguageFilter(languages=languages)
    pages = []  # (kept by langid, best stretch score, whole visible text's score, url)
    for warc in args.warcs:
        extractor.start_task()
        for page in reader.read(warc):
            if urls.filter(page):
                continue
            extracted = Document(page.id, page.url, page.text, dict(page.metadata))
            kept = extractor.filter(extracted) is None and langid.filter(extracted) is None
            best, stretches = 0.0, list(text_stretches(page.text, quick.window_characters))
            for stretch in stretches:
                top, score = quick.model.predict(stretch, k=1)
                if top and top[0] in labels:
                    best = max(best, float(score[0]))
            whole = dict(zip(*quick.model.predict(" ".join(stretches), k=-1, threshold=0.0)))
            pages.append((kept, best if stretches else 1.0, max(float(whole.get(x, 0.0)) for x in labels), page.url))
    kept = [p for p in pages if p[0]]
    print(f"{len(pages)} pages, {len(kept)} kept by langid ({', '.join(languages)})")
    print(
        "lowest best-stretch scores among them:", ", ".join(f"{p[1]:.3f}" for p in sorted(kept, key=lambda p: p[1])[:5])
    )
    print(f"{'threshold':>10}{'dropped before extraction':>28}{'of them kept by langid':>25}")
    for threshold in THRESHOLDS:
        dropped = [p for p in pages if p[1] < threshold]
        print(f"{threshold:>10}{len(dropped):>28}{sum(p[0] for p in dropped):>25}")
    for _, best, whole, url in sorted((p for p in kept if p[2] < 0.1), key=lambda p: p[2]):
        print(f"kept by langid, whole visible text scores {whole:.3f}, best stretch {best:.3f}: {url}")


if __name__ == "__main__":
    main()

"""Runs datatrove's four FineWeb quality filters over documents; executed inside datatrove's own venv.

    python datatrove_quality_side.py DOCS.jsonl OUT.json

Each filter sees every input document (not chained), so decisions compare one to one. Writes, per
filter, each document's decision and reason plus the total time. Part of bench/data/quality_vs_datatrove.py.
"""

import json
import sys
import time

from datatrove.data import Document
from datatrove.pipeline.filters import (
    C4QualityFilter,
    FineWebQualityFilter,
    GopherQualityFilter,
    GopherRepetitionFilter,
)

FILTERS = {
    "gopher_repetition": GopherRepetitionFilter,
    "gopher_quality": GopherQualityFilter,
    "c4": lambda: C4QualityFilter(filter_no_terminal_punct=False),  # FineWeb's setting
    "fineweb_quality": FineWebQualityFilter,
}


def main() -> None:
    rows = [json.loads(line) for line in open(sys.argv[1], encoding="utf-8")]
    results = {}
    for name, make in FILTERS.items():
        step = make()
        decisions = []
        texts = []
        start = time.perf_counter()
        for row in rows:
            doc = Document(text=row["text"], id=row["id"], metadata={})
            verdict = step.filter(doc)
            keep, reason = (verdict, None) if isinstance(verdict, bool) else verdict
            decisions.append(None if keep else reason)
            texts.append(doc.text)
        elapsed = time.perf_counter() - start
        results[name] = {"seconds": elapsed, "reasons": decisions, "texts": texts}
    # FineWeb's order, chained: what survives all four.
    chained = []
    steps = [make() for make in FILTERS.values()]
    start = time.perf_counter()
    for row in rows:
        doc = Document(text=row["text"], id=row["id"], metadata={})
        for step in steps:
            verdict = step.filter(doc)
            if not (verdict if isinstance(verdict, bool) else verdict[0]):
                break
        else:
            chained.append(row["id"])
    results["chained"] = {"seconds": time.perf_counter() - start, "kept": chained}
    json.dump(results, open(sys.argv[2], "w", encoding="utf-8"))


if __name__ == "__main__":
    main()

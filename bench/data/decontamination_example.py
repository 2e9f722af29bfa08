"""A worked example of `decontaminate` on the dev WARCs, against two benchmarks built offline here.

    python bench/data/decontamination_example.py [--work .abl/decont] [-w 2] [WARC ...]

1. WORK/extracted: the WARCs through read_warc, extract and langid (every language, FineWeb-2's thresholds),
   write_parquet, with -w workers.
2. Two benchmarks: WORK/quotes.jsonl, one long line from each of up to 5 pages per language of that corpus
   (60 at most, the middle line of the page's lines of at least 150 characters, 60 in CJK and Thai), as
   {"question": LINE, "source": URL}: every page they come from must be found. WORK/pydoc.txt: the
   paragraphs of 20 words or more of Python's own documentation as CPython ships it
   (`pydoc_data.topics.topics`, PSF License, nothing downloaded), one per line: text no page should share,
   unless it quotes Python's documentation.
3. WORK/decontaminated: read_parquet, decontaminate (both benchmarks), write_parquet, on ONE worker, so the
   step's seconds in stats.json are one core's. Then the same step in this process, timed apart: building
   the indexes (per word scheme the corpus needs), then filtering every document.

4. Words or characters for CJK: two Japanese and two Chinese questions glued into a page of
   tests/multilingual_articles.py with no punctuation around them; how many of each question's n-grams of 13
   words (the step's) and of 13 characters are found in the page.

Every phase is reused by a rerun (delete WORK to start again).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
WARCS = [str(p) for p in sorted((REPO.parent / "shared" / "data" / "warc").glob("dev-*.warc.gz"))]
SEGMENTED = ("ja", "zh", "ko", "th")
QUESTIONS = {
    "ja": [
        "次のうち、光合成を行うときに植物が主に吸収する気体はどれですか。二酸化炭素、酸素、窒素、水素の中から選びなさい。",
        "江戸幕府を開いた人物は誰か。徳川家康、織田信長、豊臣秀吉、足利尊氏の中から一つ選びなさい。",
    ],
    "zh": [
        "下列哪一种气体是植物进行光合作用时主要吸收的？请从二氧化碳、氧气、氮气和氢气中选择一个正确答案。",
        "一个长方形的长是十二厘米，宽是五厘米，它的面积是多少平方厘米？",
    ],
}
GLUE = {"ja": ("今日の問題は", "だそうです"), "zh": ("今天的题目是", "吗老师说")}


def run(config: Path) -> None:
    subprocess.run([sys.executable, "-m", "webcorpus.cli", "run", str(config), "--no-progress"], check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("warcs", nargs="*", default=WARCS)
    parser.add_argument("--work", type=Path, default=Path(".abl/decont"))
    parser.add_argument("-w", "--workers", type=int, default=2)
    args = parser.parse_args()
    work = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)

    extract = work / "extract.yaml"
    extract.write_text(
        f"input: {json.dumps(args.warcs)}\noutput: {work / 'extracted'}\nworkers: {args.workers}\nsteps:\n"
        "  - read_warc\n  - extract: {favor_precision: true, timeout: 5.0}\n"
        "  - langid: {languages: [], language_thresholds: fineweb2}\n  - write_parquet\n"
    )
    run(extract)

    from pydoc_data.topics import topics

    from webcorpus.parquet import read_documents
    from webcorpus.stages.decontaminate import Decontaminate

    documents = list(read_documents(work / "extracted" / "data"))
    quotes, per_language = [], Counter()
    for document in documents:
        language = document.metadata.get("language")
        if per_language[language] >= 5 or len(quotes) >= 60:
            continue
        shortest = 60 if language in SEGMENTED else 150
        lines = [line for line in document.text.split("\n") if len(line) >= shortest]
        if lines:
            quotes.append({"question": lines[len(lines) // 2], "source": document.url})
            per_language[language] += 1
    (work / "quotes.jsonl").write_text("".join(json.dumps(q, ensure_ascii=False) + "\n" for q in quotes))
    paragraphs = [" ".join(p.split()) for text in topics.values() for p in text.split("\n\n") if len(p.split()) >= 20]
    (work / "pydoc.txt").write_text("".join(p + "\n" for p in paragraphs))
    print(
        f"{len(documents)} documents; {len(quotes)} quotes from {len(per_language)} languages; "
        f"{len(paragraphs)} pydoc paragraphs"
    )

    benchmarks = {
        "quotes": {"paths": str(work / "quotes.jsonl"), "fields": ["question"]},
        "pydoc": str(work / "pydoc.txt"),
    }
    config = work / "decontaminate.yaml"
    config.write_text(
        f"input: {work / 'extracted' / 'data'}\noutput: {work / 'decontaminated'}\nworkers: 1\nsteps:\n"
        f"  - read_parquet\n  - decontaminate:\n      benchmarks: {json.dumps(benchmarks)}\n  - write_parquet\n"
    )
    run(config)
    stats = json.loads((work / "decontaminated" / "stats.json").read_text())
    step = next(s for s in stats["steps"] if s["step"] == "decontaminate")
    print(
        f"pipeline, 1 worker: {step['documents_in']} in, dropped {step['dropped']}, matched "
        f"{step['distributions'].get('benchmark_matched', {})}; step {step['time_s']:.2f} s "
        f"(indexes and segmenters loaded included): {step['documents_in'] / step['time_s']:.0f} documents/s"
    )

    start = time.perf_counter()
    decontaminate = Decontaminate(benchmarks=benchmarks)
    for language in sorted({d.metadata.get("language") for d in documents}, key=str):
        decontaminate.index(language)
    built = time.perf_counter() - start
    start = time.perf_counter()
    dropped = sum(decontaminate.filter(document) is not None for document in documents)
    seconds = time.perf_counter() - start
    characters = sum(len(d.text) for d in documents)
    print(
        f"in process: indexes {sorted(decontaminate.indexes)} built in {built:.2f} s; then {len(documents)} documents "
        f"({dropped} dropped) in {seconds:.2f} s: {len(documents) / seconds:.0f} documents/s, "
        f"{characters / seconds / 1e6:.1f} M characters/s on one core"
    )

    words_or_characters()


def words_or_characters(n: int = 13) -> None:
    """Phase 4: n-grams of each question found in a page that quotes it, in words and in characters."""
    sys.path.insert(0, str(REPO / "tests"))
    from multilingual_articles import ARTICLES

    from webcorpus.stages.decontaminate import ngram_keys, normalise, words_by_line

    for language, questions in QUESTIONS.items():
        paragraphs = ARTICLES[language][1]
        for question in questions:
            before, after = GLUE[language]
            page = paragraphs[0] + before + question.rstrip("。？") + after + paragraphs[1]
            found = []
            for unit, cut in (
                ("words", lambda text, language=language: words_by_line(text, language)[0]),
                ("characters", lambda text: [c for c in normalise(text) if not c.isspace()]),
            ):
                wanted, seen = set(ngram_keys(cut(question), n)), set(ngram_keys(cut(page), n))
                found.append(f"{unit} {len(cut(question))}: {len(wanted & seen)} of {len(wanted)} n-grams")
            print(f"{language} question of {len(question)} characters: " + "; ".join(found))


if __name__ == "__main__":
    main()

"""PII detection: our trigger windows against a plain presidio AnalyzerEngine, on real extracted pages.

    python bench/data/pii.py [--seed 0] [WARC ...]

1. extracts the pages of ../shared/data/warc/dev-*.warc.gz with our read_warc + extract;
2. injects known PII strings (every entity type, plus near misses) at random places in the text;
3. runs, in this process and on one core, the pii stage's detection (`PiiScrubber.find`: presidio's
   recognizers through `PiiDetector`, plus our card, IBAN and phone rules) and `AnalyzerEngine.analyze`
   (the same recognizers, blank spaCy pipeline, score threshold 0) over every document, after warming
   both up on the first 20 documents so that neither pays for loading phone metadata inside the timing;
   the two take turns on chunks of 25 documents, so a machine whose speed drifts slows both alike (our
   detector's caches start empty and fill as it goes, as in a real run);
4. prints documents/s for each and the ratio, and whether `PiiDetector` alone finds exactly presidio's
   spans (type, start, end, score): the stage's rules change what is replaced, not that engine.
"""

from __future__ import annotations

import argparse
import glob
import logging
import random
import sys
import time
from collections import Counter
from pathlib import Path

from webcorpus.pii.detector import PATTERN_ENTITIES, PiiDetector, presidio_analyzer
from webcorpus.pii.stage import PiiScrubber
from webcorpus.stages.extract import TrafilaturaExtractor
from webcorpus.stages.read_warc import WarcReader

REPO = Path(__file__).resolve().parents[2]

INJECTED = [
    "john.doe@example.com", "anna-lena.mueller@gmx.de", "8.8.8.8", "2001:4860:4860::8888", "192.168.1.1",
    "(415) 555-2671", "+49 30 1234567", "+44 20 7946 0958", "030 1234567", "212-555-0199 ext. 23",
    "4111 1111 1111 1111", "5500-0000-0000-0004", "4111 1111 1111 1112", "DE89 3704 0044 0532 0130 00",
    "GB82 WEST 1234 5698 7654 32", "536-22-1234", "1BoatSLRHtKNngkdXEeobR76b53LETtpyT",
    "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq", "version 1.2.3.4", "2023-01-15",
]  # fmt: skip


def extracted_texts(warcs: list[str]) -> list[str]:
    reader, extractor = WarcReader(), TrafilaturaExtractor()
    extractor.start_task()
    return [d.text for d in extractor.run(reader.run(warcs))]


def inject(texts: list[str], seed: int) -> tuple[list[str], int]:
    rng = random.Random(seed)
    out, injected = [], 0
    for text in texts:
        for _ in range(rng.randint(0, 3)):
            at = rng.randrange(len(text) + 1)
            text = f"{text[:at]} {rng.choice(INJECTED)}{rng.choice(['', '.', ','])} {text[at:]}"
            injected += 1
        out.append(text)
    return out, injected


def spans(results) -> list[tuple[str, int, int, float]]:
    return sorted((r.entity_type, r.start, r.end, r.score) for r in results)


def timed_side_by_side(ours, plain, texts: list[str], chunk: int = 25) -> tuple[float, list, float, list]:
    """Both sides over the same chunk of documents in turn, so that a machine whose speed drifts (a shared
    VM) slows both alike; returns each side's seconds and spans."""
    ours_s = plain_s = 0.0
    ours_spans: list = []
    plain_spans: list = []
    for i in range(0, len(texts), chunk):
        part = texts[i : i + chunk]
        start = time.perf_counter()
        ours_spans += [spans(ours(text)) for text in part]
        ours_s += time.perf_counter() - start
        start = time.perf_counter()
        plain_spans += [spans(plain(text)) for text in part]
        plain_s += time.perf_counter() - start
    return ours_s, ours_spans, plain_s, plain_spans


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    dev_warcs = sorted(glob.glob(str(REPO.parent / "shared/data/warc/dev-*.warc.gz")))
    parser.add_argument("warcs", nargs="*", default=dev_warcs)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if not args.warcs:
        sys.exit("no WARC files given and none under ../shared/data/warc")
    logging.getLogger("presidio-analyzer").setLevel(logging.ERROR)

    texts, injected = inject(extracted_texts(args.warcs), args.seed)
    print(f"{len(texts)} documents, {sum(map(len, texts)) / len(texts):.0f} characters on average, "
          f"{injected} PII strings injected")  # fmt: skip
    scrubber = PiiScrubber()  # the stage's own detection: presidio's recognizers plus our rules (rules.py)
    engine = presidio_analyzer(PATTERN_ENTITIES)
    for text in texts[:20]:
        scrubber.find(text)
        engine.analyze(text, language="en", score_threshold=0.0)
    scrubber = PiiScrubber()  # fresh caches: only metadata stays loaded

    ours_s, _, plain_s, plain_spans = timed_side_by_side(
        scrubber.find, lambda t: engine.analyze(t, language="en", score_threshold=0.0), texts
    )
    # Our engine for presidio's recognizers alone must find exactly what presidio finds.
    detector = PiiDetector(PATTERN_ENTITIES, score_threshold=0.0)
    ours_spans = [spans(detector.find(text)) for text in texts]
    differing = [i for i, (a, b) in enumerate(zip(ours_spans, plain_spans)) if a != b]
    by_type = Counter(span[0] for found in plain_spans for span in found)
    per_type = ", ".join(f"{t} {n}" for t, n in sorted(by_type.items()))
    print(f"spans found by AnalyzerEngine: {sum(by_type.values())} ({per_type})")
    per_doc = 1000 * ours_s / len(texts)
    print(f"  webcorpus pii (PiiScrubber.find): {len(texts) / ours_s:8.1f} documents/s ({per_doc:.2f} ms/doc)")
    print(
        f"  presidio AnalyzerEngine: {len(texts) / plain_s:6.1f} documents/s ({1000 * plain_s / len(texts):.2f} ms/doc)"
    )
    print(f"  ratio: {plain_s / ours_s:.1f}x")
    print(
        f"  PiiDetector's spans identical to presidio's: {'yes' if not differing else 'NO'} ({len(differing)} differ)"
    )
    for i in differing[:5]:
        print(f"    document {i}: ours only {sorted(set(ours_spans[i]) - set(plain_spans[i]))}, "
              f"presidio only {sorted(set(plain_spans[i]) - set(ours_spans[i]))}")  # fmt: skip


if __name__ == "__main__":
    main()

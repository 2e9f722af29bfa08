"""PII detection: our trigger windows against a plain presidio AnalyzerEngine, on real extracted pages.

    python bench/data/pii.py [--seed 0] [WARC ...]

1. extracts the pages of ../shared/data/warc/dev-*.warc.gz with our read_warc + extract;
2. injects known PII strings (every entity type, plus near misses) at random places in the text;
3. runs, in this process and on one core, the pii stage's detection (`PiiScrubber.find`: presidio's
   recognizers through `PiiDetector`, plus our card, IBAN and phone rules) with its default phone regions
   (presidio's eight and CN, JP, KR), the same with presidio's eight only, and `AnalyzerEngine.analyze`
   as presidio ships it (the same recognizers, its eight regions, blank spaCy pipeline, score threshold 0)
   over every document, after warming each up on the first 20 documents so that none pays for loading
   phone metadata inside the timing; they take turns on chunks of 25 documents, so a machine whose speed
   drifts slows all alike (our detector's caches start empty and fill as it goes, as in a real run);
4. prints documents/s for each and the ratios, and whether `PiiDetector` alone finds exactly the spans
   (type, start, end, score) of an `AnalyzerEngine` with its regions on the text with CJK letters read as
   line breaks (`mask_cjk_letters`; the text itself where it has none): the stage's rules change what is
   replaced, not that engine.
"""

from __future__ import annotations

import argparse
import functools
import glob
import logging
import random
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from webcorpus.pii.cjk import CJK_LETTER, mask_cjk_letters
from webcorpus.pii.detector import PATTERN_ENTITIES, PRESIDIO_PHONE_REGIONS, PiiDetector, presidio_analyzer
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


def timed_in_turns(sides: dict[str, Callable[[str], list]], texts: list[str], chunk: int = 25) -> dict[str, float]:
    """Every side over the same chunk of documents in turn, so that a machine whose speed drifts (a shared
    VM) slows all alike; returns each side's seconds."""
    seconds = dict.fromkeys(sides, 0.0)
    for i in range(0, len(texts), chunk):
        part = texts[i : i + chunk]
        for name, find in sides.items():
            start = time.perf_counter()
            for text in part:
                find(text)
            seconds[name] += time.perf_counter() - start
    return seconds


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
    presidio_regions = list(PRESIDIO_PHONE_REGIONS)
    presidio = functools.partial(
        presidio_analyzer(PATTERN_ENTITIES, presidio_regions).analyze, language="en", score_threshold=0.0
    )

    def stage(regions: list[str] | None = None) -> Callable[[str], list]:
        # The stage's own detection: presidio's recognizers plus our rules (rules.py).
        return PiiScrubber(phone_regions=regions).find

    for find in (stage(), stage(presidio_regions), presidio):
        for text in texts[:20]:
            find(text)
    sides = {  # ours anew: fresh caches, only the phone metadata stays loaded
        "webcorpus pii (PiiScrubber.find)": stage(),
        "  the same, presidio's 8 regions": stage(presidio_regions),
        "presidio AnalyzerEngine (its 8 regions)": presidio,
    }
    seconds = timed_in_turns(sides, texts)

    # Our engine for presidio's recognizers alone must find exactly what presidio finds (same regions), on
    # the text with CJK letters read as line breaks.
    detector = PiiDetector(PATTERN_ENTITIES, score_threshold=0.0)
    engine = presidio_analyzer(PATTERN_ENTITIES)
    ours_spans = [spans(detector.find(text)) for text in texts]
    plain_spans = [spans(engine.analyze(mask_cjk_letters(t), language="en", score_threshold=0.0)) for t in texts]
    differing = [i for i, (a, b) in enumerate(zip(ours_spans, plain_spans)) if a != b]
    by_type = Counter(span[0] for found in plain_spans for span in found)
    per_type = ", ".join(f"{t} {n}" for t, n in sorted(by_type.items()))
    with_cjk = sum(1 for text in texts if CJK_LETTER.search(text))
    print(f"spans found by AnalyzerEngine (default regions of the stage): {sum(by_type.values())} ({per_type})")
    presidio_s = seconds["presidio AnalyzerEngine (its 8 regions)"]
    for name, taken in seconds.items():
        ratio = f", {presidio_s / taken:.1f}x presidio" if taken != presidio_s else ""
        print(f"  {name}: {len(texts) / taken:8.1f} documents/s ({1000 * taken / len(texts):.2f} ms/doc{ratio})")
    ours_s, eight_s = list(seconds.values())[:2]
    print(f"  CN, JP and KR regions cost: {ours_s / eight_s:.2f}x the time with presidio's 8")
    print(
        f"  PiiDetector's spans identical to presidio's: {'yes' if not differing else 'NO'} ({len(differing)} differ;"
        f" {with_cjk} documents have CJK letters)"
    )
    for i in differing[:5]:
        print(f"    document {i}: ours only {sorted(set(ours_spans[i]) - set(plain_spans[i]))}, "
              f"presidio only {sorted(set(plain_spans[i]) - set(ours_spans[i]))}")  # fmt: skip


if __name__ == "__main__":
    main()

"""Peak memory of each per-document step on one long document.

    python bench/data/step_memory.py [--megabytes 12]

Builds a document of about that many megabytes of sentence-like English (words drawn from a random
vocabulary, line breaks between some sentences) and runs each step on it alone in a fresh process. It
prints, per step, the step's verdict, the peak resident memory added while the step ran (from
getrusage, so C libraries count too), that peak as a multiple of the document's size, and the seconds.
`extract` gets the same document wrapped in HTML paragraphs; its peak is lxml's tree.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import time

STEPS = [
    "url_filter", "extract", "langid", "gopher_repetition", "gopher_quality", "c4_quality",
    "fineweb_quality", "stream_minhash_dedup", "exact_dedup", "pii",
]  # fmt: skip


def long_document(megabytes: float) -> str:
    rng = random.Random(0)
    letters = "abcdefghijklmnopqrstuvwxyz"
    vocabulary = ["".join(rng.choice(letters) for _ in range(rng.randint(2, 10))) for _ in range(50_000)]
    sentences, size = [], 0
    while size < megabytes * 1e6:
        sentence = " ".join(rng.choice(vocabulary) for _ in range(rng.randint(5, 25))).capitalize() + "."
        sentence += "\n" if rng.random() < 0.2 else ""
        sentences.append(sentence)
        size += len(sentence) + 1
    return " ".join(sentences)


def measure(step: str, megabytes: float) -> dict:
    """Runs in the child process: one step, one document."""
    from webcorpus.document import Document
    from webcorpus.pipeline.registry import step_class

    text = long_document(megabytes)
    if step == "extract":
        text = "<html><body>" + "".join(f"<p>{line}</p>" for line in text.split("\n")) + "</body></html>"
    instance = step_class(step)()
    instance.start_task()
    document = Document("long", "https://example.com/long", text, {"language": "en"})
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    verdict = instance.filter(document)
    seconds = time.perf_counter() - start
    added = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) * 1024
    return {"step": step, "verdict": verdict, "mb": len(text) / 1e6, "added_mb": added / 1e6, "seconds": seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--megabytes", type=float, default=12.0)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.child, args.megabytes)))
        return
    print(f"{'step':22} {'document':>9} {'verdict':>18} {'peak added':>11} {'x size':>7} {'seconds':>8}")
    for step in STEPS:
        child = [sys.executable, __file__, "--child", step, "--megabytes", str(args.megabytes)]
        row = json.loads(subprocess.run(child, check=True, capture_output=True, text=True).stdout)
        print(
            f"{step:22} {row['mb']:7.1f}MB {row['verdict']!s:>18} {row['added_mb']:9.0f}MB "
            f"{row['added_mb'] / row['mb']:6.1f}x {row['seconds']:8.1f}"
        )


if __name__ == "__main__":
    main()

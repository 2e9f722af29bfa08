"""A worked example of a quality classifier in an ablation: FineWeb's heuristic recipe against the same recipe
plus a fastText classifier trained here, on the dev WARCs, compared with `webcorpus ablate`.

    python bench/data/quality_ablation.py [--work .abl/quality] [--fraction 0.5] [--words 300] [-w 2] [WARC ...]

1. Positives: the text of Python's own documentation that ships with CPython, `pydoc_data.topics.topics`
   (a dict of help topic -> text, PSF License, installed with Python, so nothing is downloaded). Each topic is
   cut at blank lines into paragraphs, and consecutive paragraphs are grouped into documents of about
   --words words (a topic shorter than that is one document) -> WORK/positives.jsonl.
2. Negatives: the English pages of the WARCs *before* any quality filter: read_warc, url_filter,
   quick_langid, extract, langid [en] (fineweb.yaml's settings), write_parquet -> WORK/negatives/.
3. `webcorpus train-classifier WORK/positives.jsonl WORK/negatives/data -o WORK/quality.bin --lr 1.0
   --epoch 25` (it prints precision and recall on its held-out 10%). Not DCLM's lr 0.1 and 5 epochs: on a
   few hundred documents those make about 1,700 small updates, and every document scores hq 0.5 (to three
   decimals), so the held-out figures are those of "always hq". lr 1.0 and 25 epochs are fastText's own
   tutorial's settings for a small data set.
4. Two variants: WORK/heuristic.yaml is pipelines/fineweb.yaml's steps on the WARCs (ablate drops its
   train_tokenizer and tokenize steps itself); WORK/classifier.yaml is the same plus fasttext_classifier
   (the model of step 3) before write_parquet and top_fraction (--fraction of the documents by quality_hq)
   after minhash_dedup, before pii.
5. `webcorpus ablate WORK/heuristic.yaml WORK/classifier.yaml -o WORK/ablate --preset tiny -w W`, then a
   summary of WORK/ablate/ablation.json.

What the classifier learns is "looks like Python's documentation rather than a web page", not "high
quality" in general (docs/quality.md, the worked example). Every phase is reused by a rerun.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
DEFAULT_WARCS = sorted(glob.glob(str(REPO.parent / "shared/data/warc/dev-*.warc.gz")))


def positive_documents(words: int) -> list[str]:
    """Python's documentation topics, as documents of about `words` words (paragraphs never split)."""
    from pydoc_data.topics import topics

    documents = []
    for name in sorted(topics):
        paragraphs = [p.strip() for p in topics[name].split("\n\n") if p.strip()]
        current: list[str] = []
        for paragraph in paragraphs:
            current.append(paragraph)
            if sum(len(p.split()) for p in current) >= words:
                documents.append("\n\n".join(current))
                current = []
        if current:
            short_tail = sum(len(p.split()) for p in current) < words // 3 and len(current) < len(paragraphs)
            if short_tail:  # joins its topic's last document
                documents[-1] += "\n\n" + "\n\n".join(current)
            else:
                documents.append("\n\n".join(current))
    return documents


def fineweb_steps() -> list:
    return yaml.safe_load((REPO / "pipelines/fineweb.yaml").read_text(encoding="utf-8"))["steps"]


def step_name(step) -> str:
    return step if isinstance(step, str) else next(iter(step))


def negatives_pipeline(warcs: list[str], output: Path) -> dict:
    """fineweb.yaml's steps up to and including langid, then write_parquet: English pages, unfiltered."""
    steps = []
    for step in fineweb_steps():
        steps.append(step)
        if step_name(step) == "langid":
            break
    return {"input": warcs, "output": str(output), "steps": [*steps, "write_parquet"]}


def variant_pipelines(warcs: list[str], model: Path, fraction: float) -> tuple[dict, dict]:
    steps = fineweb_steps()
    heuristic = {"input": warcs, "output": "unused (ablate sets it)", "removed": True, "steps": steps}
    classified = []
    for step in steps:
        if step_name(step) == "write_parquet":
            classified.append({"fasttext_classifier": {"model": str(model)}})
        if step_name(step) == "pii":
            classified.append({"top_fraction": {"score": "quality_hq", "fraction": fraction}})
        classified.append(step)
    return heuristic, {**heuristic, "steps": classified}


def cli(*args: str) -> None:
    command = [sys.executable, "-m", "webcorpus.cli", *args]
    print("$ webcorpus " + " ".join(args), flush=True)
    started = time.monotonic()
    subprocess.run(command, check=True, cwd=REPO, env=os.environ)
    print(f"  ({time.monotonic() - started:.0f} s)", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("warcs", nargs="*", default=DEFAULT_WARCS, help="WARC files (default: the dev WARCs)")
    parser.add_argument("--work", type=Path, default=REPO / ".abl/quality", help="work folder")
    parser.add_argument("--fraction", type=float, default=0.5, help="top_fraction's fraction (default 0.5)")
    parser.add_argument("--words", type=int, default=300, help="words per positive document (default 300)")
    parser.add_argument("--lr", type=float, default=1.0, help="train-classifier's --lr (default 1.0, not DCLM's 0.1)")
    parser.add_argument("--epoch", type=int, default=25, help="train-classifier's --epoch (default 25, not DCLM's 5)")
    parser.add_argument("-w", "--workers", type=int, default=2)
    parser.add_argument("--train-tokens", type=int, help="ablate's --train-tokens (default: the smallest's)")
    args = parser.parse_args()
    if not args.warcs:
        parser.error("no WARC files given and none at ../shared/data/warc/dev-*.warc.gz")
    warcs = [str(Path(w).resolve()) for w in args.warcs]
    work = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)

    positives = work / "positives.jsonl"
    documents = positive_documents(args.words)
    with positives.open("w", encoding="utf-8") as f:
        for text in documents:
            f.write(json.dumps({"text": text}) + "\n")
    print(
        f"positives: {len(documents)} documents, {sum(len(d.split()) for d in documents):,} words "
        f"(pydoc_data.topics of Python {sys.version.split()[0]}) -> {positives}"
    )

    negatives = work / "negatives"
    negatives_yaml = work / "negatives.yaml"
    negatives_yaml.write_text(yaml.safe_dump(negatives_pipeline(warcs, negatives), sort_keys=False))
    cli("run", str(negatives_yaml), "-w", str(args.workers), "--no-progress")

    model = work / "quality.bin"  # trained every time: the same data and options give the same file
    cli(
        "train-classifier",
        str(positives),
        str(negatives / "data"),
        "-o",
        str(model),
        "--lr",
        str(args.lr),
        "--epoch",
        str(args.epoch),
    )

    heuristic, classified = variant_pipelines(warcs, model, args.fraction)
    (work / "heuristic.yaml").write_text(yaml.safe_dump(heuristic, sort_keys=False))
    (work / "classifier.yaml").write_text(yaml.safe_dump(classified, sort_keys=False))
    ablate = [
        "ablate",
        str(work / "heuristic.yaml"),
        str(work / "classifier.yaml"),
        "-o",
        str(work / "ablate"),
        "--preset",
        "tiny",
        "-w",
        str(args.workers),
        "--no-progress",
    ]
    if args.train_tokens:
        ablate += ["--train-tokens", str(args.train_tokens)]
    cli(*ablate)

    summary = json.loads((work / "ablate/ablation.json").read_text())
    print(
        f"\npreset {summary['preset']}, {summary['train_tokens']:,} training tokens per variant; "
        f"evaluation text {summary['eval']['documents']} documents, {summary['eval']['bytes']:,} bytes, "
        f"{summary['eval']['tokens']:,} tokens"
    )
    print(
        f"{'variant':<12} {'documents':>9} {'train docs':>10} {'tokens avail':>12} {'repeated':>8} "
        f"{'eval bits/byte':>14} {'own val loss':>12}"
    )
    for v in summary["variants"]:
        loss = f"{v['own_val_loss']:.3f}" if v["own_val_loss"] is not None else "-"
        print(
            f"{v['name']:<12} {v['documents']:>9} {v['train_documents']:>10} {v['train_tokens_available']:>12,} "
            f"{v['repeated'] or '':>8} {v['eval_bits_per_byte']:>14.4f} {loss:>12}"
        )
    for name, steps in summary["differences"].items():
        print(f"{name} only: {'; '.join(steps) or '-'}")


if __name__ == "__main__":
    main()

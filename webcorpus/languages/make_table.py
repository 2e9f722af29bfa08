"""Builds `fineweb2.json`, the per-language table the filters read, from FineWeb-2's published configs.

    python -m webcorpus.languages.make_table FINEWEB2/configs tokenizer_assignment.csv [-o PATH]

FINEWEB2 is a checkout of huggingface/fineweb-2 (one `configs/{iso3}_{Script}.yml` per language: the
thresholds and stop words FineWeb-2 filtered that language with); tokenizer_assignment.csv is datatrove's
`src/datatrove/assets/tokenizer_assignment.csv`, used here only for its table of ISO 639-1 codes, ISO 639-3
codes and default scripts. The table is keyed by the labels our language identifier (fastText lid.176)
writes, so each lid.176 language is mapped to one FineWeb-2 config: the language's default script, and for
a two-letter code the individual language datatrove marks as its default (zh -> cmn_Hani, ar -> arb_Arab).
A language with no config (English: FineWeb-2 left it to FineWeb) keeps the step's own options.
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path
from typing import Any

import yaml

# lid.176 labels that are Wikipedia edition codes rather than the ISO code FineWeb-2 names its config by.
WIKIPEDIA_CODES = {
    "als": "gsw_Latn",  # Alemannic Wikipedia, not Tosk Albanian
    "bh": "bho_Deva",  # Bihari: Bhojpuri, as on its Wikipedia
    "sh": "srp_Latn",  # Serbo-Croatian Wikipedia: Latin script; FineWeb-2 has no hbs config
    "tl": "fil_Latn",
    "no": "nob_Latn",
    "eml": "eml_Latn",
    "nah": "nhe_Latn",
    "bxr": "bxr_Cyrl",
    "mhr": "mhr_Cyrl",
    "mrj": "mrj_Cyrl",
    "diq": "diq_Latn",
    "gom": "gom_Deva",
    "fa": "fas_Arab",
    "ms": "zsm_Latn",
    "et": "ekk_Latn",
    "lv": "lvs_Latn",
    "sw": "swh_Latn",
    "uz": "uzn_Latn",
    "az": "azj_Latn",
    "mn": "khk_Cyrl",
    "ne": "npi_Deva",
    "sq": "als_Latn",
    "ku": "kmr_Latn",
    "ps": "pbt_Arab",
    "qu": "quz_Latn",
    "or": "ory_Orya",
    "ar": "arb_Arab",
    "zh": "cmn_Hani",
}
THRESHOLD_KEYS = (
    "language_score", "dup_line_frac", "line_punct_thr", "new_line_ratio", "min_avg_word_length",
    "max_avg_word_length", "max_non_alpha_words_ratio",
)  # fmt: skip
# FineWeb-2's pipeline passes these to every language alike (fineweb-2-pipeline.py).
MIN_STOP_WORDS = 2


def default_configs(assignments: Path) -> dict[str, str]:
    """ISO 639-1 and 639-3 codes -> `{iso3}_{Script}` of the default individual language and script."""
    by_code: dict[str, str] = {}
    with assignments.open(encoding="utf-8") as file:
        for row in csv.DictReader(file):
            if row["default_script"] != "TRUE":
                continue
            name = f"{row['code_3']}_{row['script']}"
            by_code.setdefault(row["code_3"], name)
            if row["code_1"] and row["default_code_1"] == "TRUE":
                by_code.setdefault(row["code_1"], name)
    return by_code


def entry(config: dict[str, Any], name: str) -> dict[str, Any]:
    values: dict[str, Any] = {"config": name}
    values.update({key: config[key] for key in THRESHOLD_KEYS})
    values["top_n_grams"] = {str(n): frac for n, frac in config["top_n_grams"]}
    values["dup_n_grams"] = {str(n): frac for n, frac in config["dup_n_grams"]}
    values["stopwords"] = list(config["stopwords"])
    values["min_stop_words"] = MIN_STOP_WORDS
    return values


def build(configs_folder: Path, assignments: Path, labels: list[str], source: str) -> dict[str, Any]:
    configs = {
        path.stem: yaml.safe_load(path.read_text(encoding="utf-8")) for path in sorted(configs_folder.glob("*.yml"))
    }
    by_code = default_configs(assignments)
    languages, unmapped = {}, []
    for label in sorted(labels):
        name = WIKIPEDIA_CODES.get(label) or by_code.get(label)
        if name in configs:
            languages[label] = entry(configs[name], name)
        else:
            unmapped.append(label)
    return {"source": source, "languages": languages, "no_config": unmapped}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("configs", type=Path, help="fineweb-2's configs/ folder")
    parser.add_argument("assignments", type=Path, help="datatrove's tokenizer_assignment.csv")
    parser.add_argument("--source", default="huggingface/fineweb-2 configs/", help="recorded in the table")
    parser.add_argument("-o", "--output", type=Path, default=Path(__file__).with_name("fineweb2.json"))
    args = parser.parse_args()
    from webcorpus.stages.langid import load_language_model

    # fasttext-predict has no get_labels(): every label's probability (none cut at 0) lists them all.
    labels = load_language_model().predict("text", k=-1, threshold=-1.0)[0]
    labels = [label.removeprefix("__label__") for label in labels]
    table = build(args.configs, args.assignments, labels, args.source)
    args.output.write_text(json.dumps(table, ensure_ascii=False, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    print(f"{args.output}: {len(table['languages'])} languages; no config for: {', '.join(table['no_config'])}")


if __name__ == "__main__":
    main()

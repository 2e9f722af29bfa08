"""Train and score an ablation's variants on a GPU, with models and budgets a CPU cannot run in time.

    python bench/gpu/ablation_models.py ABLATION_DIR [--presets tiny small] [--epochs 1 4] [--out DIR]

Reads ABLATION_DIR/ablation.json and ABLATION_DIR/tokens/ (made by `webcorpus ablate` on any machine:
no data pipeline runs here), and for every preset and budget trains each variant's model from the same
seed on the same number of tokens (EPOCHS times the smallest variant's training tokens; above one, data
repeats), then scores it on the shared evaluation tokens in bits per byte, as `webcorpus ablate` does
(webcorpus/ablate/score.py). Prints a table and writes OUT/results.json.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from webcorpus.ablate.score import bits_per_byte, train_variant


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("ablation", type=Path)
    parser.add_argument("--presets", nargs="+", default=["tiny", "small"])
    parser.add_argument("--epochs", nargs="+", type=float, default=[1.0, 4.0])
    parser.add_argument("--out", type=Path, default=Path("ablation_models"))
    parser.add_argument("--work", type=Path, default=Path("/tmp/ablation_models"), help="checkpoints go here")
    args = parser.parse_args()
    summary = json.loads((args.ablation / "ablation.json").read_text())
    smallest = min(v["train_tokens_available"] for v in summary["variants"])
    rows = []
    for preset in args.presets:
        for epochs in args.epochs:
            budget = int(smallest * epochs)
            for variant in summary["variants"]:
                name = variant["name"]
                work = args.work / f"{preset}_{epochs:g}" / name
                started = time.perf_counter()
                records, config = train_variant(args.ablation / "tokens" / name, work, preset, budget, lambda _: None)
                seconds = time.perf_counter() - started
                score = bits_per_byte(work / "ckpt.pt", args.ablation / "tokens" / "eval", summary["eval"]["bytes"])
                val = [r["val_loss"] for r in records if "val_loss" in r]
                rows.append({"preset": preset, "epochs": epochs, "budget": budget, "variant": name,
                             "steps": config.max_steps, "eval_bits_per_byte": score, "own_val_loss": val[-1],
                             "final_train_loss": records[-1]["loss"], "seconds": round(seconds, 1),
                             "curve": [[r["step"], r["loss"]] for r in records]})  # fmt: skip
                line = f"{preset:>6} x{epochs:<4g} {name:<18} steps {config.max_steps:>5}  eval {score:.4f} bits/byte"
                print(f"{line}  own val {val[-1]:.4f}  train {records[-1]['loss']:.4f}  {seconds:.1f}s", flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps({"eval": summary["eval"], "rows": rows}, indent=1))


if __name__ == "__main__":
    main()

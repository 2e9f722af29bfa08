"""hf_classifier's batching against transformers' text-classification pipeline, on one GPU, same batch size.

    PYTHONPATH=. python bench/gpu/hf_classifier_speed.py [--model DIR] [--documents N] [--batch-size B]

Scores N synthetic documents of mixed lengths (log-uniform word counts, many past the model's 512 tokens)
with ours (`hf_classifier`: length-sorted passes within each batch Filter.run hands it) and with
`pipeline("text-classification", device=0, batch_size=B, dtype=bfloat16, truncation=True,
function_to_apply="none")`, alternately, ROUNDS times each in one process after a warm-up of each; prints
documents per second of every round, the medians' ratio and the largest score difference between the two.
Without --model it builds a BERT-base-sized random regression model (FineWeb-Edu's classifier's shape:
12 layers, hidden 768, one output) and a word-level tokenizer over a synthetic vocabulary, since nothing can
be downloaded. Imports only torch, transformers, tokenizers and webcorpus's step contract, so it runs where
webcorpus's other dependencies are not installed.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from pathlib import Path

import torch
import transformers

from webcorpus.document import Document
from webcorpus.stages.hf_classifier import HfClassifier

VOCABULARY = 30_000


def build_model(folder: Path) -> Path:
    """A random BERT-base regression model and a word-level tokenizer (w0 ... w29999), saved as safetensors."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors

    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]"]
    vocab = {token: i for i, token in enumerate(specials + [f"w{i}" for i in range(VOCABULARY)])}
    tokenizer = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])]
    )
    fast = transformers.PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        model_max_length=512,
    )
    fast.save_pretrained(folder)
    config = transformers.BertConfig(vocab_size=len(vocab), num_labels=1, pad_token_id=vocab["[PAD]"])
    torch.manual_seed(0)
    transformers.BertForSequenceClassification(config).save_pretrained(folder)
    return folder


def synthetic_texts(count: int, seed: int = 0) -> list[str]:
    """Web-like lengths: word counts log-uniform from 20 to 4000, so about half are cut at 512 tokens."""
    rng = random.Random(seed)
    return [
        " ".join(f"w{rng.randrange(VOCABULARY)}" for _ in range(int(20 * 200 ** rng.random()))) for _ in range(count)
    ]


def ours(model: str, texts: list[str], batch_size: int, device: str) -> tuple[float, list[float]]:
    step = HfClassifier(model=model, device=device, batch_size=batch_size)  # type: ignore[arg-type]
    step.loaded()  # loading is not scoring
    documents = [Document(id=str(i), url="", text=text) for i, text in enumerate(texts)]
    started = time.perf_counter()
    scored = [d.metadata["edu"] for d in step.run(documents)]  # Filter.run's batches, as in a pipeline
    return time.perf_counter() - started, scored


def theirs(classify, texts: list[str], batch_size: int) -> tuple[float, list[float]]:
    started = time.perf_counter()
    results = classify(texts, batch_size=batch_size, truncation=True, function_to_apply="none")
    return time.perf_counter() - started, [r["score"] for r in results]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="a local model folder (default: a random BERT-base built here)")
    parser.add_argument("--documents", type=int, default=8192)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--device", default="cuda", help="cpu only to try the script out")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        model = args.model or str(build_model(Path(scratch) / "model"))
        texts = synthetic_texts(args.documents)
        dtype = torch.bfloat16 if args.device == "cuda" else torch.float32
        classify = transformers.pipeline(
            "text-classification", model=model, device=0 if args.device == "cuda" else -1, dtype=dtype
        )
        warm = texts[: 4 * args.batch_size]
        ours(model, warm, args.batch_size, args.device)
        theirs(classify, warm, args.batch_size)
        rates: dict[str, list[float]] = {"ours": [], "hf_pipeline": []}
        scores: dict[str, list[float]] = {}
        for round_ in range(args.rounds):
            for name in rates:
                if name == "ours":
                    seconds, scores[name] = ours(model, texts, args.batch_size, args.device)
                else:
                    seconds, scores[name] = theirs(classify, texts, args.batch_size)
                rates[name].append(len(texts) / seconds)
                print(f"round {round_ + 1} {name:12s} {rates[name][-1]:10.1f} docs/s", flush=True)
    difference = max(abs(a - b) for a, b in zip(scores["ours"], scores["hf_pipeline"]))
    spread = max(scores["hf_pipeline"]) - min(scores["hf_pipeline"])
    median = {name: statistics.median(values) for name, values in rates.items()}
    name = torch.cuda.get_device_name() if args.device == "cuda" else "cpu"
    print(f"{name}, {len(texts)} documents, batch size {args.batch_size}, {dtype}")
    print(f"ours        {median['ours']:10.1f} docs/s (median of {args.rounds})")
    print(f"hf_pipeline {median['hf_pipeline']:10.1f} docs/s (median of {args.rounds})")
    print(f"ratio       {median['ours'] / median['hf_pipeline']:10.2f}x")
    print(f"max |score difference| {difference:.4g} (scores span {spread:.4g})")


if __name__ == "__main__":
    main()

"""train_tokenizer: learn a byte-level BPE tokenizer on the corpus (HF `tokenizers`).

No GPT-2 vocabulary is available offline, so `train_tokenizer` learns one with HF `tokenizers`
(GPT-2's byte-level pre-tokenisation, `<|endoftext|>` as id 0); any `tokenizer.json` a user brings works
too, as long as its ids fit in uint16. Which documents train the tokenizer, which are held out to
measure it, and which go to the validation shards is decided by a hash of the document id, so it never
depends on file order or worker count:

    bucket = blake2b(id) mod 10,000
    bucket < 100        held out from tokenizer training (compression is measured on these)
    lowest buckets      the validation split of the token shards, as many as give `val_tokens` (tokenize.py)
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator
from typing import Any

from webcorpus.parquet import Location, read_texts
from webcorpus.pipeline import run_folder
from webcorpus.pipeline.executors import CorpusContext
from webcorpus.pipeline.run_folder import Folder
from webcorpus.pipeline.step import CorpusResult, CorpusStep
from webcorpus.pipeline.units import Units, fingerprint

END_OF_TEXT = "<|endoftext|>"
MAX_VOCAB = 65_536  # ids must fit in uint16
BUCKETS = 10_000
HELD_OUT_BUCKETS = 100


def bucket(document_id: str) -> int:
    return int.from_bytes(hashlib.blake2b(document_id.encode(), digest_size=8).digest(), "little") % BUCKETS


class TrainTokenizer(CorpusStep):
    """Byte-level BPE with HF `tokenizers` (GPT-2's pre-tokenising regex, `<|endoftext|>` = id 0, at most
    65,536 tokens so ids fit uint16). It streams documents up to `max_characters`, so memory follows the
    number of distinct words, and reports the compression (UTF-8 bytes per token) on held-out documents.
    Training twice on the same input gives the same file; a finished tokenizer is reused on resume."""

    name = "train_tokenizer"
    summary = (
        f"Train a byte-level BPE tokenizer (GPT-2 pre-tokenisation, {END_OF_TEXT} = id 0) on a folder of "
        "Parquet shards; 1% of the documents, by id hash, are held out to measure compression."
    )
    output_name = run_folder.TOKENIZER
    output_is_file = True
    option_minimum = {"vocab_size": 257, "max_characters": 1, "min_frequency": 1}
    option_help = {
        "vocab_size": f"Vocabulary size including the 256 bytes and {END_OF_TEXT} (at most {MAX_VOCAB}).",
        "max_characters": "Train on at most this many characters (a deterministic sample; bounds time and memory).",
        "min_frequency": "A pair must occur this often to be merged.",
    }

    def __init__(self, vocab_size: int = 32_768, max_characters: int = 1_000_000_000, min_frequency: int = 2) -> None:
        super().__init__()
        if not 257 <= vocab_size <= MAX_VOCAB:
            raise ValueError(
                f"vocab_size must be between 257 and {MAX_VOCAB} (token ids are stored as uint16), not {vocab_size}"
            )
        if max_characters < 1 or min_frequency < 1:
            raise ValueError("max_characters and min_frequency must be at least 1")
        self.settings = {"vocab_size": vocab_size, "max_characters": max_characters, "min_frequency": min_frequency}

    def run_corpus(self, sources: list[Location], target: Location, context: CorpusContext) -> CorpusResult:
        """Train as one unit (pipeline/units.py), unless `target` was already made from this input with these
        settings. Its markers sit beside it, in `.TARGET_NAME/` (the output is a file, not a folder)."""
        started = time.perf_counter()
        output = Folder(target)
        units = Units(output.parent.child(f".{output.name}"), fingerprint(sources, self.settings), context)
        already = units.done("train")
        summary = units.call("train_tokenizer", train_tokenizer, "train", sources, output.location, self.settings,
                             context.progress)  # fmt: skip
        self.stats.documents_in = self.stats.kept = summary["trained_on_documents"] + summary["held_out_documents"]
        self.stats.counts["vocabulary"] = summary["vocab_size"]
        self.stats.time_s = time.perf_counter() - started
        line = summary.pop("line") + (" (already trained)" if already else "")
        return CorpusResult(line, summary, made={"tokenizer": output.location})


def train_tokenizer(sources: list[Location], out: Location, settings: dict[str, Any], progress: bool) -> dict[str, Any]:
    """Train byte-level BPE on the corpus (held-out documents excluded); write tokenizer.json (and
    transformers' files beside it) whole, local or remote."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=settings["vocab_size"],
        min_frequency=settings["min_frequency"],
        special_tokens=[END_OF_TEXT],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=progress,
    )
    used = {"documents": 0, "characters": 0}

    def training_texts() -> Iterator[str]:
        for document_id, text in read_texts(sources):
            if bucket(document_id) < HELD_OUT_BUCKETS:
                continue
            if used["characters"] + len(text) > settings["max_characters"]:
                return
            used["documents"] += 1
            used["characters"] += len(text)
            yield text

    start = time.perf_counter()
    tokenizer.train_from_iterator(training_texts(), trainer)
    seconds = time.perf_counter() - start
    target = Folder(out)
    with target.writing("") as tmp:
        tokenizer.save(str(tmp))
    write_transformers_files(target.parent)
    held_out = [text for document_id, text in read_texts(sources) if bucket(document_id) < HELD_OUT_BUCKETS]
    summary = {
        "tokenizer": str(out),
        "vocab_size": tokenizer.get_vocab_size(),
        "trained_on_documents": used["documents"],
        "trained_on_characters": used["characters"],
        "train_seconds": round(seconds, 2),
        "held_out_documents": len(held_out),
        "bytes_per_token": bytes_per_token(tokenizer, held_out),
    }
    compression = summary["bytes_per_token"]
    measured = (
        f"{compression} bytes per token on {len(held_out)} held-out documents"
        if compression
        else "no held-out documents to measure compression on"
    )
    summary["line"] = (
        f"train_tokenizer: {summary['vocab_size']} tokens from {used['documents']} documents "
        f"({used['characters']:,} characters) in {summary['train_seconds']}s; {measured} -> {out}"
    )
    return summary


def bytes_per_token(tokenizer: Any, texts: list[str]) -> float | None:
    """UTF-8 bytes per token over `texts` (None when there are none to measure on)."""
    if not texts:
        return None
    encoded = tokenizer.encode_batch(texts, add_special_tokens=False)
    tokens = sum(len(e.ids) for e in encoded)
    return round(sum(len(t.encode("utf-8")) for t in texts) / max(tokens, 1), 3)


def load_tokenizer(path: Location, end_of_text: str = END_OF_TEXT) -> tuple[Any, int]:
    """A tokenizer.json (local or remote) and the id of its document separator (`end_of_text`,
    <|endoftext|> by default); refuses vocabularies whose ids do not fit uint16."""
    from tokenizers import Tokenizer

    try:
        tokenizer = Tokenizer.from_str(Folder(path).read_bytes("").decode("utf-8"))
    except Exception as error:  # tokenizers raises a bare Exception on a bad file
        raise ValueError(f"{path}: not a readable tokenizer.json ({error})") from None
    size = tokenizer.get_vocab_size(with_added_tokens=True)
    if size > MAX_VOCAB:
        raise ValueError(f"{path}: vocabulary of {size} tokens; ids above {MAX_VOCAB - 1} do not fit in uint16 shards")
    end = tokenizer.token_to_id(end_of_text)
    if end is None:
        raise ValueError(f"{path}: no {end_of_text} token; documents need it as their separator (set end_of_text)")
    return tokenizer, end


def write_transformers_files(folder: Folder, end_of_text: str = END_OF_TEXT) -> None:
    """tokenizer_config.json and special_tokens_map.json in `folder`, beside its tokenizer.json, so that
    transformers' AutoTokenizer.from_pretrained(folder) loads it with its special tokens (as GPT-2's: the
    document separator is also the beginning, end and unknown token)."""
    special = {"bos_token": end_of_text, "eos_token": end_of_text, "unk_token": end_of_text}
    config = {"tokenizer_class": "PreTrainedTokenizerFast", "clean_up_tokenization_spaces": False, **special}
    for name, content in (("tokenizer_config.json", config), ("special_tokens_map.json", special)):
        folder.write_bytes(name, (json.dumps(content, indent=2) + "\n").encode("utf-8"))

"""Tokenizer training, token shards in llm.c's layout, and the NumPy reader."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from webcorpus.cli import main
from webcorpus.document import Document
from webcorpus.pipeline.executors import CorpusContext
from webcorpus.stages.write_parquet import ParquetWriter
from webcorpus.tokens.bpe import TrainTokenizer, load_tokenizer
from webcorpus.tokens.shards import HEADER_BYTES, MAGIC, ShardError, TokenShard, TokenShards, shard_files
from webcorpus.tokens.tiktoken_bridge import BatchEncoder, as_tiktoken
from webcorpus.tokens.tokenize import Tokenize


def train_tokenizer(source: Path, target: Path, step: TrainTokenizer) -> dict:
    result = step.run_corpus([source], target, CorpusContext.local())
    return {**result.figures, "line": result.line}


WORDS = "the river garden library ocean small bright window quiet morning café naïve Straße 東京 42 3.14".split()


def corpus(folder: Path, documents: int = 120, seed: int = 5) -> dict[str, str]:
    rng = random.Random(seed)
    docs = []
    for i in range(documents):
        sentences = [" ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 12))) for _ in range(rng.randint(1, 6))]
        docs.append(Document(f"doc-{i:04d}", f"https://example.org/{i}", ".\n".join(sentences) + "."))
    ParquetWriter(rows_per_shard=40).write(docs, folder)
    return {d.id: d.text for d in docs}


@pytest.fixture
def trained(tmp_path):
    texts = corpus(tmp_path / "docs")
    summary = train_tokenizer(tmp_path / "docs", tmp_path / "tokenizer.json", TrainTokenizer(vocab_size=400))
    return tmp_path, texts, summary


def tokenize(tmp_path: Path, out: str, **options) -> dict:
    step = Tokenize(
        **{"tokenizer": str(tmp_path / "tokenizer.json"), "shard_tokens": 300, "val_tokens": 1000, **options}
    )
    result = step.run_corpus([tmp_path / "docs"], tmp_path / out, CorpusContext.local())
    return {**result.figures, "line": result.line}


def test_round_trip_gives_the_documents_back(trained):
    tmp_path, texts, summary = trained
    assert summary["vocab_size"] <= 400 and summary["bytes_per_token"] > 1.0
    result = tokenize(tmp_path, "tokens")
    tokenizer, end = load_tokenizer(tmp_path / "tokenizer.json")
    assert end == 0
    decoded = []
    for split in ("val", "train"):
        shards = TokenShards(tmp_path / "tokens", split)
        assert len(shards.shards) > 1  # documents run across shard boundaries
        for tokens in shards.documents():
            assert tokens[0] == end and end not in tokens[1:]
            decoded.append(tokenizer.decode(tokens[1:].tolist()))
        assert result[split]["documents"] == len(shards.document_starts())
    assert sorted(decoded) == sorted(texts.values())  # every document once: none lost, none twice
    assert result["val"]["documents"] > 0 and result["train"]["documents"] > result["val"]["documents"]
    names = [p.name for p in shard_files(tmp_path / "tokens")]
    assert names[0] == "webcorpus_val_000000.bin" and names[-1].startswith("webcorpus_train_")
    # A window straddling a shard boundary reads through it.
    train = TokenShards(tmp_path / "tokens", "train")
    joined = np.concatenate([s.tokens for s in train.shards])
    assert np.array_equal(train.window(290, 20), joined[290:310])


def test_shard_layout_is_llm_c(trained):
    tmp_path, _, _ = trained
    tokenize(tmp_path, "tokens")
    path = shard_files(tmp_path / "tokens", "train")[0]
    header = np.fromfile(path, dtype="<i4", count=256)
    assert header[0] == 20240520 and header[1] == 1
    assert path.stat().st_size == HEADER_BYTES + 2 * header[2] and header[2] == 300
    assert not header[3:].any()


def test_identical_input_gives_identical_shards(trained):
    tmp_path, _, _ = trained
    train_tokenizer(tmp_path / "docs", tmp_path / "again.json", TrainTokenizer(vocab_size=400))
    assert (tmp_path / "again.json").read_bytes() == (tmp_path / "tokenizer.json").read_bytes()
    tokenize(tmp_path, "a")
    tokenize(tmp_path, "b")
    files = sorted(p.name for p in (tmp_path / "a").iterdir() if p.is_file())
    assert files == sorted(p.name for p in (tmp_path / "b").iterdir() if p.is_file())
    assert "tokens.json" in files
    for name in files:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name


def test_interrupted_tokenization_resumes_without_gaps_or_duplicates(trained, monkeypatch):
    tmp_path, _, _ = trained
    tokenize(tmp_path, "whole")
    import webcorpus.tokens.tokenize as tokenizer_module

    # A shard's .idx is written last (its .bin is already whole then): dying there leaves a .bin whose unit
    # is not done.
    real_write, written = tokenizer_module.write_index, []

    def write_then_die(folder, name, starts):
        if len(written) == 3:
            raise KeyboardInterrupt  # as if the process were stopped mid-run
        written.append(name)
        real_write(folder, name, starts)

    monkeypatch.setattr(tokenizer_module, "write_index", write_then_die)
    with pytest.raises(KeyboardInterrupt):
        tokenize(tmp_path, "resumed")
    monkeypatch.setattr(tokenizer_module, "write_index", real_write)
    (tmp_path / "resumed" / ".webcorpus_train_000009.bin.123.tmp").write_bytes(b"half a shard")
    tokenize(tmp_path, "resumed")
    whole = {p.name: p.read_bytes() for p in (tmp_path / "whole").glob("*_*.*")}
    resumed = {p.name: p.read_bytes() for p in (tmp_path / "resumed").glob("*_*.*")}
    assert whole == resumed


def test_other_settings_are_refused_in_a_used_folder(trained):
    tmp_path, _, _ = trained
    tokenize(tmp_path, "tokens")
    with pytest.raises(ValueError, match="other input or settings"):
        tokenize(tmp_path, "tokens", shard_tokens=301)


def test_bad_shards_are_named(trained):
    tmp_path, _, _ = trained
    tokenize(tmp_path, "tokens")
    first, second = shard_files(tmp_path / "tokens", "train")[:2]
    first.write_bytes(first.read_bytes()[:-10])
    with pytest.raises(ShardError, match=f"{first.name}.*truncated"):
        TokenShard(first)
    data = bytearray(second.read_bytes())
    data[:4] = np.int32(12345).tobytes()
    second.write_bytes(bytes(data))
    with pytest.raises(ShardError, match=f"{second.name}: magic number 12345, expected {MAGIC}"):
        TokenShard(second)
    with pytest.raises(ShardError, match="no such token shard"):
        TokenShard(tmp_path / "tokens" / "missing_train_000000.bin")
    result = CliRunner().invoke(main, ["stats", str(tmp_path / "tokens")])
    assert result.exit_code != 0 and first.name in result.output


def test_vocabulary_over_uint16_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="uint16"):
        TrainTokenizer(vocab_size=70_000)
    from tokenizers import Tokenizer, models

    vocab = {f"w{i}": i for i in range(70_000)} | {"<|endoftext|>": 70_000}
    Tokenizer(models.WordLevel(vocab, unk_token="w0")).save(str(tmp_path / "big.json"))
    with pytest.raises(ValueError, match="do not fit in uint16"):
        load_tokenizer(tmp_path / "big.json")


def test_parquet_tokens_column(trained):
    tmp_path, texts, _ = trained
    first = tokenize(tmp_path, "pq", format="parquet")
    tokenizer, end = load_tokenizer(tmp_path / "tokenizer.json")
    rows = [row for path in sorted((tmp_path / "pq").glob("*.parquet")) for row in pq.read_table(path).to_pylist()]
    assert {row["id"]: tokenizer.decode(row["tokens"][1:]) for row in rows} == texts
    assert all(row["tokens"][0] == end for row in rows)
    # A rerun finds every shard written and counts them from the files.
    assert tokenize(tmp_path, "pq", format="parquet")["parquet"] == first["parquet"]
    assert first["parquet"]["tokens"] == sum(len(row["tokens"]) for row in rows)


def test_cli_and_stats(trained):
    tmp_path, texts, _ = trained
    runner = CliRunner()
    result = runner.invoke(
        main, ["train-tokenizer", str(tmp_path / "docs"), str(tmp_path / "t.json"), "--vocab-size", "300"]
    )
    assert result.exit_code == 0 and "bytes per token" in result.output
    out = tmp_path / "cli-tokens"
    result = runner.invoke(
        main, ["tokenize", str(tmp_path / "docs"), str(out), "--tokenizer", str(tmp_path / "t.json")]
    )
    assert result.exit_code == 0, result.output
    result = runner.invoke(main, ["stats", str(out), "--json"])
    stats = json.loads(result.output)
    assert stats["val"]["documents"] + stats["train"]["documents"] == len(texts)
    assert stats["train"]["shards"] == 1 and stats["train"]["tokens"] > 0
    too_big = runner.invoke(main, ["train-tokenizer", str(tmp_path / "docs"), "x", "--vocab-size", "70000"])
    assert too_big.exit_code != 0 and "65536" in too_big.output and "Traceback" not in too_big.output


def test_reader_needs_no_torch(trained):
    tmp_path, _, _ = trained
    tokenize(tmp_path, "tokens")
    code = (
        "import sys; from webcorpus.tokens.shards import TokenShards; "
        f"s = TokenShards({str(tmp_path / 'tokens')!r}, 'train'); x = s.window(0, 64); "
        "assert x.dtype.name == 'uint16' and len(x) == 64; assert 'torch' not in sys.modules; print('ok')"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "ok"


def test_tiktoken_path_gives_the_same_ids_or_is_not_used(trained, tmp_path):
    tmp, texts, _ = trained
    tokenizer, _ = load_tokenizer(tmp / "tokenizer.json")
    assert as_tiktoken(tokenizer) is not None
    encoder = BatchEncoder(tokenizer)
    ids = encoder.encode(list(texts.values()))
    assert encoder.engine == "tiktoken"
    assert ids == [e.ids for e in tokenizer.encode_batch(list(texts.values()), add_special_tokens=False)]
    from tokenizers import Tokenizer, models, pre_tokenizers

    word_level = Tokenizer(models.WordLevel({"<|endoftext|>": 0, "[UNK]": 1, "river": 2}, unk_token="[UNK]"))
    word_level.pre_tokenizer = pre_tokenizers.Whitespace()
    assert as_tiktoken(word_level) is None
    assert BatchEncoder(word_level).encode(["river sea"]) == [[2, 1]]


def test_the_validation_split_is_sized_in_tokens(trained):
    tmp_path, texts, _ = trained
    result = tokenize(tmp_path, "tokens", val_tokens=1000)
    assert result["val"]["tokens"] >= 1000 and "warning" not in result
    # The validation documents are those with the lowest id hashes, and no more of them than needed.
    tokenizer, end = load_tokenizer(tmp_path / "tokenizer.json")
    from webcorpus.tokens.bpe import bucket

    val = {tokenizer.decode(t[1:].tolist()) for t in TokenShards(tmp_path / "tokens", "val").documents()}
    ranked = sorted(texts, key=bucket)
    chosen = ranked[: len(val)]
    assert val == {texts[i] for i in chosen}
    last_bucket = bucket(chosen[-1])
    fewer = sum(len(tokenizer.encode(texts[i]).ids) + 1 for i in chosen if bucket(i) < last_bucket)
    assert fewer < 1000


def test_a_corpus_too_small_for_the_validation_tokens_gives_half_and_says_so(trained):
    tmp_path, texts, _ = trained
    result = tokenize(tmp_path, "tokens", val_tokens=10**9)
    assert 0 < result["val"]["documents"] <= len(texts) // 2
    assert "fewer than val_tokens" in result["warning"] and "warning:" in result["line"]
    none = tokenize(tmp_path, "none", val_tokens=0)  # no validation split asked for: none, and no warning
    assert none["val"]["documents"] == 0 and "warning" not in none and not shard_files(tmp_path / "none", "val")


def test_transformers_loads_the_tokenizer_with_its_special_tokens(trained):
    transformers = pytest.importorskip("transformers")
    tmp_path, _, _ = trained
    tokenize(tmp_path, "tokens")
    for folder in (tmp_path, tmp_path / "tokens"):  # beside train_tokenizer's file, and tokenize's copy
        loaded = transformers.AutoTokenizer.from_pretrained(str(folder))
        assert loaded.eos_token == loaded.bos_token == "<|endoftext|>" and loaded.eos_token_id == 0
        assert loaded.decode(loaded("the river garden")["input_ids"]) == "the river garden"


def test_another_end_of_text_token(trained):
    tmp_path, texts, _ = trained
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(tmp_path / "tokenizer.json"))
    tokenizer.add_special_tokens(["</s>"])
    tokenizer.save(str(tmp_path / "llama-like.json"))
    end = tokenizer.token_to_id("</s>")
    tokenize(tmp_path, "tokens", tokenizer=str(tmp_path / "llama-like.json"), end_of_text="</s>")
    documents = list(TokenShards(tmp_path / "tokens", "train").documents())
    assert documents and all(t[0] == end for t in documents)
    assert json.loads((tmp_path / "tokens" / "special_tokens_map.json").read_text())["eos_token"] == "</s>"
    with pytest.raises(ValueError, match="no <unk> token"):
        tokenize(tmp_path, "other", end_of_text="<unk>")

"""The batched encoding paths of `tokenize` give the ids tiktoken gives each document alone.

BatchEncoder.encode_documents joins runs of documents with <|endoftext|> and encodes each run with one
tiktoken call; the step cuts the splits out of that stream with NumPy. These tests would fail if a
document's ids, its <|endoftext|> or a document boundary moved."""

from __future__ import annotations

import json
import random

import numpy as np
import pyarrow as pa
import pytest

from webcorpus.document import Document
from webcorpus.pipeline.executors import CorpusContext
from webcorpus.stages.write_parquet import ParquetWriter
from webcorpus.tokens.bpe import TrainTokenizer, bucket, load_tokenizer
from webcorpus.tokens.shards import TokenShards
from webcorpus.tokens.tiktoken_bridge import BatchEncoder, as_tiktoken
from webcorpus.tokens.tokenize import Tokenize

PIECES = [
    "The river runs past the library.", "東京の図書館は静かです。", "北京欢迎你，朋友们！", "서울의 아침",
    "emoji 🎉🚀 and flags 🇫🇷🇯🇵", "café naïve Straße", "π ≈ 3.14159", "  leading spaces", "tabs\tand\nnew lines",
    "trailing spaces   ", "trailing new lines\n\n", "'s 've 'll 're 'd 'm", "123456 7890", "¿qué?", "x" * 300,
]  # fmt: skip
EDGES = [
    "", " ", "\n", "   \n  ", "a", "🎉", "東", "ends with a partial <|endof", "|>starts with the tail", "<|endoftext",
    "holds <|endoftext|> itself", "<|endoftext|>", "two <|endoftext|><|endoftext|> in a row", "</s> and <s>",
]  # fmt: skip


def texts(count: int, seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    return ["".join(rng.choice(PIECES) + rng.choice(["", " ", "\n", "  "]) for _ in range(rng.randint(0, 12)))
            for _ in range(count)]  # fmt: skip


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("speed_paths")
    documents = [Document(f"doc-{i:04d}", f"https://example.org/{i}", text) for i, text in enumerate(texts(300))]
    ParquetWriter(rows_per_shard=70).write(documents, tmp / "docs")
    TrainTokenizer(vocab_size=600).run_corpus([tmp / "docs"], tmp / "tokenizer.json", CorpusContext.local())
    return tmp, documents


def expected_stream(encoding, end: int, batch: list[str]) -> np.ndarray:
    return np.array([t for text in batch for t in [end, *encoding.encode_ordinary(text)]], dtype=np.int64)


@pytest.mark.parametrize("threads", [1, 3])
@pytest.mark.parametrize("join_bytes", [1, 50, 100_000])
def test_batched_ids_are_tiktoken_per_document(trained, threads, join_bytes):
    tmp, _ = trained
    tokenizer, end = load_tokenizer(tmp / "tokenizer.json")
    encoding = as_tiktoken(tokenizer)
    encoder = BatchEncoder(tokenizer, threads=threads)
    encoder.JOIN_BYTES = join_bytes  # 1: a run per document; 50: a few; 100,000: one run
    batches = [texts(200, seed=1), EDGES, texts(50, seed=2) + EDGES + texts(50, seed=3), ["only one"], []]
    for batch in batches:
        tokens, lengths = encoder.encode_documents(batch)
        assert encoder.engine == "tiktoken"
        assert tokens.tolist() == expected_stream(encoding, end, batch).tolist()
        assert lengths.tolist() == [len(encoding.encode_ordinary(text)) + 1 for text in batch]
        # An Arrow column (how the step reads Parquet), also sliced and in chunks, gives the same stream.
        column = pa.array(["skipped", *batch, "skipped too"], pa.string())
        half = 1 + len(batch) // 2
        whole = column[1 : len(batch) + 1]
        for arrow in (whole, pa.chunked_array([column[1:half], column[half : len(batch) + 1]]),
                      whole.cast(pa.large_string()), whole.cast(pa.string_view())):  # fmt: skip
            arrow_tokens, arrow_lengths = encoder.encode_documents(arrow)
            assert arrow_tokens.tolist() == tokens.tolist() and arrow_lengths.tolist() == lengths.tolist()
        # The same ids as the list path and as tokenizers, wherever the text does not hold a special token.
        assert [list(map(int, d[1:])) for d in np.split(tokens, np.cumsum(lengths)[:-1])] == (
            encoder.encode(batch) if batch else [[]]
        )
    plain = [text for text in batches[0] if "<" not in text]
    reference = [e.ids for e in tokenizer.encode_batch(plain, add_special_tokens=False)]
    assert [list(map(int, d[1:])) for d in np.split(*_split(encoder.encode_documents(plain)))] == reference


def test_a_null_text_is_an_empty_document(trained):
    tmp, _ = trained
    tokenizer, end = load_tokenizer(tmp / "tokenizer.json")
    encoding = as_tiktoken(tokenizer)
    tokens, lengths = BatchEncoder(tokenizer, threads=1).encode_documents(pa.array(["a river", None, "sea"]))
    assert tokens.tolist() == expected_stream(encoding, end, ["a river", "", "sea"]).tolist()
    assert lengths.tolist()[1] == 1


def _split(encoded: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    tokens, lengths = encoded
    return tokens, np.cumsum(lengths)[:-1]


def test_a_tokenizer_tiktoken_cannot_take_is_encoded_by_tokenizers(trained):
    tmp, _ = trained
    from tokenizers import Tokenizer, models, pre_tokenizers

    word_level = Tokenizer(models.WordLevel({"<|endoftext|>": 0, "[UNK]": 1, "river": 2}, unk_token="[UNK]"))
    word_level.pre_tokenizer = pre_tokenizers.Whitespace()
    encoder = BatchEncoder(word_level)
    tokens, lengths = encoder.encode_documents(["river sea", "", "river"])
    assert encoder.engine == "tokenizers"
    assert tokens.tolist() == [0, 2, 1, 0, 0, 2] and lengths.tolist() == [3, 1, 2]


def test_shards_hold_each_document_as_tiktoken_encodes_it_alone(trained, tmp_path):
    tmp, documents = trained
    tokenizer, end = load_tokenizer(tmp / "tokenizer.json")
    encoding = as_tiktoken(tokenizer)
    outputs = []
    for name, options in [("a", {"threads": 1}), ("b", {"threads": 3, "batch_documents": 7}), ("c", {"threads": 2})]:
        threads = options.pop("threads")
        step = Tokenize(tokenizer=str(tmp / "tokenizer.json"), shard_tokens=500, val_tokens=800, **options)
        step.threads = threads
        step.run_corpus([tmp / "docs"], tmp_path / name, CorpusContext.local(workers=2 if name == "c" else 1))
        outputs.append({p.name: p.read_bytes() for p in (tmp_path / name).glob("*_*.*")})
    assert outputs[0] == outputs[1] == outputs[2]  # threads, batches and workers change no byte
    for split in ("val", "train"):
        shards = TokenShards(tmp_path / "a", split)
        stream = shards.window(0, len(shards))
        # .idx: exactly where each <|endoftext|> is
        assert shards.document_starts().tolist() == np.flatnonzero(stream == end).tolist()
    # Each document once, in input order within its split (val: the lowest id hash buckets).
    val = [d.tolist() for d in TokenShards(tmp_path / "a", "val").documents()]
    train = [d.tolist() for d in TokenShards(tmp_path / "a", "train").documents()]
    buckets = [bucket(d.id) for d in documents]
    bound = sorted(buckets)[len(val) - 1] + 1
    expected = [[end, *encoding.encode_ordinary(d.text)] for d in documents]
    assert 0 < len(val) < len(documents)
    assert val == [ids for ids, b in zip(expected, buckets) if b < bound]
    assert train == [ids for ids, b in zip(expected, buckets) if b >= bound]


def test_a_document_holding_the_separator_text_keeps_ordinary_ids(trained, tmp_path):
    tmp, _ = trained
    # After the first 256 documents: tokenizers, which the first ones are checked against, reads a special
    # token's text as that token (so would tiktoken be refused), tiktoken's ordinary ids as text.
    texts_ = texts(BatchEncoder.CHECKED_DOCUMENTS + 4, seed=9) + EDGES + texts(20, seed=10)
    docs = [Document(f"d{i}", f"https://example.org/{i}", text) for i, text in enumerate(texts_)]
    ParquetWriter().write(docs, tmp_path / "docs")
    result = Tokenize(tokenizer=str(tmp / "tokenizer.json"), val_tokens=0).run_corpus(
        [tmp_path / "docs"], tmp_path / "tokens", CorpusContext.local()
    )
    assert result.figures["engine"] == "tiktoken"
    tokenizer, end = load_tokenizer(tmp / "tokenizer.json")
    encoding = as_tiktoken(tokenizer)
    assert json.loads((tmp_path / "tokens" / "tokens.json").read_text())["train"]["documents"] == len(docs)
    written = [d.tolist() for d in TokenShards(tmp_path / "tokens", "train").documents()]
    assert written == [[end, *encoding.encode_ordinary(d.text)] for d in docs]


def test_another_separator_is_joined_only_when_it_cannot_overlap(trained, tmp_path):
    tmp, _ = trained
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(tmp / "tokenizer.json"))
    tokenizer.add_special_tokens(["</s>", "aba"])
    encoding = as_tiktoken(tokenizer)
    batch = EDGES + ["ab", "a", "ba", "aba aba"] + texts(30, seed=4)
    for separator, joinable in (("</s>", True), ("aba", False)):  # "aba": a prefix that is also a suffix
        encoder = BatchEncoder(tokenizer, threads=2, end_of_text=separator)
        assert encoder.joinable is joinable
        end = tokenizer.token_to_id(separator)
        encoder.encode_documents(texts(10, seed=5))  # checked against tokenizers on plain text first
        assert encoder.engine == "tiktoken"
        tokens, _ = encoder.encode_documents(batch)
        assert tokens.tolist() == expected_stream(encoding, end, batch).tolist()


def test_encoding_threads_share_the_cores_among_busy_workers(monkeypatch):
    from webcorpus.pipeline.executors import CorpusContext
    from webcorpus.tokens.tokenize import encoding_threads

    monkeypatch.setattr("os.cpu_count", lambda: 8)
    context = CorpusContext.local(workers=4)
    try:
        assert encoding_threads(100, context) == 2  # four workers busy: two cores each
        assert encoding_threads(1, context) == 8  # one shard: its worker may use every core
        assert encoding_threads(3, context) == 2
        assert encoding_threads(0, context) == 8
    finally:
        context.executor.close()

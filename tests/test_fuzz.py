"""Seeded mutants of the sample WARC through read_warc: no exception escapes, and every document whose
gzip member lies wholly before the damage comes out (a damaged file keeps what came before it)."""

from __future__ import annotations

import random
import zlib

import pytest

from webcorpus.stages.read_warc import WarcReader
from webcorpus.testing.sample_warc import write_sample

MUTANTS = 300


def members(data: bytes) -> list[tuple[int, int]]:
    """(start, end) byte ranges of the gzip members."""
    spans, start, rest = [], 0, data
    while rest:
        unpacker = zlib.decompressobj(31)
        unpacker.decompress(rest)
        end = start + len(rest) - len(unpacker.unused_data)
        spans.append((start, end))
        start, rest = end, unpacker.unused_data
    return spans


def mutate(data: bytes, spans: list[tuple[int, int]], rng: random.Random) -> tuple[bytes, int]:
    """A damaged copy and the first byte that differs from the original."""
    kind = rng.choice(["flip", "truncate", "insert", "delete", "splice", "zero"])
    at = rng.randrange(len(data))
    if kind == "flip":
        return data[:at] + bytes([data[at] ^ (1 << rng.randrange(8))]) + data[at + 1 :], at
    if kind == "truncate":
        return data[:at], at
    if kind == "insert":
        return data[:at] + rng.randbytes(rng.randint(1, 64)) + data[at:], at
    if kind == "delete":
        return data[:at] + data[at + rng.randint(1, 64) :], at
    if kind == "zero":
        return data[:at] + bytes(rng.randint(1, 512)) + data[at + 512 :], at
    start, end = spans[rng.randrange(len(spans))]  # a member spliced in again somewhere
    return data[:at] + data[start:end] + data[at:], at


@pytest.fixture(scope="module")
def original(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sample")
    write_sample(folder)
    path = folder / "sample-00000.warc.gz"
    data = path.read_bytes()
    spans = members(data)
    # Which documents each member gives: read the members one by one.
    documents = []
    for start, end in spans:
        piece = folder / "piece.warc.gz"
        piece.write_bytes(data[start:end])
        documents.append([d.id for d in WarcReader().read(piece)])
    return data, spans, documents


def test_mutated_warcs_never_raise_and_keep_what_came_before_the_damage(original, tmp_path):
    data, spans, documents = original
    rng = random.Random(20261202)
    path = tmp_path / "mutant.warc.gz"
    kinds_with_loss = 0
    for _ in range(MUTANTS):
        mutant, damage = mutate(data, spans, rng)
        path.write_bytes(mutant)
        reader = WarcReader()
        got = [d.id for d in reader.read(path)]  # must not raise
        intact = [i for (start, end), ids in zip(spans, documents) if end <= damage for i in ids]
        assert got[: len(intact)] == intact, (damage, len(mutant))
        kinds_with_loss += len(got) < sum(len(ids) for ids in documents)
    assert kinds_with_loss > MUTANTS // 3  # the mutants did damage something


def test_every_cut_that_loses_content_is_reported(original, tmp_path):
    """Cut the file at every third byte: a cut is reported, unless it falls in a gzip member's last bytes (its
    trailer and the record's closing blank lines) or on a member boundary, where no content is lost."""
    data, spans, _ = original
    path = tmp_path / "cut.warc.gz"
    unreported = []
    for cut in range(1, len(data), 3):
        path.write_bytes(data[:cut])
        reader = WarcReader()
        list(reader.read(path))
        if not reader.stats.bad_files:
            unreported.append(cut)
    harmless = {cut for start, end in spans for cut in range(max(start, end - 12), end + 1)}
    assert set(unreported) <= harmless, sorted(set(unreported) - harmless)[:10]

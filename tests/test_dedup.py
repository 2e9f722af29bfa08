import hashlib
import json
import random
import tracemalloc

from click.testing import CliRunner

from webcorpus.cli import main
from webcorpus.dedup.minhash import Signer, exact_key, iter_shingles, normalize, shingles
from webcorpus.dedup.stream import ExactDedup, StreamMinHashDedup
from webcorpus.document import Document
from webcorpus.testing.dedup_truth import make_corpus

BANDS, ROWS = 14, 8


def test_normalisation_before_shingling():
    assert normalize("Café  PRICES rose 3.5% in 2024!") == "cafe prices rose 0 0 in 0"
    assert shingles("one two three", 5) == [b"one two three"]
    assert shingles("a b c d e f", 5) == [b"a b c d e", b"b c d e f"]


def test_exact_dedup_ignores_case_and_whitespace_and_keeps_the_first():
    dedup = ExactDedup()
    docs = [Document("1", "u", "Hello  World"), Document("2", "u", "hello world\n"), Document("3", "u", "Other")]
    assert [d.id for d in dedup.run(docs)] == ["1", "3"]
    assert docs[1].metadata["duplicate_of"] == "1"
    assert dedup.stats.dropped == {"exact_duplicate": 1}


def test_streaming_near_dedup_keeps_first_and_points_to_it():
    texts, _ = make_corpus(docs=20)
    base, variant_of_base = texts[0], texts[20]  # variant 0 has edit rate 0: identical text
    dedup = StreamMinHashDedup()
    docs = [Document("a", "u", base), Document("b", "u", texts[1]), Document("c", "u", variant_of_base)]
    assert [d.id for d in dedup.run(docs)] == ["a", "b"]
    assert docs[2].metadata["duplicate_of"] == "a"


def test_signatures_are_deterministic():
    text = "the same text gives the same signature every time it is signed"
    a, b = Signer(5, 112, 1, "sha1").signature(text), Signer(5, 112, 1, "sha1").signature(text)
    assert list(a.hashvalues) == list(b.hashvalues)
    assert list(Signer(5, 112, 2, "sha1").signature(text).hashvalues) != list(a.hashvalues)


def test_shingles_are_the_same_whatever_the_pieces_the_text_is_read_in():
    rng = random.Random(0)
    for _ in range(2000):
        text = "".join(rng.choice(["a", "B", "É", "1", "22", " ", "\n", "ΣΑ", "-", "\u00a0", "ﬁ"]) for _ in range(80))
        size = rng.randint(1, 6)
        words = normalize(text).split()
        whole = [" ".join(words[i : i + size]) for i in range(len(words) - size + 1)] or [" ".join(words)]
        expected = [g.encode() for g in dict.fromkeys(whole) if g]
        assert list(dict.fromkeys(iter_shingles(text, size, rng.randint(1, 20)))) == expected, (text, size)
        assert exact_key(text) == hashlib.sha1(" ".join(text.lower().split()).encode()).hexdigest()


def test_signing_a_long_document_takes_a_few_times_its_size():
    # All shingles at once took ~136x the document's size (datasketch hashes num_perm x shingles values).
    rng = random.Random(0)
    vocabulary = ["".join(rng.choice("abcdefghij") for _ in range(rng.randint(2, 9))) for _ in range(5000)]
    text = " ".join(rng.choice(vocabulary) for _ in range(100_000))
    tracemalloc.start()
    try:
        Signer(5, 112, 1, "sha1").signature(text)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 30 * len(text)


def collides(x, y) -> bool:
    hx, hy = x.hashvalues, y.hashvalues
    return any(list(hx[b * ROWS : (b + 1) * ROWS]) == list(hy[b * ROWS : (b + 1) * ROWS]) for b in range(BANDS))


def test_detection_against_ground_truth():
    texts, pairs = make_corpus(docs=400)
    signer = Signer(shingle_size=5, num_perm=BANDS * ROWS, seed=1, hash="sha1")
    signatures = [signer.signature(t) for t in texts]
    detected = [collides(signatures[p.a], signatures[p.b]) for p in pairs]

    similar = [d for p, d in zip(pairs, detected) if p.jaccard >= 0.8]
    dissimilar = [d for p, d in zip(pairs, detected) if p.jaccard < 0.5]
    recall, false_positive_rate = sum(similar) / len(similar), sum(dissimilar) / len(dissimilar)

    print(f"\nS-curve, {BANDS} bands x {ROWS} rows ({len(pairs)} pairs)")
    print(f"{'jaccard':>12}{'pairs':>7}{'detected':>10}{'theory':>8}")
    for low in [i / 10 for i in range(10)]:
        bucket = [
            (p, d) for p, d in zip(pairs, detected) if low <= p.jaccard < low + 0.1 or (low == 0.9 and p.jaccard == 1)
        ]
        if bucket:
            mid = sum(p.jaccard for p, _ in bucket) / len(bucket)
            theory = 1 - (1 - mid**ROWS) ** BANDS
            rate = sum(d for _, d in bucket) / len(bucket)
            print(f"{low:>5.1f}-{low + 0.1:<5.1f}{len(bucket):>7}{rate:>10.3f}{theory:>8.3f}")
    print(
        f"recall (J >= 0.8): {recall:.3f} over {len(similar)} pairs; "
        f"false positives (J < 0.5): {false_positive_rate:.4f} over {len(dissimilar)} pairs"
    )

    assert len(similar) >= 100 and len(dissimilar) >= 400
    assert recall >= 0.95
    assert false_positive_rate <= 0.01


def test_dedup_subcommand_in_a_pipe():
    texts, _ = make_corpus(docs=5)
    lines = [json.dumps({"id": f"d{i}", "url": "", "text": t}) for i, t in enumerate(texts[:5] + [texts[0]])]
    result = CliRunner().invoke(main, ["stream-minhash-dedup"], input="\n".join(lines) + "\n")
    assert result.exit_code == 0, result.output
    kept = [json.loads(line)["id"] for line in result.stdout.splitlines()]
    assert kept == ["d0", "d1", "d2", "d3", "d4"]
    assert "near_duplicate: 1" in result.stderr

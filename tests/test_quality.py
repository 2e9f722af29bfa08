"""Each quality rule on hand-written documents just inside and just outside its threshold."""

import random
import tracemalloc
from collections import Counter

import numpy as np
import pytest

from webcorpus.document import Document
from webcorpus.pipeline.options import options_of as stage_options
from webcorpus.stages.c4_quality import C4QualityFilter, count_sentences
from webcorpus.stages.fineweb_quality import FineWebQualityFilter
from webcorpus.stages.gopher_quality import GopherQualityFilter
from webcorpus.stages.gopher_repetition import (
    GopherRepetitionFilter,
    duplicated_ngram_chars,
    next_gram_ids,
    top_ngram_chars,
)

SENTENCE = "The library opened a new reading room with views over the harbour and the old town."


def doc(text, **metadata):
    return Document("id", "https://e.org/", text, metadata)


def only(filter_class, **rule):
    """The filter with every optional threshold switched off except `rule`."""
    off = {s.name: None for s in stage_options(filter_class) if s.optional and s.name != "stop_words"}
    return filter_class(**{**off, **rule})


def distinct_words(count, start=0):
    return " ".join(f"word{i}x" for i in range(start, start + count))


# ---- Gopher repetition -------------------------------------------------------------------


@pytest.mark.parametrize("rule,separator", [("dup_para_frac", "\n\n"), ("dup_line_frac", "\n")])
@pytest.mark.parametrize("repeats,expected", [(3, None), (4, "drop")])
def test_duplicate_line_and_paragraph_fractions(rule, separator, repeats, expected):
    # 10 parts of which `repeats` copy the first: 3/10 is not above 0.3, 4/10 is.
    unique = [f"Part {i}: {distinct_words(3, i * 3)}." for i in range(10 - repeats)]
    text = separator.join(unique + [unique[0]] * repeats)
    reason = only(GopherRepetitionFilter, **{rule: 0.3}).filter(doc(text))
    assert reason == (rule if expected else None)


def test_duplicate_paragraph_characters():
    text = "\n\n".join(["A long repeated paragraph about harbours and boats."] * 2 + [distinct_words(40)])
    share = len("A long repeated paragraph about harbours and boats.") / len(text)
    assert only(GopherRepetitionFilter, dup_para_char_frac=share + 0.01).filter(doc(text)) is None
    assert only(GopherRepetitionFilter, dup_para_char_frac=share - 0.01).filter(doc(text)) == "dup_para_char_frac"


def test_duplicate_line_characters():
    text = "\n".join(["A long repeated line about harbours and boats."] * 2 + [distinct_words(40)])
    share = len("A long repeated line about harbours and boats.") / len(text)
    assert only(GopherRepetitionFilter, dup_line_char_frac=share + 0.01).filter(doc(text)) is None
    assert only(GopherRepetitionFilter, dup_line_char_frac=share - 0.01).filter(doc(text)) == "dup_line_char_frac"


@pytest.mark.parametrize("n", [2, 3, 4])
def test_top_ngram_fraction(n):
    gram = " ".join(["blue", "whale", "song", "again"][:n])
    text = f"{gram} " * 10 + distinct_words(30)
    share = len(gram) * 10 / len(text)
    rule = f"top_{n}_gram_frac"
    assert only(GopherRepetitionFilter, **{rule: share + 0.01}).filter(doc(text)) is None
    assert only(GopherRepetitionFilter, **{rule: share - 0.01}).filter(doc(text)) == f"top_{n}_gram"


@pytest.mark.parametrize("n", range(5, 11))
def test_duplicated_ngram_fraction(n):
    phrase = " ".join(f"piece{i}" for i in range(n))
    text = f"{phrase} {distinct_words(20)} {phrase} {distinct_words(20, 20)}"
    share = len(phrase.replace(" ", "")) / len(text)  # the second copy, characters without spaces
    rule = f"dup_{n}_gram_frac"
    assert only(GopherRepetitionFilter, **{rule: share + 0.005}).filter(doc(text)) is None
    assert only(GopherRepetitionFilter, **{rule: share - 0.005}).filter(doc(text)) == f"dup_{n}_gram"


def reference_ngram_chars(words: list[str], n: int) -> tuple[int, int]:
    """Gopher's two n-gram measures with tuples of words, written the plain way (datatrove's)."""
    grams = Counter(zip(*(words[i:] for i in range(n))))
    top, count = grams.most_common(1)[0]
    seen, repeated, i = set(), 0, 0
    while i <= len(words) - n:
        gram = tuple(words[i : i + n])
        if gram in seen:
            repeated += sum(map(len, gram))
            i += n
        else:
            seen.add(gram)
            i += 1
    return (sum(map(len, top)) + n - 1) * count, repeated


def test_ngram_measures_on_integer_ids_equal_the_plain_way():
    rng = random.Random(3)
    for _ in range(300):
        vocabulary = [f"w{i}" * rng.randint(1, 3) for i in range(rng.randint(1, 12))]
        words = [rng.choice(vocabulary) for _ in range(rng.randint(10, 200))]
        word_ids = np.array([vocabulary.index(w) for w in words])
        chars_before = np.concatenate(([0], np.cumsum([len(w) for w in words])))
        gram_ids = word_ids
        for n in range(2, 11):
            gram_ids = next_gram_ids(gram_ids, word_ids, n)
            expected = reference_ngram_chars(words, n)
            got = (top_ngram_chars(gram_ids, chars_before, n), duplicated_ngram_chars(gram_ids, chars_before, n))
            assert got == expected, (words, n)


def traced_peak(step, text: str) -> int:
    """Peak of Python's (and numpy's) allocations while `step` judges one document."""
    document = Document("big", "https://example.com/", text, {"language": "en"})
    tracemalloc.start()
    try:
        step.filter(document)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_repetition_rules_on_a_long_document_take_a_few_times_its_size():
    # n-grams as tuples of words took ~46x the document's size, 730 MB for a 12 MB document.
    rng = random.Random(0)
    vocabulary = ["".join(rng.choice("abcdefghij") for _ in range(rng.randint(2, 9))) for _ in range(5000)]
    text = " ".join(rng.choice(vocabulary) + rng.choice(["", "", "", ".", ","]) for _ in range(60_000))
    assert traced_peak(GopherRepetitionFilter(), text) < 35 * len(text)


def test_defaults_keep_normal_prose_and_drop_spam():
    prose = " ".join(f"{SENTENCE[:-1]} number {i}." for i in range(20))
    gopher = GopherRepetitionFilter()
    assert gopher.filter(doc(distinct_words(100))) is None
    assert gopher.filter(doc("buy cheap watches now " * 50)) is not None
    assert gopher.filter(doc("")) == "empty"
    assert gopher.filter(doc(prose)) is not None  # 20 near-copies of one sentence


# ---- Gopher quality ----------------------------------------------------------------------


def test_word_count_bounds_ignore_punctuation_words():
    fifty = distinct_words(50) + " , . ; !"
    assert only(GopherQualityFilter, min_doc_words=50).filter(doc(fifty)) is None
    assert only(GopherQualityFilter, min_doc_words=51).filter(doc(fifty)) == "short_doc"
    assert only(GopherQualityFilter, max_doc_words=50).filter(doc(fifty)) is None
    assert only(GopherQualityFilter, max_doc_words=49).filter(doc(fifty)) == "long_doc"


def test_mean_word_length_bounds():
    assert only(GopherQualityFilter, min_avg_word_length=3).filter(doc("abc " * 10)) is None
    assert only(GopherQualityFilter, min_avg_word_length=3).filter(doc("ab " * 10)) == "short_words"
    assert only(GopherQualityFilter, max_avg_word_length=10).filter(doc("a" * 10 + " ")) is None
    assert only(GopherQualityFilter, max_avg_word_length=10).filter(doc("a" * 11 + " ")) == "long_words"


def test_hash_and_ellipsis_ratios():
    words = distinct_words(20)
    rule = {"max_symbol_word_ratio": 0.1}
    # '#' is a word of its own, so 2 hashes make 22 words: 2/22 < 0.1, 3/23 > 0.1.
    assert only(GopherQualityFilter, **rule).filter(doc(words + " # #")) is None
    assert only(GopherQualityFilter, **rule).filter(doc(words + " # # #")) == "too_many_hashes"
    assert only(GopherQualityFilter, **rule).filter(doc(words + " … …")) is None
    assert only(GopherQualityFilter, **rule).filter(doc(words + " … … …")) == "too_many_ellipsis"


def test_bullet_and_ellipsis_line_ratios():
    bullets = "\n".join([f"• item {i} here" for i in range(9)] + ["a closing line"])
    assert only(GopherQualityFilter, max_bullet_lines_ratio=0.9).filter(doc(bullets)) is None
    assert only(GopherQualityFilter, max_bullet_lines_ratio=0.8).filter(doc(bullets)) == "too_many_bullets"
    trailing = "\n".join([f"and then {i}..." for i in range(3)] + [f"line {i} ends well" for i in range(7)])
    assert only(GopherQualityFilter, max_ellipsis_lines_ratio=0.3).filter(doc(trailing)) is None
    assert only(GopherQualityFilter, max_ellipsis_lines_ratio=0.2).filter(doc(trailing)) == "too_many_end_ellipsis"


def test_alphabetic_word_ratio_counts_punctuation_words():
    text = "alpha beta gamma delta 42 ."  # 4 of 6 words hold a letter
    assert only(GopherQualityFilter, min_alpha_words_ratio=0.66).filter(doc(text)) is None
    assert only(GopherQualityFilter, min_alpha_words_ratio=0.67).filter(doc(text)) == "few_alpha_words"


def test_stop_words():
    assert only(GopherQualityFilter, min_stop_words=2).filter(doc("the cat and the dog")) is None
    assert only(GopherQualityFilter, min_stop_words=2).filter(doc("the cat the dog")) == "few_stop_words"
    custom = only(GopherQualityFilter, min_stop_words=2, stop_words=["der", "und"])
    assert custom.filter(doc("der Hund und die Katze")) is None


def test_defaults_on_real_prose():
    prose = " ".join([SENTENCE, "It is open to everyone and has a small cafe with a garden."] * 4)
    assert GopherQualityFilter().filter(doc(prose)) is None
    assert GopherQualityFilter().filter(doc("Click here to subscribe now")) == "short_doc"


# ---- C4 ----------------------------------------------------------------------------------


def c4_text(*extra_lines, sentences=5):
    body = [f"{SENTENCE[:-1]} line {i}." for i in range(sentences)]
    return "\n".join([*body, *extra_lines])


def test_c4_line_cleaning():
    text = c4_text(
        "Please enable JavaScript to view the comments.",
        "This site uses cookies to improve your experience.",
        "Read our privacy policy for details.",
        "Too short.",
        "A line with a " + "x" * 1001 + " word.",
        "See the footnote[1] and the [citation needed] remark[edit].",
        "A line without an ending mark",
    )
    d = doc(text)
    assert C4QualityFilter().filter(d) is None
    lines = d.text.split("\n")
    assert lines[:5] == text.split("\n")[:5]
    assert lines[5:] == ["See the footnote and the  remark.", "A line without an ending mark"]
    strict = doc(text)
    assert C4QualityFilter(filter_no_terminal_punct=True).filter(strict) is None
    assert "A line without an ending mark" not in strict.text


def test_c4_options_turn_rules_off():
    d = doc(c4_text("Please enable JavaScript now.", "Too short."))
    C4QualityFilter(filter_javascript=False, min_words_per_line=-1).filter(d)
    assert "Please enable JavaScript now." in d.text and "Too short." in d.text


def test_c4_document_rules():
    assert C4QualityFilter().filter(doc(c4_text(sentences=5))) is None
    assert C4QualityFilter().filter(doc(c4_text(sentences=4))) == "too_few_sentences"
    assert C4QualityFilter(min_num_sentences=4).filter(doc(c4_text(sentences=4))) is None
    assert C4QualityFilter().filter(doc(c4_text("Lorem ipsum dolor sit amet."))) == "lorem_ipsum"
    assert C4QualityFilter().filter(doc(c4_text("The code is if (x) { y } here."))) == "curly_bracket"
    assert C4QualityFilter(filter_curly_bracket=False).filter(doc(c4_text("Code: if (x) { y } ok."))) is None


def test_sentences_are_counted_as_spacy_does():
    assert count_sentences("One sentence here.") == 1
    assert count_sentences("One. Two! Three? Four.") == 4
    assert count_sentences('He said "stop." Then he left.') == 2
    assert count_sentences("Dr. Smith met Mr. Jones in the U.S. today.") == 1
    assert count_sentences("Prices rose 3.5 percent in May.") == 1


# ---- FineWeb quality ---------------------------------------------------------------------


def test_line_punctuation_ratio():
    lines = ["A line that ends well."] + [f"list item {i} goes on" for i in range(7)]  # 1 of 8 = 0.125
    relaxed = {"short_line_thr": 1, "char_duplicates_ratio": 1, "new_line_ratio": 1}
    assert FineWebQualityFilter(line_punct_thr=0.12, **relaxed).filter(doc("\n".join(lines))) is None
    assert FineWebQualityFilter(line_punct_thr=0.13, **relaxed).filter(doc("\n".join(lines))) == "line_punct_ratio"
    no_punctuation = "\n".join(lines[1:])
    assert FineWebQualityFilter(**relaxed).filter(doc(no_punctuation)) == "line_punct_ratio"
    assert FineWebQualityFilter(line_punct_exclude_zero=True, **relaxed).filter(doc(no_punctuation)) is None


def test_short_line_ratio():
    long_line = "This line is comfortably longer than thirty characters."
    lines = [f"{long_line} {i}" for i in range(3)]
    shorts = [f"Short line {i}." for i in range(6)]  # 6 of 9 = 0.667 short
    text = "\n".join(lines + shorts)
    relaxed = FineWebQualityFilter(char_duplicates_ratio=1, new_line_ratio=1)
    assert relaxed.filter(doc(text)) is None
    strict = FineWebQualityFilter(short_line_thr=0.66, char_duplicates_ratio=1, new_line_ratio=1)
    assert strict.filter(doc(text)) == "short_line_ratio"


def test_duplicated_characters_ratio():
    lines = [f"{SENTENCE} Variation {i}." for i in range(10)]
    text = "\n".join(lines + [lines[0]])
    share = len(lines[0]) / len(text.replace("\n", ""))
    assert FineWebQualityFilter(char_duplicates_ratio=share + 0.001).filter(doc(text)) is None
    assert FineWebQualityFilter(char_duplicates_ratio=share - 0.001).filter(doc(text)) == "char_dup_ratio"


def test_list_ratio():
    text = "\n".join(f"Item {i} is fine." for i in range(10))  # 9 newlines, 50 words (periods count)
    assert FineWebQualityFilter(new_line_ratio=0.18, short_line_thr=1).filter(doc(text)) is None
    assert FineWebQualityFilter(new_line_ratio=0.17, short_line_thr=1).filter(doc(text)) == "list_ratio"


# ---- bad input ---------------------------------------------------------------------------

QUALITY_FILTERS = [GopherRepetitionFilter, GopherQualityFilter, C4QualityFilter, FineWebQualityFilter]
BAD_INPUT = {
    "empty": "",
    "whitespace": " \n\n\t ",
    "one enormous line": "word " * 200_000,
    "binary junk": bytes(range(256)).decode("latin-1") * 4_000,
    "punctuation run": "!" * 1_000_000,
    "ten megabytes": (SENTENCE + "\n") * 120_000,
}


@pytest.mark.parametrize("name", BAD_INPUT)
@pytest.mark.parametrize("filter_class", QUALITY_FILTERS)
def test_bad_input_never_raises(filter_class, name):
    reason = filter_class().filter(doc(BAD_INPUT[name]))
    assert reason is None or isinstance(reason, str)


def test_drop_reasons_carry_the_stage_name():
    gopher = GopherQualityFilter()
    dropped = []
    gopher.on_drop = lambda d, reason: dropped.append(reason)
    list(gopher.run([doc("too short")]))
    assert dropped == ["gopher_quality:short_doc"]

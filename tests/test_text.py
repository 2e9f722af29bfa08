"""Word splitting. Expected outputs are what spaCy's blank English tokenizer gives (checked by hand)."""

import pytest

from webcorpus.text import find_duplicates, has_alpha, is_symbol, split_words


@pytest.mark.parametrize(
    "text,words",
    [
        ("I dont know, im sure", ["I", "do", "nt", "know", ",", "i", "m", "sure"]),
        ("cant wont isnt youre ive", ["ca", "nt", "wo", "nt", "is", "nt", "you", "re", "i", "ve"]),
        ("It is here, its well.", ["It", "is", "here", ",", "its", "well", "."]),
        ("John's it's don't I'm", ["John", "'s", "it", "'s", "do", "n't", "I", "'m"]),
        ("c'est o'clock", ["c'est", "o'clock"]),
        (
            "Dr. Smith vs. S. K. Jones e.g. U.S. end a.",
            ["Dr.", "Smith", "vs.", "S.", "K.", "Jones", "e.g.", "U.S.", "end", "a."],
        ),
        ("well-known Covid-19 a/b and/or /usr", ["well", "-", "known", "Covid-19", "a", "/", "b", "and/or", "/usr"]),
        (
            "3.5 1,000 12:30 $5 50% (see) [1]",
            ["3.5", "1,000", "12:30", "$", "5", "50", "%", "(", "see", ")", "[", "1", "]"],
        ),
        ("hello...world wait... yes!? a--b", ["hello", "...", "world", "wait", "...", "yes", "!", "?", "a", "--", "b"]),
        ("“quoted” 'single' lower.Upper", ["“", "quoted", "”", "'", "single", "'", "lower", ".", "Upper"]),
        ("@sam_ponder 2X https://example.com/a?b=1.", ["@sam_ponder", "2X", "https://example.com/a?b=1", "."]),
    ],
)
def test_splits_like_spacy_english(text, words):
    assert list(split_words(text)) == words


def test_segmented_languages_count_their_words():
    assert split_words("作曲：周杰伦 hello") == ("作曲：周杰伦", "hello")
    assert split_words("作曲：周杰伦 hello", "zh") == ("作曲", "：", "周杰伦", "hello")
    assert split_words("秋の京都を歩く", "ja") == ("秋", "の", "京都", "を", "歩く")
    assert split_words("パソコンでブログを書きました。", "ja")[:4] == ("パソコン", "で", "ブログ", "を")
    assert split_words("오늘은 서울에 갔습니다.", "ko")[:4] == ("오늘", "은", "서울", "에")
    assert split_words("ผมไปโรงเรียนทุกวัน", "th") == ("ผม", "ไป", "โรงเรียน", "ทุกวัน")


def test_scripts_without_a_segmenter_count_graphemes():
    # Khmer: a consonant with its vowel signs and coeng is one "word", never a bare combining mark.
    words = split_words("ខ្ញុំស្រឡាញ់ abc", "km")
    assert words[0] == "ខ្ញុំ" and words[-1] == "abc"
    assert all(has_alpha(word) for word in words)


def test_symbols_and_letters():
    assert is_symbol("...") and is_symbol("—") and not is_symbol("a.")
    assert has_alpha("x1") and has_alpha("é") and not has_alpha("42") and not has_alpha("_")


def test_find_duplicates_counts_repeats_and_their_characters():
    assert find_duplicates(["ab", "c", "ab", "ab", "c"]) == (3, 5)
    assert find_duplicates([]) == (0, 0)


def test_long_chunks_split_in_linear_passes():
    words = split_words("((" + "a" * 500 + "-b))")
    assert words == ("(", "(", "a" * 500, "-", "b", ")", ")")
    assert len(split_words("!" * 100_000)) == 100_000

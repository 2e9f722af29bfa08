import pytest

from webcorpus.document import Document
from webcorpus.stages.langid import LanguageFilter

ENGLISH = "The library reopened on Saturday after a renovation that lasted more than two years."
GERMAN = "Am vergangenen Samstag trafen sich mehr als vierzig Mitglieder unseres Vereins im Garten."


@pytest.fixture(scope="module")
def english_only():
    return LanguageFilter(languages=["en"])


def test_keeps_listed_language_and_records_it(english_only):
    doc = Document("1", "u", ENGLISH)
    assert english_only.filter(doc) is None
    assert doc.metadata["language"] == "en"
    assert 0.65 < doc.metadata["language_score"] <= 1.0


def test_drops_other_languages_and_low_scores(english_only):
    german = Document("2", "u", GERMAN)
    assert english_only.filter(german) == "language"
    assert german.metadata["language"] == "de"
    assert english_only.filter(Document("3", "u", "4471-220 / 4471-221 — 12 x 220 mm")) == "low_score"


def test_threshold_option():
    doc = Document("4", "u", "hello there")
    strict, lenient = LanguageFilter(languages=["en"], threshold=0.99), LanguageFilter(languages=["en"], threshold=0.0)
    score = LanguageFilter().predict("hello there")[1]
    assert strict.filter(doc) == ("low_score" if score <= 0.99 else None)
    assert lenient.filter(doc) is None or doc.metadata["language"] != "en"


def test_no_language_list_keeps_any_confident_language():
    any_language = LanguageFilter()
    assert any_language.filter(Document("5", "u", GERMAN)) is None


def test_label_only_drops_nothing_but_labels_everything():
    labeller = LanguageFilter(languages=["en"], label_only=True)
    docs = [Document(str(i), "u", t) for i, t in enumerate([ENGLISH, GERMAN, "%%% 123"])]
    kept = list(labeller.run(docs))
    assert len(kept) == 3
    assert [d.metadata["language"] for d in kept[:2]] == ["en", "de"]
    assert all("language_score" in d.metadata for d in kept)


def test_newlines_are_folded_before_prediction(english_only):
    # fastText reads one line: without folding, only the first (German) line would count.
    mixed = GERMAN[:20] + "\n" + " ".join([ENGLISH] * 5)
    assert english_only.filter(Document("6", "u", mixed)) is None

"""quick_langid: a cheap language check before extraction that never loses a page langid keeps."""

import glob

import pytest
from conftest import REPO

from webcorpus.document import Document
from webcorpus.parquet import read_documents
from webcorpus.pipeline.config import load_pipeline
from webcorpus.pipeline.runner import run_pipeline
from webcorpus.stages.quick_langid import QuickLanguageFilter, text_stretches
from webcorpus.testing.sample_warc import ENGLISH

GERMAN = [
    "Der Verein traf sich am Samstag im Stadtgarten, um die Beete für den Frühling vorzubereiten. Viele Mitglieder "
    "brachten eigenes Werkzeug mit, und nach wenigen Stunden waren alle Wege frei und die Hecken geschnitten.",
    "Im Anschluss gab es Kaffee und Kuchen im Vereinsheim. Der Vorstand dankte allen Helferinnen und Helfern und "
    "kündigte an, dass im Mai ein gemeinsamer Ausflug in den botanischen Garten geplant ist.",
]
GERMAN_SITE = (
    "<nav><ul><li>Startseite</li><li>Über uns</li><li>Veranstaltungen</li><li>Kontakt</li><li>Impressum</li></ul></nav>"
    "<aside><h3>Neueste Beiträge</h3><ul><li>Rückblick auf das Sommerfest im Stadtgarten</li>"
    "<li>Einladung zur Mitgliederversammlung im Herbst</li><li>Neue Öffnungszeiten der Bibliothek</li></ul>"
    "<p>Wir sind ein gemeinnütziger Verein und freuen uns über jede Unterstützung aus der Nachbarschaft.</p></aside>"
)


def page(body: str) -> Document:
    return Document("p", "https://example.de/", f"<html><head><title>T</title></head><body>{body}</body></html>")


def test_visible_text_comes_in_stretches_of_whole_blocks():
    html = (
        "<html><head><title>skip me</title><style>p {color: red}</style></head><body>"
        "<script>var english = 'not text';</script\n junk><!-- a comment -->"
        "<p>One &amp; <b>two</b></p><div>three</div><p>four</p></body></html>"
    )
    assert list(text_stretches(html, 1)) == ["One & two", "three", "four"]
    assert list(text_stretches(html, 12)) == ["One & two three", "four"]


def test_unclosed_markup_hides_the_rest_of_the_page_and_costs_linear_time():
    quick = QuickLanguageFilter(languages=["en"])
    german = "".join(f"<p>{p}</p>" for p in GERMAN)
    assert list(text_stretches("<p>Hallo Welt</p><script>var x = 1;", 1)) == ["Hallo Welt"]
    assert list(text_stretches("<p>Hallo Welt</p><!-- <p>Hello</p>", 1)) == ["Hallo Welt"]
    # Each of these took minutes when every unclosed tag was searched to the end of the page.
    for unit in ("<script>", "<!--", "<style x", "<p ", "<", "<title>"):
        assert quick.filter(page(german + unit * 50_000)) == "language", unit


def test_an_english_article_on_a_german_site_goes_on_and_a_german_page_is_dropped():
    quick = QuickLanguageFilter(languages=["en"])
    _, english = next(iter(ENGLISH.values()))
    english_on_german_site = page(GERMAN_SITE + "".join(f"<p>{p}</p>" for p in english[:2]))
    german = page(GERMAN_SITE + "".join(f"<p>{p}</p>" for p in GERMAN))
    assert quick.filter(english_on_german_site) is None
    assert quick.filter(german) == "language"
    assert quick.filter(page("<script>only a script</script>")) is None  # nothing to judge: extraction decides
    assert QuickLanguageFilter(languages=["de"]).filter(german) is None


def test_without_languages_every_page_goes_on_and_no_model_is_loaded():
    quick = QuickLanguageFilter()
    assert quick.model is None
    assert quick.filter(page("".join(f"<p>{p}</p>" for p in GERMAN))) is None


def first_stage(inputs: list[str], output, exact: bool) -> dict[str, str]:
    config = load_pipeline(REPO / "pipelines" / "fineweb.yaml")
    config.input, config.output = inputs, str(output)
    roles = [step.role for step in config.steps]
    config.steps = config.steps[: roles.index("corpus")]
    assert config.steps[2].name == "quick_langid"
    if exact:
        del config.steps[2]
    run_pipeline(config, workers=2, progress=False)
    return {d.url: d.text for d in read_documents(output / "data")}


def test_the_sample_keeps_the_same_pages_and_texts_with_and_without_it(tmp_path):
    from webcorpus.testing.sample_warc import write_sample

    write_sample(tmp_path / "in")
    inputs = [str(tmp_path / "in" / "*.warc.gz")]
    quick, exact = first_stage(inputs, tmp_path / "quick", False), first_stage(inputs, tmp_path / "exact", True)
    assert quick == exact and len(quick) >= 5


def test_the_dev_pages_keep_the_same_pages_and_texts_with_and_without_it(tmp_path):
    warcs = sorted(glob.glob(str(REPO.parent / "shared/data/warc/dev-*.warc.gz")))
    if not warcs:
        pytest.skip("../shared/data/warc/dev-*.warc.gz not present (shared development data)")
    quick, exact = first_stage(warcs, tmp_path / "quick", False), first_stage(warcs, tmp_path / "exact", True)
    assert quick == exact and len(quick) > 100

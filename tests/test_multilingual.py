"""Every language a first-class input: words per language, FineWeb-2's per-language thresholds, the
fineweb2 recipe, dedup on the language's words, and the errors a multilingual user meets."""

import subprocess
import sys
from pathlib import Path

import pytest

from webcorpus.dedup.batch import MinHashDedup
from webcorpus.dedup.minhash import normalize, shingles
from webcorpus.dedup.stream import StreamMinHashDedup
from webcorpus.document import Document
from webcorpus.languages.table import load_table
from webcorpus.parquet import read_documents
from webcorpus.pipeline.config import ConfigError, load_pipeline
from webcorpus.pipeline.executors import CorpusContext
from webcorpus.pipeline.options import OptionError
from webcorpus.stages.c4_quality import count_sentences
from webcorpus.stages.fineweb_quality import FineWebQualityFilter
from webcorpus.stages.gopher_quality import GopherQualityFilter
from webcorpus.stages.gopher_repetition import GopherRepetitionFilter
from webcorpus.stages.langid import LanguageFilter
from webcorpus.stages.write_parquet import ParquetWriter
from webcorpus.text import words_of

sys.path.insert(0, str(Path(__file__).parent))
from multilingual_articles import ARTICLES, text_of  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
LANGUAGES = sorted(ARTICLES)
# FineWeb-2's settings that are the same for every language (fineweb-2-pipeline.py), as the recipe sets them.
RECIPE = {
    GopherRepetitionFilter: {"dup_para_frac": None, "dup_para_char_frac": None, "dup_line_char_frac": None},
    FineWebQualityFilter: {"short_line_thr": None, "char_duplicates_ratio": 0.1},
    GopherQualityFilter: {},
}


def document(language: str, text: str | None = None) -> Document:
    return Document(
        f"{language}-1", f"https://news.example/{language}/1", text or text_of(language), {"language": language}
    )


@pytest.mark.parametrize("language", LANGUAGES)
def test_fineweb2_thresholds_keep_good_articles_that_english_rules_drop(language):
    # FineWeb's English rules drop every one of these articles (word length, stop words, punctuation) ...
    english = [GopherQualityFilter().filter(document(language)), FineWebQualityFilter().filter(document(language))]
    assert any(english), english
    # ... each language's own thresholds and stop words keep them, as FineWeb-2 would.
    for cls, options in RECIPE.items():
        assert cls(language_thresholds="fineweb2", **options).filter(document(language)) is None, cls.name


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_stop_words_are_the_languages_own(language):
    step = GopherQualityFilter(language_thresholds="fineweb2")
    rules = step.for_language(document(language))
    assert rules is not step and rules.stop_words == frozenset(
        load_table("fineweb2")["languages"][language]["stopwords"]
    )
    if language != "ko":  # Kiwi would find other particles in Korean text with some taken out
        # The same article with its stop words taken out is dropped for lack of them.
        stripped = "".join(w for w in words_of(text_of(language), language) if w not in rules.stop_words)
        assert step.filter(document(language, stripped)) == "few_stop_words"


def test_english_keeps_fineweb_thresholds_and_a_language_can_be_overridden():
    step = GopherQualityFilter(language_thresholds="fineweb2", per_language={"ja": {"min_avg_word_length": 5}})
    english = Document("en", "https://e.org", "the cat", {"language": "en"})
    assert step.for_language(english) is step  # no FineWeb-2 config for English: the step's own options
    assert step.filter(document("ja")) == "short_words"
    assert step.filter(document("zh")) is None
    lid = LanguageFilter(language_thresholds="fineweb2", per_language={"ko": {"threshold": 0.5}})
    table = load_table("fineweb2")["languages"]
    assert lid.threshold_for("ja") == table["ja"]["language_score"]
    assert lid.threshold_for("ko") == 0.5 and lid.threshold_for("en") == 0.65
    with pytest.raises(OptionError, match="unknown option 'min_avg_word_lenght' for per_language.ja"):
        GopherQualityFilter(per_language={"ja": {"min_avg_word_lenght": 5}})


def test_the_table_covers_every_language_langid_names_but_english():
    table = load_table("fineweb2")
    assert table["no_config"] == ["en"]
    assert "d0defb24f193bb9a5a11b8b14524a03c4858e1b6" in table["source"]
    configs = {
        language: table["languages"][language]["config"] for language in ("ja", "zh", "ko", "th", "ru", "ar", "hi")
    }
    assert configs == {"ja": "jpn_Jpan", "zh": "cmn_Hani", "ko": "kor_Hang", "th": "tha_Thai", "ru": "rus_Cyrl",
                       "ar": "arb_Arab", "hi": "hin_Deva"}  # fmt: skip


def test_the_fineweb2_recipe_loads_and_a_bad_per_language_key_names_file_line_and_key(tmp_path):
    config = load_pipeline(REPO / "pipelines" / "fineweb2.yaml")
    names = [step.name for step in config.steps]
    assert "c4_quality" not in names and names.index("gopher_repetition") < names.index("gopher_quality")
    text = (REPO / "pipelines" / "fineweb2.yaml").read_text()
    bad = text.replace(
        "  - gopher_quality:\n      language_thresholds: fineweb2\n",
        "  - gopher_quality:\n      language_thresholds: fineweb2\n      per_language:\n"
        "        ja: {min_avg_word_lenght: 1.2}\n",
    )
    assert bad != text
    path = tmp_path / "p.yaml"
    path.write_text(bad)
    line = bad.splitlines().index("        ja: {min_avg_word_lenght: 1.2}") + 1
    with pytest.raises(ConfigError) as error:
        load_pipeline(path)
    assert str(error.value).startswith(f"{path}:{line}: steps[")
    assert ".gopher_quality.per_language.ja.min_avg_word_lenght: unknown option 'min_avg_word_lenght'" in str(
        error.value
    )
    path.write_text(bad.replace("min_avg_word_lenght: 1.2", "min_avg_word_length: many"))
    with pytest.raises(
        ConfigError, match="per_language.ja.min_avg_word_length: 'min_avg_word_length' must be a number"
    ):
        load_pipeline(path)


def test_a_missing_segmenter_is_one_line_naming_the_extra():
    code = (
        "import sys; sys.modules['sudachipy'] = None\n"
        "from webcorpus.stages.langid import LanguageFilter\n"
        "LanguageFilter(languages=['ja'])\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert result.returncode != 0
    assert (
        result.stderr.strip()
        .splitlines()[-1]
        .endswith(
            "MissingSegmenter: words of 'ja' documents are counted with sudachipy, which is not installed: "
            "pip install 'webcorpus[multilingual]'"
        )
    )


def test_sentences_and_line_ends_know_cjk_marks():
    assert count_sentences("今日は晴れです。明日は雨が降ります！あさっては雪でしょうか？", "ja") == 3
    assert count_sentences("今天天气很好。明天会下雨！", "zh") == 2
    lines = "\n".join(f"第{i}行的内容比较长，结尾有句号。" for i in range(10))
    assert FineWebQualityFilter(short_line_thr=None).filter(document("zh", lines)) != "line_punct_ratio"


def test_normalize_keeps_the_marks_of_other_scripts():
    assert normalize("パソコンでブログ") == "パソコンでブログ"  # kana voicing marks stay on their kana
    assert normalize("हिन्दी भाषा") == "हिन्दी भाषा"  # the virama
    assert normalize("ภาษาไทย") == "ภาษาไทย"
    assert normalize("Café, naïve! 2024 foo_bar") == "cafe naive 0 foo bar"


def edited(text: str, edits: int) -> str:
    """`edits` one-character changes spread evenly over the text (never on a line break)."""
    characters = list(text)
    for k in range(1, edits + 1):
        i = len(characters) * k // (edits + 1)
        while characters[i] in "\n。，、！？ " or not characters[i].isalpha():
            i += 1
        characters[i] = "人" if characters[i] != "人" else "山"
    return "".join(characters)


def jaccard(a: list[bytes], b: list[bytes]) -> float:
    return len(set(a) & set(b)) / len(set(a) | set(b))


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("edits", [1, 3])
def test_cjk_near_duplicates_are_found(language, edits):
    original, copy = text_of(language), edited(text_of(language), edits)
    assert copy != original
    # Shingles of the language's words: a small edit changes a few of them, not whole clauses.
    assert jaccard(shingles(original, 5, language), shingles(copy, 5, language)) >= 0.8
    step = StreamMinHashDedup()
    assert step.filter(document(language, original)) is None
    assert step.filter(document(language, copy)) == "near_duplicate"


def test_by_language_dedups_each_language_apart(tmp_path):
    text = "\n".join(f"Line {i}: 12345 67890 https://example.org/{i} 2024-05-01" for i in range(40))
    docs = [
        Document(f"d{i}", f"https://e.org/{i}", text, {"language": language})
        for i, language in enumerate(["ja", "zh", "ja"])
    ]
    ParquetWriter().write(docs, tmp_path / "in")
    for by_language, kept in ((False, {"d0"}), (True, {"d0", "d1"})):
        out = tmp_path / f"out-{by_language}"
        MinHashDedup(by_language=by_language).run_corpus([tmp_path / "in"], out, CorpusContext.local(1))
        assert {d.id for d in read_documents(out / "data")} == kept


REAL_PAGES = REPO / "tests" / "data" / "multilingual-test.warc.gz"  # real pages: bench/data/multilingual/README.md


def first_stage(tmp_path, name: str, steps: str) -> dict:
    from webcorpus.pipeline.runner import run_pipeline

    path = tmp_path / f"{name}.yaml"
    path.write_text(f"input: {REAL_PAGES}\noutput: {tmp_path / name}\nsteps:\n{steps}  - write_parquet: {{}}\n")
    result = run_pipeline(load_pipeline(path), workers=1, progress=False)
    return {report.name: report.stats for report in result.steps}


def test_real_cjk_pages_pass_fineweb2_and_fail_english_fineweb(tmp_path):
    recipe = (REPO / "pipelines" / "fineweb2.yaml").read_text()
    steps = recipe[recipe.index("  - read_warc:") : recipe.index("  - write_parquet:")]
    fineweb2 = first_stage(tmp_path, "fineweb2", steps)
    kept = {}
    for document in read_documents(tmp_path / "fineweb2" / "data"):
        kept[document.metadata["language"]] = kept.get(document.metadata["language"], 0) + 1
    assert kept.get("ja", 0) >= 3 and kept.get("zh", 0) >= 4 and kept.get("ko", 0) >= 3, kept
    english_rules = steps.replace("language_thresholds: fineweb2", "language_thresholds: null")
    english_rules = english_rules.replace("languages: []", "languages: [ja, zh, ko, th]")
    english = first_stage(tmp_path, "fineweb", english_rules)
    assert english["langid"].kept >= 10
    assert english["write_parquet"].kept == 0
    assert english["gopher_quality"].dropped["short_words"] + english["gopher_quality"].dropped["few_stop_words"] > 0
    assert fineweb2["gopher_quality"].dropped["short_words"] == 0


def test_nothing_kept_points_other_languages_to_the_fineweb2_recipe(tmp_path):
    from collections import Counter

    from webcorpus.pipeline.runner import NO_SPACE_HINT, OTHER_LANGUAGE_HINT, RunResult, StepReport, nothing_kept
    from webcorpus.pipeline.step import StageStats

    def result(language: str) -> RunResult:
        dropped = StageStats(documents_in=4, dropped=Counter(short_words=4))
        dropped.count("language_dropped")[language] = 4
        steps = [StepReport("gopher_quality", "filter", False, dropped), StepReport("write_parquet", "write", False)]
        return RunResult(steps, 1, 0, [], tmp_path, tmp_path / "data", 1.0)

    assert nothing_kept(result("ko")) == [
        "nothing kept: gopher_quality dropped 4 of 4 as short_words",
        OTHER_LANGUAGE_HINT,
    ]
    assert nothing_kept(result("ja"))[1:] == [NO_SPACE_HINT]
    assert nothing_kept(result("en"))[1:] == []


def test_a_long_line_of_japanese_or_korean_is_segmented_in_pieces():
    # 217,500 bytes on one line: SudachiPy refuses inputs over 49,149 bytes, and Kiwi slows down more than
    # linearly on long inputs, so both get the text a piece at a time (cut after a sentence mark or newline).
    japanese = "パソコンでブログを書きました、今日は東京タワーに行きました。" * 2400
    words = words_of(japanese, "ja")
    assert words[:4] == ["パソコン", "で", "ブログ", "を"] and words.count("東京") == 2400
    korean = "오늘은 서울에 갔습니다. " * 400
    assert words_of(korean, "ko").count("서울") == 400

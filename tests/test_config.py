import pytest
from click.testing import CliRunner
from conftest import REPO

from webcorpus.cli import main
from webcorpus.pipeline.config import ConfigError, load_pipeline
from webcorpus.pipeline.step import Filter

GOOD = """\
input: data/*.warc.gz
output: out/x
steps:
  - read_warc: {}
  - url_filter:
      soft_word_threshold: 3
  - extract
  - langid:
      languages: [en, de]
      threshold: 0.5
  - write_parquet:
      rows_per_shard: 10
"""


def write(tmp_path, text):
    path = tmp_path / "p.yaml"
    path.write_text(text)
    return path


def test_bundled_pipeline_loads():
    config = load_pipeline(REPO / "pipelines" / "fineweb.yaml")
    assert [s.name for s in config.steps] == [
        "read_warc",
        "url_filter",
        "quick_langid",
        "extract",
        "langid",
        "gopher_repetition",
        "gopher_quality",
        "c4_quality",
        "fineweb_quality",
        "write_parquet",
        "minhash_dedup",
        "pii",
        "train_tokenizer",
        "tokenize",
    ]
    assert config.removed is True


def test_good_pipeline_loads_with_typed_options(tmp_path):
    config = load_pipeline(write(tmp_path, GOOD))
    assert config.input == ["data/*.warc.gz"]
    assert config.steps[3].options == {"languages": ["en", "de"], "threshold": 0.5}
    assert config.steps[2].options == {}


@pytest.mark.parametrize(
    "old,new,expected",
    [
        (
            "      threshold: 0.5",
            "      threshhold: 0.5",
            r"p.yaml:10: steps\[3\].langid.threshhold: unknown option 'threshhold'",
        ),
        (
            "      threshold: 0.5",
            "      threshold: high",
            r"p.yaml:10: steps\[3\].langid.threshold: 'threshold' must be a number",
        ),
        ("      rows_per_shard: 10", "      rows_per_shard: 1.5", r"p.yaml:12: .*rows_per_shard' must be an integer"),
        ("  - extract\n", "  - extrakt\n", r"p.yaml:7: steps\[2\]: unknown step 'extrakt'"),
        ("output: out/x", "outptu: out/x", r"p.yaml:2: outptu: unknown key"),
        ("output: out/x", "output: [1, 2]", r"p.yaml:2: output: must be a folder path"),
        ("  - read_warc: {}\n", "", r"p.yaml:4: steps\[0\]: the first step must read input"),
        ("      languages: [en, de]", "      languages: 5", r"p.yaml:9: .*languages' must be a list of strings"),
        (
            "input: data/*.warc.gz",
            "input: data/*.warc.gz\nworkers: 0",
            r"p.yaml:2: workers: must be a positive integer",
        ),
        ("  - extract\n", "  - extract: {a: 1, b: 2}\n", r"p.yaml:7: steps\[2\].extract.a: unknown option"),
        ("steps:", "steps: [", r"p.yaml:\d+: not valid YAML"),
    ],
)
def test_errors_name_the_key_and_line(tmp_path, old, new, expected):
    assert old in GOOD
    with pytest.raises(ConfigError, match=expected):
        load_pipeline(write(tmp_path, GOOD.replace(old, new)))


def test_cli_reports_one_line_and_does_not_start(tmp_path):
    path = write(tmp_path, GOOD.replace("threshold: 0.5", "threshold: nope").replace("out/x", str(tmp_path / "out")))
    result = CliRunner().invoke(main, ["run", str(path)])
    assert result.exit_code == 1
    assert result.output.strip().count("\n") == 0
    assert "langid.threshold" in result.output
    assert not (tmp_path / "out").exists()


def test_missing_pipeline_file(tmp_path):
    result = CliRunner().invoke(main, ["run", str(tmp_path / "absent.yaml")])
    assert result.exit_code == 1 and "absent.yaml: no such file, and not a recipe" in result.output


def test_every_step_subcommand_has_the_yaml_options():
    from webcorpus.pipeline.options import options_of
    from webcorpus.pipeline.registry import STEPS, step_class

    for name in STEPS:
        command = main.get_command(None, name.replace("_", "-"))
        assert command is not None, name
        flags = {opt for param in command.params for opt in param.opts}
        for spec in options_of(step_class(name)):
            if not spec.is_mapping:  # a mapping (per_language) is written in YAML only
                assert f"--{spec.name.replace('_', '-')}" in flags, (name, spec.name)


def test_corpus_steps_are_checked_like_the_others(tmp_path):
    good = load_pipeline(write(tmp_path, GOOD + "  - minhash_dedup: {bands: 20, rows: 5}\n"))
    assert good.steps[-1].name == "minhash_dedup" and good.steps[-1].options == {"bands": 20, "rows": 5}
    with pytest.raises(ConfigError, match=r"p.yaml:14: steps\[5\].minhash_dedup.band: unknown option 'band'"):
        load_pipeline(write(tmp_path, GOOD + "  - minhash_dedup:\n      band: 20\n"))
    with pytest.raises(ConfigError, match=r"p.yaml:13: steps\[5\]: unknown step 'minhash'"):
        load_pipeline(write(tmp_path, GOOD + "  - minhash\n"))
    with pytest.raises(
        ConfigError, match=r"p.yaml:13: steps\[5\]: unknown step 'dedup_batch' \(renamed to 'minhash_dedup'\)"
    ):
        load_pipeline(write(tmp_path, GOOD + "  - dedup_batch\n"))
    with pytest.raises(
        ConfigError, match=r"p.yaml:13: steps\[5\].minhash_dedup.hash: 'hash' must be one of 'sha1', 'md5'"
    ):
        load_pipeline(write(tmp_path, GOOD + "  - minhash_dedup: {hash: nope}\n"))
    with pytest.raises(ConfigError, match=r"p.yaml:3: stages: 'stages:' and 'after:' are now one list"):
        load_pipeline(write(tmp_path, GOOD.replace("steps:", "stages:")))


def test_step_order_is_checked(tmp_path):
    with pytest.raises(
        ConfigError, match=r"p.yaml:13: steps\[5\]: 'read_warc' reads input, so it can only be the first step"
    ):
        load_pipeline(write(tmp_path, GOOD + "  - read_warc\n"))
    with pytest.raises(ConfigError, match=r"p.yaml:13: steps\[5\]: 'write_parquet' ends a run of per-document steps"):
        load_pipeline(write(tmp_path, GOOD + "  - pii\n"))
    with pytest.raises(ConfigError, match=r"p.yaml:13: steps\[5\]: tokenize needs a train_tokenizer step before it"):
        load_pipeline(write(tmp_path, GOOD + "  - tokenize\n"))
    # A corpus step may stand in the middle, with per-document steps after it.
    middle = load_pipeline(write(tmp_path, GOOD + "  - minhash_dedup\n  - pii\n  - exact_dedup\n"))
    assert [s.role for s in middle.steps][-3:] == ["corpus", "filter", "filter"]


def test_bad_values_fail_before_anything_runs(tmp_path):
    out = tmp_path / "out"
    zero_rows = GOOD.replace("out/x", str(out)).replace("rows_per_shard: 10", "rows_per_shard: 0")
    result = CliRunner().invoke(
        main, ["run", str(write(tmp_path, zero_rows)), "--input", str(REPO / "pipelines" / "sample")]
    )
    assert result.exit_code == 1
    assert result.output.strip().endswith(
        "p.yaml:12: steps[4].write_parquet.rows_per_shard: 'rows_per_shard' must be at least 1, got 0"
    )
    assert not out.exists()
    bad_languages = GOOD.replace("out/x", str(out)).replace("[en, de]", "[en, de]\n      model: /nonexistent.ftz")
    result = CliRunner().invoke(main, ["run", str(write(tmp_path, bad_languages)), "--input", str(REPO / "pipelines")])
    assert result.exit_code == 1 and "nonexistent.ftz" in result.output
    assert not out.exists()


def test_the_steps_reference_is_generated_from_the_code():
    from webcorpus.pipeline.docs import steps_markdown

    assert (REPO / "docs" / "steps.md").read_text() == steps_markdown(), (
        "run: python -m webcorpus.pipeline.docs > docs/steps.md"
    )


@pytest.mark.parametrize(
    "old,new,expected",
    [
        ("threshold: 0.5", "threshold: .nan", r"p.yaml:10: steps\[3\].langid.threshold: 'threshold' must be a finite"),
        ("  - extract\n", "  - extract: {timeout: -1}\n", r"p.yaml:7: steps\[2\].extract.timeout: .* at least 0"),
        (
            "rows_per_shard: 10",
            "rows_per_shard: 0",
            r"p.yaml:12: steps\[4\].write_parquet.rows_per_shard: .*at least 1",
        ),
        ("rows_per_shard: 10", "compression: lzma9", r"p.yaml:12: .*compression: 'compression' must be one of 'zstd'"),
        ("output: out/x", "output: out/x\noutput: out/y", r"p.yaml:3: output: given twice"),
        (
            "threshold: 0.5",
            "threshold: 0.5\n      threshold: 0.6",
            r"p.yaml:11: steps\[3\].langid.threshold: given twice",
        ),
        (
            "output: out/x",
            "output: !!python/object/apply:os.system [echo]",
            r"p.yaml:2: could not determine a constructor",
        ),
        ("output: out/x", "output: &a [*a]", r"p.yaml:2: found unconstructable recursive node"),
    ],
)
def test_bad_values_are_one_line_naming_file_line_and_key(tmp_path, old, new, expected):
    assert old in GOOD
    with pytest.raises(ConfigError, match=expected):
        load_pipeline(write(tmp_path, GOOD.replace(old, new)))


FILTERS = (
    "  - gopher_repetition: {}\n  - gopher_quality: {}\n  - fineweb_quality: {}\n  - c4_quality: {}\n  - write_parquet:"
)


@pytest.mark.parametrize(
    "old,new,expected",
    [
        ("threshold: 0.5", "threshold: 1.5", r"p.yaml:10: steps\[3\].langid.threshold: .*between 0 and 1, got 1.5"),
        ("[en, de]", "[en, english]", r"p.yaml:9: steps\[3\].langid.languages: 'english' is not a language code"),
        (
            "[en, de]",
            "[en]\n      per_language: {fr: {threshold: 2}}",
            r"p.yaml:10: .*per_language.fr.threshold: .*between 0 and 1",
        ),
        ("[en, de]", "[en]\n      per_language: {french: {}}", r"p.yaml:10: .*langid.per_language: 'french' is not"),
        ("gopher_quality: {}", "gopher_quality: {min_doc_words: -5}", r"p.yaml:12: .*min_doc_words: .*at least 0"),
        (
            "gopher_quality: {}",
            "gopher_quality: {per_language: {fr: {min_alpha_words_ratio: 1.2}}}",
            r"p.yaml:12: steps\[5\].gopher_quality.per_language.fr.min_alpha_words_ratio: .*between 0 and 1",
        ),
        (
            "gopher_repetition: {}",
            "gopher_repetition: {dup_5_gram_frac: 1.1}",
            r"p.yaml:11: .*dup_5_gram_frac: .*between 0 and 1",
        ),
        ("fineweb_quality: {}", "fineweb_quality: {new_line_ratio: -0.1}", r"p.yaml:13: .*new_line_ratio: .*at least"),
        ("c4_quality: {}", "c4_quality: {min_num_sentences: -2}", r"p.yaml:14: .*min_num_sentences: .*at least -1"),
    ],
)
def test_scores_ratios_counts_and_language_codes_are_checked_on_load(tmp_path, old, new, expected):
    text = GOOD.replace("  - write_parquet:", FILTERS)
    assert old in text
    with pytest.raises(ConfigError, match=expected):
        load_pipeline(write(tmp_path, text.replace(old, new)))
    load_pipeline(write(tmp_path, text))  # the defaults and GOOD's values are in range


@pytest.mark.parametrize(
    "flags,expected",
    [
        (["langid", "--threshold", "1.5"], "'threshold' must be between 0 and 1, got 1.5"),
        (["langid", "--languages", "english"], "'languages': 'english' is not a language code of the model"),
        (["gopher-quality", "--min-doc-words", "-5"], "'min_doc_words' must be at least 0, got -5"),
    ],
)
def test_shell_flags_get_the_same_checks(flags, expected):
    result = CliRunner().invoke(main, flags, input='{"id": "a", "url": "u", "text": "a b c", "metadata": {}}\n')
    assert result.exit_code == 1 and expected in result.output


class NeedsTwo(Filter):
    """A test step with two required options (no default)."""

    name = "test_needs_two"
    summary = "test only"

    def __init__(self, model: str, label: str, weight: float = 1.0) -> None:
        super().__init__()
        self.model, self.label = model, label


def test_a_step_with_required_options_loads_when_all_are_given_and_names_a_missing_one(tmp_path, monkeypatch):
    from webcorpus.pipeline import registry

    monkeypatch.setitem(registry.STEPS, NeedsTwo.name, f"{__name__}:NeedsTwo")
    job = tmp_path / "job.yaml"
    job.write_text("input: x\noutput: y\nsteps:\n  - read_warc\n  - test_needs_two: {model: m, label: l}\n")
    [_, step] = load_pipeline(job).steps
    assert step.options == {"model": "m", "label": "l"}
    job.write_text("input: x\noutput: y\nsteps:\n  - read_warc\n  - test_needs_two: {model: m, weight: 2}\n")
    with pytest.raises(ConfigError, match="needs option 'label'"):
        load_pipeline(job)

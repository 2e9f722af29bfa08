import pytest
from click.testing import CliRunner
from conftest import REPO

from webcorpus.cli import main
from webcorpus.config import ConfigError, load_pipeline

GOOD = """\
input: data/*.warc.gz
output: out/x
stages:
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
        "extract",
        "langid",
        "gopher_repetition",
        "gopher_quality",
        "c4_quality",
        "fineweb_quality",
        "write_parquet",
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
            r"p.yaml:10: stages\[3\].langid.threshhold: unknown option 'threshhold'",
        ),
        (
            "      threshold: 0.5",
            "      threshold: high",
            r"p.yaml:10: stages\[3\].langid.threshold: 'threshold' must be a float",
        ),
        ("      rows_per_shard: 10", "      rows_per_shard: 1.5", r"p.yaml:12: .*rows_per_shard' must be a int"),
        ("  - extract\n", "  - extrakt\n", r"p.yaml:7: stages\[2\]: unknown stage 'extrakt'"),
        ("output: out/x", "outptu: out/x", r"p.yaml:2: outptu: unknown key"),
        ("output: out/x", "output: [1, 2]", r"p.yaml:2: output: must be a folder path"),
        ("  - read_warc: {}\n", "", r"p.yaml:4: stages\[0\]: the first stage must read input"),
        ("      languages: [en, de]", "      languages: 5", r"p.yaml:9: .*languages' must be a list of strings"),
        (
            "input: data/*.warc.gz",
            "input: data/*.warc.gz\nworkers: 0",
            r"p.yaml:2: workers: must be a positive integer",
        ),
        ("  - extract\n", "  - extract: {a: 1, b: 2}\n", r"p.yaml:7: stages\[2\].extract.a: unknown option"),
        ("stages:", "stages: [", r"p.yaml:\d+: not valid YAML"),
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
    assert result.exit_code == 1 and "absent.yaml: cannot read pipeline file" in result.output


def test_every_stage_subcommand_has_the_yaml_options():
    from webcorpus.stages import STAGES
    from webcorpus.stages.base import stage_options

    for name, cls in STAGES.items():
        command = main.get_command(None, name.replace("_", "-"))
        assert command is not None, name
        flags = {opt for param in command.params for opt in param.opts}
        for spec in stage_options(cls):
            assert f"--{spec.name.replace('_', '-')}" in flags, (name, spec.name)


def test_after_steps_are_checked_like_stages(tmp_path):
    good = load_pipeline(write(tmp_path, GOOD + "after:\n  - dedup_batch: {bands: 20, rows: 5}\n"))
    assert good.after[0].name == "dedup_batch" and good.after[0].options == {"bands": 20, "rows": 5}
    with pytest.raises(ConfigError, match=r"p.yaml:15: after\[0\].dedup_batch.band: unknown option 'band'"):
        load_pipeline(write(tmp_path, GOOD + "after:\n  - dedup_batch:\n      band: 20\n"))
    with pytest.raises(ConfigError, match=r"p.yaml:14: after\[0\]: unknown step 'minhash'"):
        load_pipeline(write(tmp_path, GOOD + "after:\n  - minhash\n"))


def test_bad_values_fail_before_anything_runs(tmp_path):
    out = tmp_path / "out"
    bad_hash = GOOD.replace("out/x", str(out)) + "after:\n  - dedup_batch: {hash: nope}\n"
    with pytest.raises(ConfigError, match=r"p.yaml:14: after\[0\].dedup_batch: unknown hash 'nope'"):
        load_pipeline(write(tmp_path, bad_hash))
    zero_rows = GOOD.replace("out/x", str(out)).replace("rows_per_shard: 10", "rows_per_shard: 0")
    result = CliRunner().invoke(
        main, ["run", str(write(tmp_path, zero_rows)), "--input", str(REPO / "pipelines" / "sample")]
    )
    assert (
        result.exit_code == 1 and result.output.strip() == "Error: rows_per_shard and bytes_per_shard must be positive"
    )
    assert not out.exists()

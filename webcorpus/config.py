"""Pipeline YAML: load, check every key and type before anything runs, and point at the line."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from webcorpus.stages import FILTERS, READERS, STAGES, WRITERS
from webcorpus.stages.base import OptionError, check_options

TOP_LEVEL_KEYS = {
    "input": "WARC files: a path, folder, glob or warc.paths list, or a list of those",
    "output": "run folder: data/ (Parquet shards), removed/, stats.json",
    "workers": "worker processes (default: all cores)",
    "removed": "write dropped documents per stage under OUTPUT/removed/ (true/false)",
    "stages": "the stages in order, each `- name: {options}`",
    "after": "steps over the whole output once every file is done: dedup_batch, train_tokenizer, tokenize",
}


class ConfigError(ValueError):
    """One line: FILE:LINE: key: what is wrong."""


@dataclass
class StepConfig:
    name: str
    options: dict[str, Any]


@dataclass
class PipelineConfig:
    path: Path
    input: list[str]
    output: str
    workers: int | None = None
    removed: bool = True
    steps: list[StepConfig] = field(default_factory=list)
    after: list[StepConfig] = field(default_factory=list)


class _Located:
    """Turns YAML nodes into Python values and raises errors that name the file and line."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.constructor = yaml.constructor.SafeConstructor()

    def error(self, node: yaml.Node, key: str, problem: str) -> ConfigError:
        return ConfigError(f"{self.path}:{node.start_mark.line + 1}: {key}: {problem}")

    def value(self, node: yaml.Node) -> Any:
        return self.constructor.construct_object(node, deep=True)

    def mapping(self, node: yaml.Node, key: str) -> list[tuple[str, yaml.Node, yaml.Node]]:
        if not isinstance(node, yaml.MappingNode):
            raise self.error(node, key, "must be a mapping of keys to values")
        return [(str(self.value(k)), k, v) for k, v in node.value]


def load_pipeline(path: str | Path) -> PipelineConfig:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigError(f"{path}: cannot read pipeline file ({error.strerror})") from None
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f":{mark.line + 1}" if mark else ""
        raise ConfigError(f"{path}{where}: not valid YAML ({getattr(error, 'problem', error)})") from None
    if root is None:
        raise ConfigError(f"{path}: the pipeline file is empty")
    located = _Located(path)
    config = PipelineConfig(path=path, input=[], output="")
    seen = set()
    for key, key_node, node in located.mapping(root, "pipeline"):
        seen.add(key)
        if key not in TOP_LEVEL_KEYS:
            known = ", ".join(TOP_LEVEL_KEYS)
            raise located.error(key_node, key, f"unknown key (known: {known})")
        value = located.value(node)
        if key == "input":
            values = [value] if isinstance(value, str) else value
            if not isinstance(values, list) or not values or not all(isinstance(v, str) for v in values):
                raise located.error(node, key, "must be a path or a list of paths")
            config.input = values
        elif key == "output":
            if not isinstance(value, str) or not value:
                raise located.error(node, key, "must be a folder path")
            config.output = value
        elif key == "workers":
            if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
                raise located.error(node, key, f"must be a positive integer or null, got {value!r}")
            config.workers = value
        elif key == "removed":
            if not isinstance(value, bool):
                raise located.error(node, key, f"must be true or false, got {value!r}")
            config.removed = value
        elif key == "stages":
            config.steps = _load_steps(located, node)
        elif key == "after":
            config.after = _load_after(located, node)
    if "stages" not in seen:
        raise ConfigError(f"{path}: stages: missing (the list of stages to run)")
    return config


def _named_steps(
    located: _Located, node: yaml.Node, section: str, known: dict[str, Any]
) -> list[tuple[StepConfig, yaml.Node]]:
    """A YAML list of `- name: {options}` (or `- name`), each checked against `known[name]`'s options."""
    if not isinstance(node, yaml.SequenceNode) or not node.value:
        raise located.error(node, section, "must be a non-empty list of `- name: {options}`")
    steps = []
    for index, item in enumerate(node.value):
        where = f"{section}[{index}]"
        if isinstance(item, yaml.ScalarNode):  # `- extract` with no options
            name, name_node, options_node = str(located.value(item)), item, None
        else:
            entries = located.mapping(item, where)
            if len(entries) != 1:
                raise located.error(item, where, "each entry is one `name: {options}` mapping")
            name, name_node, options_node = entries[0]
        if name not in known:
            raise located.error(
                name_node,
                where,
                f"unknown {section[:-1] if section == 'stages' else 'step'} '{name}' (known: {', '.join(known)})",
            )
        options: dict[str, Any] = {}
        if options_node is not None and located.value(options_node) is not None:
            for key, key_node, value_node in located.mapping(options_node, f"{where}.{name}"):
                try:
                    options.update(check_options(known[name], {key: located.value(value_node)}))
                except OptionError as error:
                    raise located.error(key_node, f"{where}.{name}.{key}", str(error)) from None
        try:
            check_options(known[name], options)
        except OptionError as error:
            raise located.error(name_node, f"{where}.{name}", str(error)) from None
        steps.append((StepConfig(name, options), name_node))
    return steps


def _load_steps(located: _Located, node: yaml.Node) -> list[StepConfig]:
    steps = _named_steps(located, node, "stages", STAGES)
    last = len(steps) - 1
    for index, (step, name_node) in enumerate(steps):
        where = f"stages[{index}]"
        if index == 0 and step.name not in READERS:
            raise located.error(name_node, where, f"the first stage must read input ({', '.join(READERS)})")
        if 0 < index < last and step.name not in FILTERS:
            raise located.error(name_node, where, f"'{step.name}' can only be the first or last stage")
        if index == last and step.name not in WRITERS:
            raise located.error(name_node, where, f"the last stage must write output ({', '.join(WRITERS)})")
    return [step for step, _ in steps]


def after_steps() -> dict[str, type]:
    """Corpus-level steps by YAML name; each is a settings dataclass that checks its own values."""
    from webcorpus.batch_dedup import DedupSettings
    from webcorpus.tokenizer import TokenizerSettings, TokenizeSettings

    return {cls.name: cls for cls in (DedupSettings, TokenizerSettings, TokenizeSettings)}


def _load_after(located: _Located, node: yaml.Node) -> list[StepConfig]:
    known = after_steps()
    steps = _named_steps(located, node, "after", known)
    for index, (step, name_node) in enumerate(steps):
        try:
            known[step.name](**step.options)  # cheap: catches bad values before any work
        except ValueError as error:
            raise located.error(name_node, f"after[{index}].{step.name}", str(error)) from None
    names = [step.name for step, _ in steps]
    if "tokenize" in names and "train_tokenizer" not in names[: names.index("tokenize")]:
        options = steps[names.index("tokenize")][0].options
        if not options.get("tokenizer"):
            name_node = steps[names.index("tokenize")][1]
            raise located.error(name_node, "after.tokenize", "needs a train_tokenizer step before it, or a tokenizer:")
    return [step for step, _ in steps]

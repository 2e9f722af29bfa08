"""Pipeline YAML: load, check every key and type before anything runs, and point at the line."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from webcorpus.languages.table import PER_LANGUAGE_KEYS
from webcorpus.pipeline.options import OptionError, check_options
from webcorpus.pipeline.registry import STEPS, step_class, unknown_step_message

TOP_LEVEL_KEYS = {
    "input": "input files: a path, folder, glob or warc.paths list, or a list of those",
    "output": "the run folder: data/, removed/, each corpus step's output, stats.json",
    "workers": "worker processes (default: all cores)",
    "removed": "write dropped documents per step under OUTPUT/removed/ (true/false)",
    "executor": "where the work runs: one of pipeline/executors.py's EXECUTORS (default: local worker processes)",
    "ray_address": "the Ray cluster to use (default: $RAY_ADDRESS, else a local Ray started by the run)",
    "steps": "the steps in order, each `- name: {options}`: a reader first, then filters, writers and corpus steps",
    "limit": "at most this many documents (those the reader yields) per input file, to try a configuration quickly",
    "record": "what made a run (webcorpus writes it into RUN/pipeline.yaml; ignored when read)",
}
# Keys of the old two-list format, answered with how to write it now.
MOVED_KEYS = {
    "stages": "'stages:' and 'after:' are now one list: rename 'stages:' to 'steps:'",
    "after": "move these steps to the end of 'steps:' (corpus steps may stand anywhere after the reader)",
}


class ConfigError(ValueError):
    """One line: FILE:LINE: key: what is wrong."""


@dataclass
class StepConfig:
    name: str
    options: dict[str, Any]

    @property
    def role(self) -> str:
        return step_class(self.name).role


@dataclass
class PipelineConfig:
    path: Path
    input: list[str]
    output: str
    workers: int | None = None
    removed: bool = True
    executor: str | None = None  # a name in executors.EXECUTORS; None: the default, worker processes here
    ray_address: str | None = None
    steps: list[StepConfig] = field(default_factory=list)
    limit: int | None = None  # documents per input file (`--limit`); part of the fingerprint, so never resumed as full


class LocatedYaml:
    """Turns YAML nodes into Python values and raises errors that name the file and line."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.constructor = yaml.constructor.SafeConstructor()

    @classmethod
    def load(cls, path: Path) -> tuple[LocatedYaml, yaml.Node]:
        """The file's root node (safe YAML: no tags that run code), or one ConfigError line."""
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as error:
            raise ConfigError(f"{path}: cannot read the file ({error.strerror})") from None
        try:
            root = yaml.compose(text, Loader=yaml.SafeLoader)
        except yaml.YAMLError as error:
            mark = getattr(error, "problem_mark", None)
            where = f":{mark.line + 1}" if mark else ""
            raise ConfigError(f"{path}{where}: not valid YAML ({getattr(error, 'problem', error)})") from None
        if root is None:
            raise ConfigError(f"{path}: the file is empty")
        return cls(path), root

    def error(self, node: yaml.Node, key: str, problem: str) -> ConfigError:
        return ConfigError(f"{self.path}:{node.start_mark.line + 1}: {key}: {problem}")

    def value(self, node: yaml.Node) -> Any:
        """The node as plain data; a tag that would build an object or a node that contains itself is one
        line naming the place, never a traceback (and never code: SafeConstructor builds plain data only)."""
        try:
            return self.constructor.construct_object(node, deep=True)
        except yaml.YAMLError as error:
            mark = getattr(error, "problem_mark", None) or node.start_mark
            problem = getattr(error, "problem", None) or str(error)
            raise ConfigError(f"{self.path}:{mark.line + 1}: {problem}") from None

    def mapping(self, node: yaml.Node, key: str) -> list[tuple[str, yaml.Node, yaml.Node]]:
        if not isinstance(node, yaml.MappingNode):
            raise self.error(node, key, "must be a mapping of keys to values")
        entries, seen = [], set()
        for key_node, value_node in node.value:
            name = str(self.value(key_node))
            if name in seen:  # YAML would let the last one win without a word
                raise self.error(key_node, f"{key}.{name}" if key != "pipeline" else name, "given twice")
            seen.add(name)
            entries.append((name, key_node, value_node))
        return entries


def load_pipeline(path: str | Path) -> PipelineConfig:
    path = Path(path)
    located, root = LocatedYaml.load(path)
    config = PipelineConfig(path=path, input=[], output="")
    seen = set()
    for key, key_node, node in located.mapping(root, "pipeline"):
        seen.add(key)
        if key in MOVED_KEYS:
            raise located.error(key_node, key, MOVED_KEYS[key])
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
        elif key == "executor":
            from webcorpus.pipeline.executors import EXECUTORS  # executors.py builds on this module

            if value not in EXECUTORS:
                raise located.error(node, key, f"must be one of {', '.join(EXECUTORS)}, got {value!r}")
            config.executor = value
        elif key == "ray_address":
            if not isinstance(value, str) or not value:
                raise located.error(node, key, f"must be an address such as 10.0.0.1:6379, got {value!r}")
            config.ray_address = value
        elif key == "limit":
            if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
                raise located.error(node, key, f"must be a positive integer or null, got {value!r}")
            config.limit = value
        elif key == "steps":
            config.steps = _load_steps(located, node)
    if "steps" not in seen:
        raise ConfigError(f"{path}: steps: missing (the list of steps to run)")
    return config


def _load_steps(located: LocatedYaml, node: yaml.Node) -> list[StepConfig]:
    """`- name: {options}` (or `- name`) entries, each checked against its step's option schema, then the
    order: a reader first and only there, a writer only before a corpus step or at the end."""
    if not isinstance(node, yaml.SequenceNode) or not node.value:
        raise located.error(node, "steps", "must be a non-empty list of `- name: {options}`")
    steps: list[StepConfig] = []
    for index, item in enumerate(node.value):
        where = f"steps[{index}]"
        if isinstance(item, yaml.ScalarNode):  # `- extract` with no options
            name, name_node, options_node = str(located.value(item)), item, None
        else:
            entries = located.mapping(item, where)
            if len(entries) != 1:
                raise located.error(item, where, "each entry is one `name: {options}` mapping")
            name, name_node, options_node = entries[0]
        if name not in STEPS:
            raise located.error(name_node, where, unknown_step_message(name))
        cls = step_class(name)
        options: dict[str, Any] = {}
        key_nodes: dict[str, yaml.Node] = {}
        if options_node is not None and located.value(options_node) is not None:
            for key, key_node, value_node in located.mapping(options_node, f"{where}.{name}"):
                key_nodes[key] = key_node
                try:
                    options.update(check_options(cls, {key: located.value(value_node)}, complete=False))
                except OptionError as error:
                    raise located.error(key_node, f"{where}.{name}.{key}", str(error)) from None
                if key == "per_language" and options[key] is not None:
                    _check_per_language(located, cls, value_node, f"{where}.{name}.{key}")
        # A check of values together, beyond each one's type and range (langid: codes the model knows).
        problem = cls.option_problem(options) if hasattr(cls, "option_problem") else None
        if problem:
            key, why = problem
            raise located.error(key_nodes.get(key, name_node), f"{where}.{name}.{key}", why)
        try:
            check_options(cls, options)
            if cls.role in ("write", "corpus"):
                cls(**options)  # cheap to build: catches bad values before any work
        except ValueError as error:
            raise located.error(name_node, f"{where}.{name}", str(error)) from None
        problem = _position_problem(StepConfig(name, options), steps)
        if problem:
            raise located.error(name_node, where, problem)
        steps.append(StepConfig(name, options))
    return steps


def _check_per_language(located: LocatedYaml, cls: type, node: yaml.Node, where: str) -> None:
    """`per_language: {LANGUAGE: {option: value}}`: each option checked against the step's own schema, an
    error naming its line and key (`steps[6].gopher_quality.per_language.ja.min_avg_word_lenght`)."""
    for language, _, options_node in located.mapping(node, where):
        for key, key_node, value_node in located.mapping(options_node, f"{where}.{language}"):
            if key in PER_LANGUAGE_KEYS:
                raise located.error(key_node, f"{where}.{language}.{key}", "cannot be set per language")
            try:
                check_options(cls, {key: located.value(value_node)}, complete=False)
            except OptionError as error:
                raise located.error(key_node, f"{where}.{language}.{key}", str(error)) from None


def _position_problem(step: StepConfig, before: list[StepConfig]) -> str | None:
    """Why `step` cannot follow `before`, or None."""
    if not before and step.role != "read":
        readers = ", ".join(n for n in STEPS if step_class(n).role == "read")
        return f"the first step must read input ({readers})"
    if before and step.role == "read":
        return f"'{step.name}' reads input, so it can only be the first step"
    if before and before[-1].role == "write" and step.role != "corpus":
        return f"'{before[-1].name}' ends a run of per-document steps: only a corpus step can follow it"
    if step.name == "tokenize" and not step.options.get("tokenizer"):
        if not any(s.name == "train_tokenizer" for s in before):
            return "tokenize needs a train_tokenizer step before it, or a tokenizer: option"
    return None

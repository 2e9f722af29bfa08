"""The option schema: one description of a step's options, read from the step class itself.

A step's options are the keyword arguments of its `__init__` (for a dataclass such as the trainer's
`TrainConfig`, its fields): name, type hint and default come from there, help text from the class's
`option_help`, bounds from its `option_minimum` and `option_maximum`; floats must be finite. The YAML checker
(`check_options`), the shell subcommands' flags and `docs/steps.md` are all generated from this, so they
cannot disagree and no default is written twice.

Types understood: bool, int, float, str, `list[str]`, `dict` (a mapping, checked by its owner), a
`Literal[...]` of strings (a choice), and any of these `| None` (null allowed).
"""

from __future__ import annotations

import dataclasses
import inspect
import math
import types
import typing
from dataclasses import dataclass
from typing import Any


class OptionError(ValueError):
    """An option with the wrong name, type or value; the message names the option."""


@dataclass(frozen=True)
class OptionSpec:
    name: str
    hint: Any
    default: Any
    help: str
    minimum: float | None = None  # the smallest value allowed (from the owner's `option_minimum`)
    maximum: float | None = None  # the largest value allowed (from the owner's `option_maximum`)

    @property
    def required(self) -> bool:
        return self.default is inspect.Parameter.empty

    @property
    def optional(self) -> bool:
        return type(None) in typing.get_args(self.hint)

    @property
    def base_type(self) -> Any:
        """The type without `| None`."""
        if typing.get_origin(self.hint) in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(self.hint) if a is not type(None)]
            return args[0] if len(args) == 1 else typing.Union[tuple(args)]  # noqa: UP007 (built at run time)
        return self.hint

    @property
    def choices(self) -> tuple[str, ...] | None:
        base = self.base_type
        return typing.get_args(base) if typing.get_origin(base) is typing.Literal else None

    @property
    def is_list(self) -> bool:
        return typing.get_origin(self.base_type) is list

    @property
    def is_mapping(self) -> bool:
        return typing.get_origin(self.base_type) is dict or self.base_type is dict

    def type_name(self) -> str:
        """What a value must be, in words: 'an integer', "one of 'zstd', 'gzip'", 'a number or null'."""
        if self.choices:
            name = "one of " + ", ".join(f"'{c}'" for c in self.choices)
        elif self.is_list:
            name = "a list of strings"
        elif self.is_mapping:
            name = "a mapping"
        else:
            name = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}[self.base_type]
        return f"{name} or null" if self.optional else name

    def coerce(self, value: Any) -> Any:
        """Check a value against the option's type; ints are accepted where floats are."""
        if value is None:
            if self.optional:
                return None
            raise OptionError(f"'{self.name}' must be {self.type_name()}, not null")
        base = self.base_type
        if self.choices:
            if value in self.choices:
                return value
        elif self.is_list:
            if isinstance(value, str):
                value = [value]
            if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
                return list(value)
        elif self.is_mapping:
            if isinstance(value, dict):
                return value
        elif base is float and isinstance(value, (int, float)) and not isinstance(value, bool):
            if not math.isfinite(value):  # a NaN compares false with everything: it would switch a rule off
                raise OptionError(f"'{self.name}' must be a finite number (null switches a rule off), got {value!r}")
            return self._in_range(float(value))
        elif base is int and isinstance(value, int) and not isinstance(value, bool):
            return self._in_range(value)
        elif base in (bool, str) and isinstance(value, base):
            return value
        raise OptionError(f"'{self.name}' must be {self.type_name()}, got {value!r}")

    @property
    def bounds(self) -> str | None:
        """The allowed range in words ("between 0 and 1", "at least 1"), or None."""
        low, high = self.minimum, self.maximum
        if low is not None and high is not None:
            return f"between {low:g} and {high:g}"
        if low is not None or high is not None:
            return f"at least {low:g}" if low is not None else f"at most {high:g}"
        return None

    def _in_range(self, value: float) -> float:
        low, high = self.minimum, self.maximum
        if (low is not None and value < low) or (high is not None and value > high):
            raise OptionError(f"'{self.name}' must be {self.bounds}, got {value!r}")
        return value


def options_of(owner: type) -> list[OptionSpec]:
    """The user-settable options of a step class (its `__init__`) or of a settings dataclass (its fields)."""
    help_texts: dict[str, str] = getattr(owner, "option_help", {})
    minimums: dict[str, float] = getattr(owner, "option_minimum", {})
    maximums: dict[str, float] = getattr(owner, "option_maximum", {})
    skipped: frozenset[str] = getattr(owner, "runner_supplied", frozenset())

    def spec(name: str, hint: Any, default: Any) -> OptionSpec:
        return OptionSpec(name, hint, default, help_texts.get(name, ""), minimums.get(name), maximums.get(name))

    if dataclasses.is_dataclass(owner):
        hints = typing.get_type_hints(owner)
        specs = []
        for f in dataclasses.fields(owner):
            if f.name in skipped or not f.init:
                continue
            if f.default is not dataclasses.MISSING:
                default = f.default
            elif f.default_factory is not dataclasses.MISSING:
                default = f.default_factory()
            else:
                default = inspect.Parameter.empty
            specs.append(spec(f.name, hints[f.name], default))
        return specs
    hints = typing.get_type_hints(owner.__init__)
    return [
        spec(p.name, hints[p.name], p.default)
        for p in inspect.signature(owner.__init__).parameters.values()
        if p.name != "self" and p.name not in skipped
    ]


def check_options(owner: type, given: dict[str, Any], what: str | None = None, complete: bool = True) -> dict[str, Any]:
    """Validate names and types of `given` against `owner`'s options; raises OptionError naming the key.
    `complete`: `given` is all the options, so a required one missing is an error (not so for one key
    checked alone, as the YAML loader does to name its line)."""
    what = what or f"step '{getattr(owner, 'name', owner.__name__)}'"
    specs = {spec.name: spec for spec in options_of(owner)}
    checked = {}
    for key, value in given.items():
        if key not in specs:
            known = ", ".join(specs) or "none"
            raise OptionError(f"unknown option '{key}' for {what} (known: {known})")
        checked[key] = specs[key].coerce(value)
    for spec in specs.values() if complete else ():
        if spec.required and spec.name not in checked:
            raise OptionError(f"{what} needs option '{spec.name}'")
    return checked


def check_arguments(owner: object, arguments: dict[str, Any]) -> None:
    """A step's `__init__` arguments (its `locals()`) against its own schema, as a YAML file's are: a step built
    from shell flags or from Python gets the same checks of type and range."""
    names = {spec.name for spec in options_of(type(owner))}
    check_options(type(owner), {key: value for key, value in arguments.items() if key in names})

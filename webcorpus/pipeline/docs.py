"""docs/steps.md, generated from the registry and each step's option schema, so it cannot drift.

python -m webcorpus.pipeline.docs > docs/steps.md      (a test checks the file is current)
"""

from __future__ import annotations

import inspect

from webcorpus.pipeline.options import options_of
from webcorpus.pipeline.registry import STEPS, step_class

ROLES = {
    "read": "reader: input files to documents",
    "filter": "per document: keeps, drops (with a reason) or rewrites each document",
    "write": "writer: ends a run of per-document steps",
    "corpus": "corpus step: works on the whole folder written before it",
}


def _default(value: object) -> str:
    if value is inspect.Parameter.empty:
        return "required"
    if value is None:
        return "none"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int) and abs(value) >= 10_000:
        return f"{value:_}"
    return repr(value) if isinstance(value, str) else str(value)


def steps_markdown() -> str:
    lines = [
        "# Steps",
        "",
        "Every step of a pipeline, in FineWeb's order. Each is a YAML entry (`- name: {options}`) and a",
        "subcommand (`webcorpus name-with-dashes --help`, the options as `--flags`). Generated from the code by",
        "`python -m webcorpus.pipeline.docs`; do not edit by hand.",
        "",
        "| step | role |",
        "|---|---|",
    ]
    lines += [f"| [`{name}`](#{name}) | {step_class(name).role} |" for name in STEPS]
    for name in STEPS:
        cls = step_class(name)
        lines += ["", f"## {name}", "", f"*{ROLES[cls.role]}*. {cls.summary}", ""]
        own = cls.__dict__.get("__doc__")
        for paragraph in inspect.cleandoc(own or "").split("\n\n"):
            if paragraph.strip():
                lines += [" ".join(paragraph.split()), ""]
        if getattr(cls, "output_name", None):
            lines += [f"In a pipeline run it writes `RUN_DIR/{cls.output_name}`.", ""]
        options = options_of(cls)
        if not options:
            lines.append("No options.")
            continue
        lines += ["| option | type | default | what it does |", "|---|---|---|---|"]
        for spec in options:
            kind = spec.type_name() + (f", {spec.bounds}" if spec.bounds else "")
            cells = [f"`{spec.name}`", kind, f"`{_default(spec.default)}`", spec.help]
            lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(steps_markdown(), end="")

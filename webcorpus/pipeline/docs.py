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


FOR_STEP_AUTHORS = """\
## Resources and batches

For step authors; not options, so not in the YAML. Two class attributes of a step say how it wants to run
(`webcorpus/pipeline/step.py`):

- `resources = Resources(cpus=1, gpus=0, memory_gb=0)`: what one instance needs (the default shown). A
  model step on a GPU sets `resources = Resources(gpus=1)`. Where two consecutive filters need different
  resources, the planner starts a new document pass at the second one: the earlier pass ends with an
  implicit `write_parquet`, the new one reads it with an implicit `read_parquet` and writes under
  `RUN_DIR/<its first step>/`. A pass needs the largest of each field among its steps. Ray asks for that
  per task (`num_cpus`, `num_gpus`, `memory`); the local executor runs a GPU pass in one process per GPU
  (CUDA_VISIBLE_DEVICES, else torch's count), each process seeing only its own GPU, and stops with one
  line naming the step on a machine without enough GPUs. A pipeline whose steps keep the default plans
  exactly as before, so its run folders resume.
- `batch_size = 1` (filters): above 1, `Filter.run` hands `filter_batch(documents)` lists of up to
  `batch_size` documents in input order; it returns one verdict per document (a drop reason, or None to
  keep it, possibly rewritten in place). Statistics, drops and output are exactly those of `filter` one
  document at a time. The default `filter_batch` calls `filter` on each.

## Drop reasons

Every reason a step drops documents for is declared with its meaning, one line, in the class attribute
`drop_reasons = {"short_doc": "Fewer words than min_doc_words: ..."}` (a key ending in `:` covers every
reason starting with it); the report shows the meaning beside each reason and sample, and
tests/test_report_drops.py fails on a reason a step returns without declaring it. A filter that measures
something says what it measured against which threshold:
`return dropped(document, "short_doc", compared("words", n, "<", self.min_doc_words))`
(`webcorpus/pipeline/drops.py`) writes `metadata.drop_detail` ("words 12 < 50") on the dropped document
only.
"""


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
    return "\n".join([*lines, "", FOR_STEP_AUTHORS]) + "\n"


if __name__ == "__main__":
    print(steps_markdown(), end="")

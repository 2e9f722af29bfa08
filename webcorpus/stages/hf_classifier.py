"""hf_classifier: score each document with a local Hugging Face sequence-classification model (FineWeb-Edu's
educational-quality regressor, say); the scores go to metadata and nothing is dropped.

torch and transformers are imported only when a model is loaded, so the registry, the CLI's help and
docs/steps.md never load them; this module imports nothing outside the standard library and webcorpus's
step contract at module level (the GPU bench imports it on a machine without webcorpus's other needs).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from webcorpus.document import Document
from webcorpus.pipeline.options import OptionError, check_arguments
from webcorpus.pipeline.step import Filter, Resources

if TYPE_CHECKING:
    import torch

Device = Literal["auto", "cpu", "cuda"]
DType = Literal["auto", "bfloat16", "float16", "float32"]
WEIGHTS = "model.safetensors"
DEFAULT_BATCH = 64
# Filter.run hands the step this many forward passes' worth of documents at once: sorted by token length and
# cut into passes of `batch_size`, documents of alike length share a pass, so little of each is padding.
# (Sorting within one pass could not help: a pass is padded to its longest document anyway.)
LENGTH_WINDOW = 16
# A pass is padded up to a multiple of this many tokens. A GPU sets up each new input shape once (kernel
# choices, memory blocks); padding every pass to its own longest text made a shape per length, and that
# setup cost more than the padding saves. Padded positions are masked, so scores do not change.
PAD_MULTIPLE = 64


def model_problem(model: str | None) -> str | None:
    """Why `model` cannot be loaded safely, in one line; None when it is a local folder with safetensors
    weights. Pickled weights (pytorch_model.bin) are refused: unpickling an untrusted file runs its code."""
    if model is None:  # the YAML checker names a missing required option itself
        return None
    folder = Path(model)
    if not folder.is_dir():
        return f"'{model}' is not a local model folder (hf_classifier downloads nothing)"
    if not (folder / WEIGHTS).is_file():
        return f"'{model}' has no {WEIGHTS}: only safetensors weights are loaded, never pickled ones"
    return None


def resolve_device(device: str) -> str:
    """`auto` as the worker that loads the model sees it: cuda when torch sees a GPU, else cpu."""
    if device != "auto":
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def torch_dtype(dtype: str, device: str) -> torch.dtype:
    """The weights' dtype: `auto` is bfloat16 on a GPU and float32 on a CPU."""
    import torch

    if dtype == "auto":
        return torch.bfloat16 if device == "cuda" else torch.float32
    return getattr(torch, dtype)


class HfClassifier(Filter):
    """A Hugging Face sequence-classification model from a local folder, on each document's text truncated
    to `max_length` tokens by the model's own tokenizer. A regression head (one output, as FineWeb-Edu's
    classifier has) writes its score to `metadata[name]`; a classification head writes the softmax
    probability of each label to `metadata[name_LABEL]`, labels from the model's `id2label`. Nothing is
    dropped: filter on the scores in a later step.

    Nothing is downloaded and no file of the folder runs code: it must hold `model.safetensors` (pickled
    weights are refused) and models needing `trust_remote_code` are refused by transformers.

    `device: cuda` needs a GPU per worker, so the planner gives the step a document pass of its own on GPU
    workers; `device: cpu` runs in the pass of the CPU filters around it. `auto` is decided on the machine
    that plans the run: a driver without GPUs plans `auto` as CPU, so a GPU cluster driven from a CPU
    machine needs `device: cuda`.
    """

    name = "hf_classifier"
    summary = "Score each document with a local Hugging Face classifier (FineWeb-Edu's, say); drops nothing."
    option_minimum = {"batch_size": 1, "max_length": 1}
    option_help = {
        "model": "A local folder of a Hugging Face sequence-classification model, with model.safetensors.",
        "name": "Metadata key of the score (regression), or prefix of name_LABEL (one per class).",
        "device": "cuda, cpu, or auto: cuda when the machine that plans the run shows a GPU.",
        "batch_size": "Documents per forward pass.",
        "max_length": "Tokens of each text the model reads; the rest is cut as its tokenizer truncates.",
        "dtype": "Weights and activations: auto is bfloat16 on cuda, float32 on cpu.",
    }
    # Filter.run's batches: LENGTH_WINDOW forward passes (set per instance from the `batch_size` option).
    batch_size = DEFAULT_BATCH * LENGTH_WINDOW

    def __init__(
        self,
        model: str,
        name: str = "edu",
        device: Device = "auto",
        batch_size: int = DEFAULT_BATCH,
        max_length: int = 512,
        dtype: DType = "auto",
    ) -> None:
        super().__init__()
        check_arguments(self, locals())
        problem = model_problem(model)
        if problem:
            raise OptionError(problem)
        self.model_path, self.key, self.device = model, name, device
        self.max_length, self.dtype = max_length, dtype
        self.pass_size = batch_size
        # An instance attribute shadowing the class's: Filter.run reads `self.batch_size`.
        self.batch_size = batch_size * LENGTH_WINDOW
        self._loaded: _Loaded | None = None  # on the first batch, once per worker (steps are built per worker)

    @classmethod
    def option_problem(cls, options: dict[str, Any]) -> tuple[str, str] | None:
        """Checked when a pipeline file is read, so a bad folder stops the run before any work."""
        problem = model_problem(options.get("model"))
        return ("model", problem) if problem else None

    @classmethod
    def resources_for(cls, options: dict[str, Any]) -> Resources:
        """A GPU for `device: cuda`, nothing beyond the default for `cpu`. `auto` is decided here, on the
        machine that plans (plan.visible_gpus): a driver without GPUs plans `auto` as CPU, so users of a GPU
        cluster driven from a CPU machine set `device: cuda`."""
        device = options.get("device", "auto")
        if device == "auto":
            from webcorpus.pipeline.plan import visible_gpus  # plan.py imports this module's base, not back

            device = "cuda" if visible_gpus() else "cpu"
        return Resources(gpus=1) if device == "cuda" else Resources()

    def loaded(self) -> _Loaded:
        if self._loaded is None:
            self._loaded = _Loaded(self.model_path, resolve_device(self.device), self.dtype, self.max_length)
        return self._loaded

    def scores(self, texts: list[str]) -> list[list[float]]:
        """Each text's outputs, in input order: one score (regression) or one probability per label."""
        return self.loaded().scores(texts, self.pass_size)

    def filter_batch(self, documents: list[Document]) -> list[str | None]:
        loaded = self.loaded()
        for document, outputs in zip(documents, loaded.scores([d.text for d in documents], self.pass_size)):
            if loaded.labels is None:
                document.metadata[self.key] = outputs[0]
            else:
                for label, probability in zip(loaded.labels, outputs):
                    document.metadata[f"{self.key}_{label}"] = probability
        return [None] * len(documents)  # scoring is not keeping: a later step filters on the scores

    def filter(self, document: Document) -> str | None:
        return self.filter_batch([document])[0]


class _Loaded:
    """A model and its tokenizer, loaded from a local folder without running any of its files."""

    def __init__(self, folder: str, device: str, dtype: str, max_length: int) -> None:
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        local = {"local_files_only": True, "trust_remote_code": False}
        self.tokenizer = AutoTokenizer.from_pretrained(folder, **local)
        if self.tokenizer.pad_token_id is None:
            raise OptionError(f"'{folder}': its tokenizer has no padding token, so texts cannot share a batch")
        self.model = AutoModelForSequenceClassification.from_pretrained(
            folder, use_safetensors=True, dtype=torch_dtype(dtype, device), **local
        )
        self.model.to(device).eval()
        self.device = device
        # Past the tokenizer's own limit the model has no positions (a BERT's 512): cut there, as it would.
        limit = self.tokenizer.model_max_length
        self.max_length = min(max_length, limit) if isinstance(limit, int) and limit > 0 else max_length
        config = self.model.config
        self.labels: list[str] | None = None
        if config.num_labels != 1:
            self.labels = [str(config.id2label[i]) for i in range(config.num_labels)]
        self.pads = {
            "input_ids": self.tokenizer.pad_token_id,
            "token_type_ids": getattr(self.tokenizer, "pad_token_type_id", 0) or 0,
        }

    def scores(self, texts: list[str], pass_size: int) -> list[list[float]]:
        import numpy as np
        import torch

        if not texts:
            return []
        # No padding yet: sorted by length, each pass is padded to its longest text (rounded up to PAD_MULTIPLE).
        encoded = self.tokenizer(texts, truncation=True, max_length=self.max_length, padding=False)
        keys = [key for key in self.tokenizer.model_input_names if key in encoded]
        lengths = [len(ids) for ids in encoded["input_ids"]]
        order = sorted(range(len(texts)), key=lengths.__getitem__)
        outputs = []
        with torch.inference_mode():
            for start in range(0, len(order), pass_size):
                rows = order[start : start + pass_size]
                longest = lengths[rows[-1]]
                width = min(-(-longest // PAD_MULTIPLE) * PAD_MULTIPLE, max(self.max_length, longest))
                batch = {}
                for key in keys:
                    # Right padding: positions count from 0 in every row; attention_mask pads with 0.
                    array = np.full((len(rows), width), self.pads.get(key, 0), dtype=np.int64)
                    for i, row in enumerate(rows):
                        array[i, : lengths[row]] = encoded[key][row]
                    batch[key] = torch.from_numpy(array).to(self.device, non_blocking=True)
                logits = self.model(**batch).logits.float()
                outputs.append(logits if self.labels is None else logits.softmax(-1))
            # One copy back per window, not per pass: each copy waits for the GPU to finish.
            ordered = torch.cat(outputs).cpu()
        scores = torch.empty_like(ordered)
        scores[torch.tensor(order)] = ordered  # back in input order
        return scores.tolist()

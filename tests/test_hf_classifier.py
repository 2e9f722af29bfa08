"""hf_classifier: scores as transformers' own forward pass gives them, whatever the batching; where the planner
puts it (by its `device`); refusing pickled weights; a pipeline run writing the scores.

The models are tiny random BERTs built here from a config, with a word-level tokenizer trained on a few
sentences: nothing is downloaded.
"""

from __future__ import annotations

import json
import random
from functools import lru_cache
from pathlib import Path

import pytest

from webcorpus.document import Document
from webcorpus.pipeline.config import load_pipeline
from webcorpus.pipeline.options import OptionError
from webcorpus.pipeline.plan import CorpusPass, DocumentPass, plan
from webcorpus.pipeline.run_folder import Folder
from webcorpus.pipeline.step import Resources

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from webcorpus.stages.hf_classifier import LENGTH_WINDOW, HfClassifier  # noqa: E402 (after the skips)

SENTENCES = [
    "the cat sat on the mat and looked at the dog",
    "students learn algebra and geometry at school every day",
    "buy cheap watches now click here for the best offers",
    "the theory of evolution explains the diversity of life",
    "a recipe for bread needs flour water salt and yeast",
]
MAX_POSITIONS = 64


def save_model(folder: Path, labels: list[str] | None, seed: int = 0) -> Path:
    """A tiny random BERT with a regression head (labels None) or a classification head, saved as
    safetensors with its tokenizer (model_max_length MAX_POSITIONS)."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors, trainers

    tokenizer = Tokenizer(models.WordLevel(unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]"]
    tokenizer.train_from_iterator(SENTENCES, trainers.WordLevelTrainer(special_tokens=specials))
    cls, sep = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", cls), ("[SEP]", sep)]
    )
    fast = transformers.PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]", sep_token="[SEP]",
        model_max_length=MAX_POSITIONS,
    )  # fmt: skip
    fast.save_pretrained(folder)
    config = transformers.BertConfig(
        vocab_size=tokenizer.get_vocab_size(), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=64, max_position_embeddings=MAX_POSITIONS, pad_token_id=fast.pad_token_id,
        num_labels=len(labels) if labels else 1,
    )  # fmt: skip
    if labels:
        config.id2label = dict(enumerate(labels))
        config.label2id = {label: i for i, label in enumerate(labels)}
    torch.manual_seed(seed)
    transformers.BertForSequenceClassification(config).save_pretrained(folder)  # safetensors only, in v5
    assert (folder / "model.safetensors").is_file()
    return folder


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("models")
    return {
        "regression": save_model(root / "regression", None),
        "classes": save_model(root / "classes", ["low", "mid", "high"], seed=1),
    }


def texts(count: int, seed: int = 0) -> list[str]:
    """Texts of mixed lengths (1 to 120 words, some past the model's 64 positions), with an empty one."""
    rng = random.Random(seed)
    words = " ".join(SENTENCES).split() + ["unseen"]
    return [""] + [" ".join(rng.choices(words, k=rng.randint(1, 120))) for _ in range(count - 1)]


@lru_cache(maxsize=4)
def loaded(folder: Path) -> tuple:
    tokenizer = transformers.AutoTokenizer.from_pretrained(folder)
    return tokenizer, transformers.AutoModelForSequenceClassification.from_pretrained(folder).eval()


def reference(folder: Path, text: str, max_length: int = MAX_POSITIONS) -> list[float]:
    """transformers' own forward pass over the one text alone, float32."""
    tokenizer, model = loaded(folder)
    with torch.inference_mode():
        logits = model(**tokenizer(text, truncation=True, max_length=max_length, return_tensors="pt")).logits[0]
    return (logits if model.config.num_labels == 1 else logits.softmax(-1)).tolist()


def documents(values: list[str]) -> list[Document]:
    return [Document(id=str(i), url=f"https://a.example/{i}", text=t) for i, t in enumerate(values)]


# ---- scores ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("head", ["regression", "classes"])
def test_scores_equal_the_models_own_forward_pass_on_each_text_alone(models, head):
    folder, values = models[head], texts(40)
    max_length = 48  # below the model's 64, so the long texts are cut by the option
    expected = [reference(folder, text, max_length) for text in values]
    step = HfClassifier(model=str(folder), device="cpu", batch_size=3, max_length=max_length)
    assert step.batch_size == 3 * LENGTH_WINDOW  # Filter.run's batches: several passes to sort by length
    for order in (list(range(40)), list(range(40))[::-1], random.Random(1).sample(range(40), 40)):
        found = step.scores([values[i] for i in order])
        for position, i in enumerate(order):
            assert found[position] == pytest.approx(expected[i], abs=1e-5)


def test_metadata_of_a_regression_and_a_classification_head_and_nothing_is_dropped(models):
    values = texts(10, seed=2)
    regression = HfClassifier(model=str(models["regression"]), device="cpu", batch_size=4)
    scored = list(regression.run(documents(values)))
    assert len(scored) == 10 and regression.stats.kept == 10 and not regression.stats.dropped
    for document, text in zip(scored, values):
        assert list(document.metadata) == ["edu"]
        assert document.metadata["edu"] == pytest.approx(reference(models["regression"], text)[0], abs=1e-5)

    classes = HfClassifier(model=str(models["classes"]), name="quality", device="cpu")
    (document,) = list(classes.run(documents(["students learn algebra"])))
    assert list(document.metadata) == ["quality_low", "quality_mid", "quality_high"]
    probabilities = [document.metadata[key] for key in document.metadata]
    assert sum(probabilities) == pytest.approx(1) and all(0 < p < 1 for p in probabilities)
    assert probabilities == pytest.approx(reference(models["classes"], "students learn algebra"), abs=1e-5)


def test_the_model_is_loaded_once_per_instance_on_its_first_batch(models, monkeypatch):
    import webcorpus.stages.hf_classifier as module

    loads = []
    original = module._Loaded.__init__
    monkeypatch.setattr(module._Loaded, "__init__", lambda self, *a: loads.append(a) or original(self, *a))
    step = HfClassifier(model=str(models["regression"]), device="cpu", batch_size=2)
    assert loads == []  # building the step (as the YAML check and every worker do) loads nothing
    step.start_task()
    list(step.run(documents(texts(5))))
    step.start_task()
    list(step.run(documents(texts(5))))
    assert len(loads) == 1


# ---- safety ----------------------------------------------------------------------------------------------


def test_a_folder_without_safetensors_weights_is_refused_in_one_line(models, tmp_path):
    folder = tmp_path / "pickled"
    folder.mkdir()
    for name in ("config.json", "tokenizer.json", "tokenizer_config.json"):
        (folder / name).write_bytes((models["regression"] / name).read_bytes())
    (folder / "pytorch_model.bin").write_bytes(b"not unpickled, ever")
    with pytest.raises(OptionError) as refused:
        HfClassifier(model=str(folder))
    message = str(refused.value)
    assert "\n" not in message and "model.safetensors" in message and "pickled" in message
    with pytest.raises(TypeError, match="model"):
        HfClassifier()
    with pytest.raises(OptionError, match="not a local model folder"):
        HfClassifier(model="HuggingFaceFW/fineweb-edu-classifier")  # a hub name: nothing is downloaded
    # The same check when a pipeline file is read, before any work.
    path = tmp_path / "pipeline.yaml"
    path.write_text(f"input: {tmp_path}/*.parquet\noutput: {tmp_path}/out\nsteps:\n  - read_parquet\n"
                    f"  - hf_classifier: {{model: {folder}}}\n")  # fmt: skip
    with pytest.raises(ValueError) as refused:
        load_pipeline(path)
    assert "model.safetensors" in str(refused.value) and "hf_classifier" in str(refused.value)
    path.write_text(f"input: {tmp_path}/*.parquet\noutput: {tmp_path}/out\nsteps:\n  - read_parquet\n"
                    "  - hf_classifier: {name: edu, device: cpu}\n")  # fmt: skip
    with pytest.raises(ValueError, match="needs option 'model'"):
        load_pipeline(path)


# ---- planning --------------------------------------------------------------------------------------------


def planned(tmp_path: Path, model: Path, device: str) -> list[DocumentPass | CorpusPass]:
    path = tmp_path / f"{device}.yaml"
    steps = ["read_warc", "url_filter", f"hf_classifier: {{model: {model}, device: {device}}}", "gopher_quality",
             "write_parquet"]  # fmt: skip
    path.write_text(
        f"input: {tmp_path}/*.warc\noutput: {tmp_path}/out\nsteps:\n" + "".join(f"  - {s}\n" for s in steps)
    )
    return plan(load_pipeline(path), Folder("/run"))[1]


def outline(passes: list) -> list[tuple[list[str], Resources]]:
    return [([s.name for s in p.steps], p.resources) for p in passes]


def test_the_planner_gives_a_cuda_classifier_a_gpu_pass_and_a_cpu_one_none(models, tmp_path, monkeypatch):
    model = models["regression"]
    assert outline(planned(tmp_path, model, "cuda")) == [
        (["read_warc", "url_filter", "write_parquet"], Resources()),
        (["read_parquet", "hf_classifier", "write_parquet"], Resources(gpus=1)),
        (["read_parquet", "gopher_quality", "write_parquet"], Resources()),
    ]
    cpu = [(["read_warc", "url_filter", "hf_classifier", "gopher_quality", "write_parquet"], Resources())]
    assert outline(planned(tmp_path, model, "cpu")) == cpu
    # auto: decided by the GPUs the planning machine shows.
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert outline(planned(tmp_path, model, "auto")) == cpu
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")
    assert [p.resources for p in planned(tmp_path, model, "auto")] == [Resources(), Resources(gpus=1), Resources()]
    assert HfClassifier.resources_for({"model": str(model), "device": "cpu"}) == Resources()


# ---- a pipeline run ----------------------------------------------------------------------------------------


def test_a_pipeline_run_writes_the_scores_into_the_metadata(models, tmp_path):
    from webcorpus.parquet import read_documents
    from webcorpus.pipeline.runner import run_pipeline
    from webcorpus.stages.write_parquet import ParquetWriter

    values = texts(12, seed=3)
    (tmp_path / "in").mkdir()
    writer = ParquetWriter(rows_per_shard=100)
    writer.open(tmp_path / "in", "fixture")
    list(writer.run(documents(values)))
    path = tmp_path / "pipeline.yaml"
    path.write_text(
        f"input: {tmp_path}/in/*.parquet\noutput: {tmp_path}/out\nsteps:\n  - read_parquet\n"
        f"  - hf_classifier: {{model: {models['regression']}, device: cpu, batch_size: 5}}\n  - write_parquet\n"
    )
    run_pipeline(load_pipeline(path), workers=1, progress=False)
    written = {d.id: d for d in read_documents(tmp_path / "out" / "data")}
    assert len(written) == 12
    for i, text in enumerate(values):
        assert written[str(i)].metadata["edu"] == pytest.approx(reference(models["regression"], text)[0], abs=1e-5)
    summary = json.loads((tmp_path / "out" / "stats.json").read_text())
    steps = {s["step"]: s for s in summary["steps"]}
    assert steps["hf_classifier"]["documents_in"] == steps["hf_classifier"]["kept"] == 12


# ---- a real GPU --------------------------------------------------------------------------------------------


@pytest.mark.gpu
def test_on_a_gpu_scores_match_the_cpu_ones(models):
    if not torch.cuda.is_available():
        pytest.skip("needs a GPU")
    values = texts(50, seed=4)
    cpu = HfClassifier(model=str(models["classes"]), device="cpu").scores(values)
    exact = HfClassifier(model=str(models["classes"]), device="cuda", dtype="float32", batch_size=8).scores(values)
    flat = [p for row in cpu for p in row]
    assert [p for row in exact for p in row] == pytest.approx(flat, abs=1e-4)
    bf16 = HfClassifier(model=str(models["classes"]), device="cuda", batch_size=8)  # bfloat16 by default on cuda
    assert bf16.loaded().model.dtype == torch.bfloat16
    assert [p for row in bf16.scores(values) for p in row] == pytest.approx(flat, abs=0.05)

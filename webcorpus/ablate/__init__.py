"""Data ablations (`webcorpus ablate`): pipeline variants, one tokenizer, the same model and budget,
scored on the same text (run.py, score.py, report.py)."""

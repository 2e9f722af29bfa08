"""Quality classifiers: training fastText models for `fasttext_classifier` (docs/quality.md).

`prepare.py` is the one text preparation shared by training and scoring; `fasttext_format.py` writes
fastText's own `.bin` format; `train.py` is `webcorpus train-classifier`.
"""

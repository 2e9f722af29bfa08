"""Deduplication: MinHash signatures, in-stream steps and the corpus-wide MinHash step."""

"""Helpers for tests and benchmarks, not part of a pipeline: the sample-WARC writer and a dedup ground truth."""

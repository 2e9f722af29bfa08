"""Per-document steps: readers, FineWeb's filters in its order, and the Parquet writer.

Each module is one step; `webcorpus/pipeline/registry.py` lists them by name.
"""

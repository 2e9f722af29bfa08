"""Languages: word segmenters per language and per-language filter thresholds (docs/multilingual.md)."""

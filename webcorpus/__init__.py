"""webcorpus: CommonCrawl WARC files to language-model training data, FineWeb style."""

__version__ = "0.1.0"

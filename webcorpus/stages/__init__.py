"""Every stage, by the name the YAML uses (the shell subcommand is the same name with dashes)."""

from webcorpus.stages.base import Filter, Stage, StageStats
from webcorpus.stages.extract import TrafilaturaExtractor
from webcorpus.stages.langid import LanguageFilter
from webcorpus.stages.read_warc import WarcReader
from webcorpus.stages.url_filter import UrlFilter
from webcorpus.stages.write_parquet import ParquetShardWriter

READERS: dict[str, type[Stage]] = {WarcReader.name: WarcReader}
FILTERS: dict[str, type[Filter]] = {cls.name: cls for cls in (UrlFilter, TrafilaturaExtractor, LanguageFilter)}
WRITERS: dict[str, type[Stage]] = {ParquetShardWriter.name: ParquetShardWriter}
STAGES: dict[str, type[Stage]] = {**READERS, **FILTERS, **WRITERS}

__all__ = ["Filter", "Stage", "StageStats", "STAGES", "READERS", "FILTERS", "WRITERS"]

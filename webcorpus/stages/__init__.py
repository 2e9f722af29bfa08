"""Every stage, by the name the YAML uses (the shell subcommand is the same name with dashes)."""

from webcorpus.stages.base import Filter, Stage, StageStats
from webcorpus.stages.c4_quality import C4QualityFilter
from webcorpus.stages.exact_dedup import ExactDeduplicator
from webcorpus.stages.extract import TrafilaturaExtractor
from webcorpus.stages.fineweb_quality import FineWebQualityFilter
from webcorpus.stages.gopher_quality import GopherQualityFilter
from webcorpus.stages.gopher_repetition import GopherRepetitionFilter
from webcorpus.stages.langid import LanguageFilter
from webcorpus.stages.minhash_dedup import MinHashDeduplicator
from webcorpus.stages.pii import PiiScrubber
from webcorpus.stages.read_warc import WarcReader
from webcorpus.stages.url_filter import UrlFilter
from webcorpus.stages.write_parquet import ParquetShardWriter

READERS: dict[str, type[Stage]] = {WarcReader.name: WarcReader}
FILTERS: dict[str, type[Filter]] = {
    cls.name: cls
    for cls in (
        UrlFilter,
        TrafilaturaExtractor,
        LanguageFilter,
        GopherRepetitionFilter,
        GopherQualityFilter,
        C4QualityFilter,
        FineWebQualityFilter,
        ExactDeduplicator,
        MinHashDeduplicator,
        PiiScrubber,
    )
}
WRITERS: dict[str, type[Stage]] = {ParquetShardWriter.name: ParquetShardWriter}
STAGES: dict[str, type[Stage]] = {**READERS, **FILTERS, **WRITERS}

__all__ = ["Filter", "Stage", "StageStats", "STAGES", "READERS", "FILTERS", "WRITERS"]

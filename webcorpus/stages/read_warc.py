"""read-warc: HTTP 200 HTML responses from WARC files, decoded to text, as Documents."""

from __future__ import annotations

import codecs
import glob
import gzip
import logging
import re
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

from warcio.archiveiterator import BUFF_SIZE, ArchiveIterator
from warcio.bufferedreaders import DecompressingBufferedReader
from warcio.statusandheaders import StatusAndHeadersParser

from webcorpus import storage
from webcorpus.document import Document
from webcorpus.pipeline.step import Reader

# warcio warns once per read of every odd target URI it repairs; at crawl scale that is noise.
logging.getLogger("warcio").setLevel(logging.ERROR)

WARC_SUFFIXES = (".warc", ".warc.gz")
HTML_TYPES = ["text/html", "application/xhtml+xml"]

# <meta charset="x"> and <meta http-equiv="Content-Type" content="text/html; charset=x">.
META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([a-zA-Z0-9_.:-]+)""", re.IGNORECASE)
META_SCAN_BYTES = 4096
DETECT_SCAN_BYTES = 65536
# Browsers (and the WHATWG encoding spec) read these labels as windows-1252; so do we.
CHARSET_ALIASES = {
    "iso-8859-1": "cp1252",
    "latin-1": "cp1252",
    "latin1": "cp1252",
    "us-ascii": "cp1252",
    "ascii": "cp1252",
}


class InputError(ValueError):
    """An input pattern that names nothing readable."""


class HeaderTooLarge(ValueError):
    """A WARC or HTTP header line, or header block, over the reader's bounds."""


class _BoundedLineReader(DecompressingBufferedReader):
    """warcio's reader with header reads bounded. warcio reads every header line (WARC and HTTP) with
    `readline` and reads it to its end, however long: one line of a hostile file could fill the memory.
    A header block is the run of non-blank lines read one after another; `read` (payloads) is not bounded here."""

    def __init__(self, stream, max_line: int, max_block: int) -> None:
        super().__init__(stream, block_size=BUFF_SIZE)
        self.max_line = max_line
        self.max_block = max_block
        self.block = 0

    def readline(self, length: int | None = None) -> bytes:
        bound = self.max_line + 1 if length is None else min(length, self.max_line + 1)
        line = b""
        while len(line) < bound and not line.endswith(b"\n"):  # warcio's readline may stop short of `bound`
            piece = super().readline(bound - len(line))
            if not piece:
                break
            line += piece
        if len(line) > self.max_line:
            raise HeaderTooLarge(f"a header line longer than {self.max_line} bytes")
        self.block = self.block + len(line) if line.strip() else 0
        if self.block > self.max_block:
            raise HeaderTooLarge(f"a header block longer than {self.max_block} bytes")
        return line

    def read(self, length: int | None = None) -> bytes:
        self.block = 0
        return super().read(length)


class _Archive(ArchiveIterator):
    """warcio's records of one file, with bounded header reads, and the means to go past a record whose
    headers are over the bounds."""

    def __init__(self, stream, max_line: int, max_block: int) -> None:
        super().__init__(stream)
        self.reader = _BoundedLineReader(self.fh, max_line, max_block)

    def skip_member(self) -> bool:
        """Go on at the next gzip member (CommonCrawl gzips each record alone); False where the file is not
        gzipped, and so the next record cannot be found."""
        reader = self.reader
        if not reader.decompressor:
            return False
        while reader.read(BUFF_SIZE):  # the rest of this member, a piece at a time
            pass
        self.offset = self.fh.tell() - reader.rem_length()
        reader.read_next_member()
        # warcio's record generator ended with the error; a new one starts where the reader now is.
        self.record, self.member_info, self.next_line = None, None, None
        self.the_iter = self._iterate_records()
        return True


def expand_inputs(patterns: Iterable[str], paths_base: str | None = None) -> list[Path | str]:
    """Files to read from paths, folders, globs and CommonCrawl `warc.paths[.gz]` lists, local or remote
    (s3://, https://: webcorpus/storage.py); remote files are URLs, local ones Paths.

    Paths inside a list are relative to `paths_base` (default: the list's own folder), so a downloaded
    `warc.paths.gz` works next to a mirror of `crawl-data/`, or with `https://data.commoncrawl.org/`.
    """
    files: list[Path | str] = []
    for pattern in patterns:
        if storage.is_remote(pattern):
            try:
                found = storage.expand(pattern)
            except (OSError, ValueError) as error:
                raise InputError(f"{pattern}: {error}") from None
            if not found:
                raise InputError(f"{pattern}: no file matches")
            for url in found:
                if url.endswith((".paths", ".paths.gz")):
                    files.extend(_read_paths_list(url, paths_base))
                elif url.endswith(WARC_SUFFIXES) or not glob.has_magic(pattern):
                    files.append(url)
            continue
        matches = sorted(glob.glob(pattern)) if glob.has_magic(pattern) else [pattern]
        if not matches:
            raise InputError(f"{pattern}: no file matches")
        for match in matches:
            path = Path(match)
            if path.is_dir():
                found = sorted(p for p in path.rglob("*") if p.name.endswith(WARC_SUFFIXES))
                if not found:
                    raise InputError(f"{path}: folder holds no .warc or .warc.gz file")
                files.extend(found)
            elif path.name.endswith((".paths", ".paths.gz")):
                files.extend(_read_paths_list(path, paths_base))
            elif path.is_file():
                files.append(path)
            elif path.exists():  # a FIFO, a device: reading it could block forever
                raise InputError(f"{path}: not a regular file")
            else:
                raise InputError(f"{path}: no such file")
    return files


def warc_name(path: Path | str) -> str:
    """How documents name their WARC file: from `crawl-data/` on for a CommonCrawl file, else the file's name;
    never where this machine keeps it, so the same files give the same output from a disk, S3 or HTTPS."""
    text = str(path)
    return text[text.index("crawl-data/") :] if "crawl-data/" in text else text.rsplit("/", 1)[-1]


# CommonCrawl keeps a crawl's files under crawl-data/CC-MAIN-2024-10/ (CC-NEWS: crawl-data/CC-NEWS/).
CRAWL_FOLDER = re.compile(r"(?:^|/)crawl-data/([^/]+)/")
WARCINFO_SCAN_BYTES = 65536


def dump_of_path(path: Path | str) -> str | None:
    """The crawl a CommonCrawl file belongs to, from its path (crawl-data/NAME/...); None for another path."""
    found = CRAWL_FOLDER.search(str(path))
    return found.group(1) if found else None


def dump_of_warcinfo(record) -> str | None:
    """The `isPartOf` field of a warcinfo record (CommonCrawl writes the crawl's name there:
    `isPartOf: CC-MAIN-2024-10`); None where it has none."""
    try:
        fields = record.content_stream().read(WARCINFO_SCAN_BYTES).decode("utf-8", errors="replace")
    except Exception:  # a damaged warcinfo names no crawl; reading the file goes on as before
        return None
    for line in fields.splitlines():
        key, _, value = line.partition(":")
        if key.strip().lower() == "ispartof" and value.strip():
            return value.strip()
    return None


def _read_paths_list(path: Path | str, paths_base: str | None) -> list[Path | str]:
    base = paths_base or (str(path).rsplit("/", 1)[0] if storage.is_remote(path) else str(Path(path).parent))
    with storage.open_input(path) as raw:
        data = raw.read()
    text = (gzip.decompress(data) if str(path).endswith(".gz") else data).decode("utf-8")
    entries = [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]
    joined = [storage.join(base, entry) for entry in entries]
    return [item if storage.is_remote(item) else Path(item) for item in joined]


def decode_html(payload: bytes, header_charset: str | None) -> tuple[str, str]:
    """Decode a page: the HTTP header's charset, then the <meta> tag's, then UTF-8, then detection.

    A declared charset that fails to decode strictly is treated as a lie and the next source is
    tried. Returns the text and where the charset came from.
    """
    meta = META_CHARSET.search(payload[:META_SCAN_BYTES])
    declared = [("http_header", header_charset), ("meta", meta.group(1).decode("ascii") if meta else None)]
    for source, charset in declared:
        if charset:
            codec = CHARSET_ALIASES.get(charset.lower(), charset)
            try:
                return payload.decode(codec), source
            except (LookupError, UnicodeDecodeError):
                continue
    try:
        return payload.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    best = from_bytes(payload[:DETECT_SCAN_BYTES]).best()
    codec = best.encoding if best is not None else "cp1252"
    return payload.decode(codec, errors="replace"), "detected"


def _header_charset(content_type: str) -> str | None:
    for part in content_type.split(";")[1:]:
        key, _, value = part.partition("=")
        if key.strip().lower() == "charset" and value.strip():
            charset = value.strip().strip("\"'")
            try:
                codecs.lookup(CHARSET_ALIASES.get(charset.lower(), charset))
            except LookupError:
                return None
            return charset
    return None


class WarcReader(Reader):
    """WARC `response` records with HTTP 200 and an HTML content type become documents: id (WARC-Record-ID),
    url, date, file (`warc_file`) and crawl (`dump`: the warcinfo record's `isPartOf`, else the crawl-data/NAME/
    folder of the path, else none) as metadata. Charset: the HTTP header's, then `<meta>`, then UTF-8, then detection
    (charset-normalizer); a declared charset that fails to decode is not trusted. Reads `.warc` and
    `.warc.gz`; inputs are files, folders, globs and CommonCrawl `warc.paths[.gz]` lists. A damaged file
    keeps every good record before the damage and is reported by path."""

    name = "read_warc"
    summary = "Read WARC files: HTTP 200 HTML responses become documents (decoded HTML as text)."
    drop_reasons = {
        "repeated_record": "A WARC record with the same record id as an earlier one in the file.",
        "no_http_headers": "The record holds no HTTP response headers to read.",
        "http_status": "The HTTP status was not 200: an error page, a redirect, nothing to keep.",
        "content_type": "Not one of the content types listed (HTML by default): an image, a PDF, a script.",
        "too_large": "The response body is larger than the reader's limit.",
        "truncated_record": "The crawler cut the response short (WARC-Truncated): the page is incomplete.",
        "header_too_large": "The HTTP headers are larger than the reader's limit: a damaged or hostile record.",
    }
    option_minimum = {"max_record_bytes": 1, "max_header_line_bytes": 256, "max_header_bytes": 256}
    option_help = {
        "content_types": "HTTP content types to keep (others are dropped as 'content_type').",
        "paths_base": "Folder that paths inside a CommonCrawl warc.paths list are relative to "
        "(default: the list's folder).",
        "max_record_bytes": "Drop a response whose payload decompresses to more than this many bytes ('too_large'); "
        "CommonCrawl cuts records at 1 MiB, so this only stops damaged or hostile records.",
        "max_header_line_bytes": "Drop a record with a WARC or HTTP header line longer than this "
        "('header_too_large'); the file goes on at the next record where it is gzipped per record.",
        "max_header_bytes": "Drop a record whose WARC or HTTP header block is longer than this "
        "('header_too_large'), as for max_header_line_bytes.",
    }

    def __init__(
        self,
        content_types: list[str] = HTML_TYPES,
        paths_base: str | None = None,
        max_record_bytes: int = 10_000_000,
        max_header_line_bytes: int = 65_536,
        max_header_bytes: int = 1_048_576,
    ) -> None:
        super().__init__()
        self.content_types = [t.lower() for t in content_types]
        self.paths_base = paths_base
        self.max_record_bytes = max_record_bytes
        self.max_header_line_bytes = max_header_line_bytes
        self.max_header_bytes = max_header_bytes

    def expand(self, patterns: Iterable[str]) -> list[Path | str]:
        return expand_inputs(patterns, self.paths_base)

    def read(self, path: Path | str) -> Iterator[Document]:
        """Documents of one file. Damage ends the file, not the run: what came before is kept."""
        if not storage.is_remote(path) and Path(path).exists() and not Path(path).is_file():
            self._bad_file(path, OSError("not a regular file (a FIFO or a device could block forever)"), 0)
            return
        try:
            stream = storage.open_input(path)
        except OSError as error:
            self._bad_file(path, error, 0)
            return
        kept_here = 0
        seen_ids: set[str] = set()
        dump = dump_of_path(warc_name(path))
        with stream:
            archive = _Archive(stream, self.max_header_line_bytes, self.max_header_bytes)
            end = 0  # where the last whole record, or the last record skipped, ends
            while True:
                try:
                    record = next(archive)
                except StopIteration:
                    break
                except HeaderTooLarge as error:
                    self.stats.documents_in += 1
                    stub = Document("", "", "", {"warc_file": warc_name(path)})
                    if not self._skip_header_too_large(archive, path, error, stub, kept_here):
                        return
                    end = archive.offset
                    continue
                except Exception as error:  # warcio raises many kinds on damaged gzip or headers
                    self._bad_file(path, error, kept_here)
                    return
                length = record.rec_headers.get_header("Content-Length") or ""
                if record.rec_type is None or not length.strip().isdigit():
                    # What warcio makes of a record whose headers were cut off (every WARC record has a length).
                    self._bad_file(path, EOFError("the file ends inside a record (cut short)"), kept_here)
                    return
                reports_before = len(self.stats.bad_files)
                if record.rec_type == "warcinfo":  # it comes first: it names the crawl of the records after it
                    dump = dump_of_warcinfo(record) or dump
                if record.rec_type == "response":
                    self.stats.documents_in += 1
                    record_id = record.rec_headers.get_header("WARC-Record-ID") or ""
                    if record_id and record_id in seen_ids:  # a gzip member repeated in the file
                        self.stats.errors["repeated_record"] += 1
                        self.drop(Document(record_id, "", "", {"warc_file": warc_name(path)}), "repeated_record")
                        end = archive.get_record_offset() + archive.get_record_length()
                        continue
                    seen_ids.add(record_id)
                    try:
                        document = self._to_document(record, path, dump)
                    except HeaderTooLarge as error:
                        stub = Document(record_id, "", "", {"warc_file": warc_name(path)})
                        if not self._skip_header_too_large(archive, path, error, stub, kept_here):
                            return
                        end = archive.offset
                        continue
                    except Exception as error:
                        self.stats.errors["corrupt_record"] += 1
                        self._bad_file(path, error, kept_here)
                        return
                    if document is not None:
                        self.stats.kept += 1
                        kept_here += 1
                        yield document
                # Only after the payload is read: asking for the offset reads the record to its end.
                end = archive.get_record_offset() + archive.get_record_length()
                if getattr(record.raw_stream, "limit", 0) > 0 and len(self.stats.bad_files) == reports_before:
                    # A record cut short that nothing above reported (not a page we read): the file ends in it.
                    cut = EOFError(f"the file ends inside a {record.rec_type} record (cut short)")
                    self._bad_file(path, cut, kept_here)
                    return
            # warcio ends quietly when a file is cut inside a later gzip member: compare where the
            # last whole record ended with the file's size to notice.
            size = storage.size(path)
            if end < size:
                self._bad_file(path, EOFError(f"{size - end} bytes after the last complete record"), kept_here)

    def _to_document(self, record, path: Path | str, dump: str | None = None) -> Document | None:
        url = record.rec_headers.get_header("WARC-Target-URI") or ""
        record_id = record.rec_headers.get_header("WARC-Record-ID") or ""
        stub = Document(id=record_id, url=url, text="", metadata={"warc_file": warc_name(path)})
        if dump is not None:  # the `dump` column; unknown for a file that is not CommonCrawl's
            stub.metadata["dump"] = dump
        http, payload_stream = record.http_headers, None
        if http is None and (record.rec_headers.get_header("Content-Type") or "").startswith("application/http"):
            # warcio parses HTTP headers only for http(s) URIs; the record itself says it holds HTTP.
            payload_stream = record.raw_stream
            http = StatusAndHeadersParser(["HTTP/1.0", "HTTP/1.1"], verify=False).parse(payload_stream)
        if http is None:
            self.drop(stub, "no_http_headers")
            return None
        if http.get_statuscode() != "200":
            self.drop(stub, "http_status")
            return None
        content_type = http.get_header("Content-Type") or ""
        mime = content_type.split(";")[0].strip().lower()
        if not mime:
            mime = (record.rec_headers.get_header("WARC-Identified-Payload-Type") or "").lower()
        if mime not in self.content_types:
            self.drop(stub, "content_type")
            return None
        # Never more than the cap in memory, however far a record (a gzip bomb) would decompress.
        payload = (payload_stream or record.content_stream()).read(self.max_record_bytes + 1)
        if len(payload) > self.max_record_bytes:
            self.stats.errors["too_large"] += 1
            self.drop(stub, "too_large")
            return None
        if record.raw_stream.limit > 0:
            # The block ended before its Content-Length: a clipped download or a cut file.
            self.stats.errors["truncated_record"] += 1
            self.drop(stub, "truncated_record")
            lost = f"record {record_id or '(no id)'} ends {record.raw_stream.limit} bytes short of its length"
            self._bad_file(path, EOFError(lost), None)
            return None
        text, charset_source = decode_html(payload, _header_charset(content_type))
        stub.text = text
        stub.metadata.update(
            date=record.rec_headers.get_header("WARC-Date"),
            content_type=mime,
            charset_source=charset_source,
        )
        return stub

    def _skip_header_too_large(
        self, archive: _Archive, path: Path | str, error: HeaderTooLarge, stub: Document, kept_before: int
    ) -> bool:
        """Drop a record whose headers are over the bounds; True where the file goes on after it."""
        self.stats.errors["header_too_large"] += 1
        self.drop(stub, "header_too_large")
        at = archive.offset
        if archive.skip_member():
            self._bad_file(path, HeaderTooLarge(f"{error} in the record at byte {at}: dropped, read on after it"), None)
            return True
        self._bad_file(path, HeaderTooLarge(f"{error} in the record at byte {at}: the file ends there"), kept_before)
        return False

    def _bad_file(self, path: Path | str, error: Exception, kept_before: int | None) -> None:
        detail = str(error).strip()
        detail = detail if len(detail) <= 160 else detail[:160] + "..."
        message = self.stats.bad_file(f"{path}: {type(error).__name__}: {detail}")
        kept = "" if kept_before is None else f" (kept the {kept_before} documents read before it)"
        print(f"webcorpus: read_warc: {message}{kept}", file=sys.stderr)

import gzip
from pathlib import Path

import pytest
from conftest import REPO, html_page, shared_warc

from webcorpus.stages.read_warc import InputError, WarcReader, decode_html, expand_inputs
from webcorpus.testing.sample_warc import Page, write_sample


def read_all(*paths):
    reader = WarcReader()
    return list(reader.run(paths)), reader.stats


def test_keeps_200_html_and_drops_the_rest_with_reasons(make_warc):
    path = make_warc(
        "a.warc.gz",
        [
            html_page("https://a.example.com/ok"),
            html_page("https://a.example.com/xhtml", content_type="application/xhtml+xml"),
            html_page("https://a.example.com/gone", status="404 Not Found"),
            Page("https://a.example.com/doc.pdf", b"%PDF-1.4", content_type="application/pdf"),
        ],
    )
    docs, stats = read_all(path)
    assert [d.url for d in docs] == ["https://a.example.com/ok", "https://a.example.com/xhtml"]
    assert stats.documents_in == 4 and stats.kept == 2
    assert stats.dropped == {"http_status": 1, "content_type": 1}
    doc = docs[0]
    assert doc.id.startswith("<urn:uuid:")
    assert doc.metadata["date"] == "2024-05-01T12:00:00Z"
    assert doc.metadata["warc_file"] == path.name
    assert "<html" in doc.text


def test_reads_uncompressed_warc(make_warc):
    path = make_warc("plain.warc", [html_page("https://b.example.com/")])
    docs, _ = read_all(path)
    assert len(docs) == 1


def test_charset_from_header_then_meta_then_detection():
    text = "Les marchés de Noël — café"
    latin1 = f"<html><body>{text}</body></html>".encode("cp1252")
    assert decode_html(latin1, "iso-8859-1") == (f"<html><body>{text}</body></html>", "http_header")
    with_meta = f'<html><head><meta charset="windows-1252"></head><body>{text}</body></html>'
    assert decode_html(with_meta.encode("cp1252"), None)[1] == "meta"
    assert decode_html(with_meta.encode("cp1252"), None)[0] == with_meta
    # A header that lies (says UTF-8 for Latin-1 bytes) is not believed.
    decoded, source = decode_html(with_meta.encode("cp1252"), "utf-8")
    assert source == "meta" and "Noël" in decoded
    sjis = (
        "<html><head><meta http-equiv='Content-Type' content='text/html; charset=Shift_JIS'></head>"
        "<body>秋の京都</body></html>"
    )
    assert decode_html(sjis.encode("shift_jis"), None) == (sjis, "meta")
    assert decode_html("plain ütf-8".encode(), None) == ("plain ütf-8", "utf-8")


def test_sample_pages_decode_through_every_charset_path(sample_dir):
    docs, _ = read_all(*sorted(sample_dir.glob("*.warc.gz")))
    by_url = {d.url: d for d in docs}
    assert "Noël" in by_url["https://www.petites-annonces-brest.fr/marches-de-noel"].text
    assert "秋の京都を歩く" in by_url["https://www.yamanote-sanpo.jp/kyoto/autumn"].text
    detected = by_url["https://www.seaside-cafe-reviews.co.uk/reviews/lighthouse-tearoom"]
    assert detected.metadata["charset_source"] == "detected"
    assert "Café Review" in detected.text and "\u201ca café" in detected.text


def test_truncated_file_keeps_records_before_the_damage(make_warc, capsys):
    pages = [html_page(f"https://c.example.com/{i}", [f"Paragraph {i} " * 200]) for i in range(6)]
    whole = make_warc("whole.warc.gz", pages)
    data = whole.read_bytes()
    cut = whole.with_name("cut.warc.gz")
    cut.write_bytes(data[: int(len(data) * 0.7)])
    docs, stats = read_all(cut, whole)
    cut_docs = [d for d in docs if d.metadata["warc_file"] == cut.name]
    assert 1 <= len(cut_docs) < 6
    assert [d.url for d in cut_docs] == [p.url for p in pages[: len(cut_docs)]]
    assert len(docs) == len(cut_docs) + 6  # the good file after it is read in full
    assert stats.errors["bad_file"] + stats.errors["truncated_record"] >= 1
    if stats.bad_files:
        assert str(cut) in stats.bad_files[0]
        assert str(cut) in capsys.readouterr().err


def test_garbage_and_missing_files_are_reported_not_fatal(tmp_path, make_warc):
    junk = tmp_path / "junk.warc.gz"
    junk.write_bytes(gzip.compress(b"this is not a WARC file\r\n\r\n" * 10))
    good = make_warc("good.warc.gz", [html_page("https://d.example.com/")])
    docs, stats = read_all(junk, tmp_path / "missing.warc.gz", good)
    assert [d.url for d in docs] == ["https://d.example.com/"]
    assert stats.errors["bad_file"] == 2
    assert any("junk.warc.gz" in b for b in stats.bad_files)
    assert any("missing.warc.gz" in b for b in stats.bad_files)


def test_clipped_commoncrawl_record_is_counted_and_skipped():
    docs, stats = read_all(shared_warc("edge-clipped.warc.gz"))
    assert docs == []
    assert stats.errors["truncated_record"] == 1


def test_unknown_record_types_at_block_boundaries_are_ignored():
    docs, stats = read_all(shared_warc("edge-block-sized-records.warc.gz"))
    assert docs == [] and stats.bad_files == []


def test_expand_inputs_folders_globs_and_paths_lists(tmp_path, make_warc):
    a = make_warc("crawl/a.warc.gz", [html_page("https://e.example.com/")])
    b = make_warc("crawl/sub/b.warc", [html_page("https://f.example.com/")])
    assert expand_inputs([str(tmp_path / "crawl")]) == [a, b]
    assert expand_inputs([str(tmp_path / "crawl" / "*.warc.gz")]) == [a]
    listing = tmp_path / "warc.paths.gz"
    listing.write_bytes(gzip.compress(b"crawl/a.warc.gz\ncrawl/sub/b.warc\n"))
    assert expand_inputs([str(listing)]) == [a, b]
    assert expand_inputs([str(listing)], paths_base=str(tmp_path / "crawl")) == [
        tmp_path / "crawl" / "crawl/a.warc.gz",
        tmp_path / "crawl" / "crawl/sub/b.warc",
    ]
    with pytest.raises(InputError, match="no file matches"):
        expand_inputs([str(tmp_path / "nothing*.warc.gz")])
    with pytest.raises(InputError, match="no such file"):
        expand_inputs([str(tmp_path / "absent.warc.gz")])


def test_bundled_sample_is_what_the_script_writes(tmp_path):
    written = write_sample(tmp_path)
    for path in written:
        assert path.read_bytes() == (REPO / "pipelines" / "sample" / path.name).read_bytes(), (
            f"pipelines/sample/{path.name} is stale: run `python -m webcorpus.testing.sample_warc pipelines/sample`"
        )
    assert Path(REPO / "pipelines" / "sample").is_dir()


def test_a_fifo_is_refused_in_one_line_instead_of_blocking(tmp_path):
    import os
    import subprocess
    import sys

    fifo = tmp_path / "named.warc.gz"
    os.mkfifo(fifo)
    done = subprocess.run([sys.executable, "-m", "webcorpus.cli", "read-warc", str(fifo)], capture_output=True,
                          text=True, timeout=60)  # fmt: skip
    assert done.returncode == 1 and done.stderr.strip() == f"Error: {fifo}: not a regular file"
    # Found inside a folder, it is reported as a bad file and skipped.
    reader = WarcReader()
    assert list(reader.read(fifo)) == []
    assert "not a regular file" in reader.stats.bad_files[0]


def test_bad_file_messages_cannot_send_terminal_escapes(tmp_path, make_warc):
    from webcorpus.testing.sample_warc import write_sample

    write_sample(tmp_path / "s")
    data = (tmp_path / "s" / "sample-00000.warc.gz").read_bytes()
    hostile = tmp_path / "x\x1b[2J\x1b]0;owned\x07.warc.gz"
    hostile.write_bytes(data[: len(data) // 2])
    reader = WarcReader()
    list(reader.read(hostile))
    assert reader.stats.bad_files and all("\x1b" not in m and "\x07" not in m for m in reader.stats.bad_files)
    assert "\\x1b[2J" in reader.stats.bad_files[0]


def _members(data: bytes) -> list[bytes]:
    import zlib

    members, rest = [], data
    while rest:
        unpacker = zlib.decompressobj(31)
        unpacker.decompress(rest)
        members.append(rest[: len(rest) - len(unpacker.unused_data)])
        rest = unpacker.unused_data
    return members


def test_a_file_cut_just_inside_a_gzip_member_is_named(tmp_path):
    from webcorpus.testing.sample_warc import write_sample

    write_sample(tmp_path / "s")
    members = _members((tmp_path / "s" / "sample-00000.warc.gz").read_bytes())
    cut = tmp_path / "cut.warc.gz"
    cut.write_bytes(b"".join(members[:10]) + members[10][:100])  # 100 bytes into member 10: warcio says nothing
    reader = WarcReader()
    docs = list(reader.read(cut))
    assert docs and reader.stats.bad_files == [f"{cut}: EOFError: the file ends inside a record (cut short)"]


def test_a_repeated_gzip_member_gives_its_record_once(tmp_path):
    from webcorpus.testing.sample_warc import write_sample

    write_sample(tmp_path / "s")
    original = tmp_path / "s" / "sample-00000.warc.gz"
    members = _members(original.read_bytes())
    twice = tmp_path / "twice.warc.gz"
    twice.write_bytes(b"".join(members[:3] + members[2:3] + members[3:]))  # member 2, a response, twice
    reader = WarcReader()
    assert [d.id for d in reader.read(twice)] == [d.id for d in WarcReader().read(original)]
    assert reader.stats.dropped["repeated_record"] == 1 and reader.stats.errors["repeated_record"] == 1


def test_a_record_that_decompresses_past_the_cap_is_dropped_not_loaded(tmp_path, make_warc):
    from conftest import html_page

    from webcorpus.testing.sample_warc import Page

    bomb = Page("https://bomb.example.com/", b"<html><body>" + b"0" * 30_000_000 + b"</body></html>")
    path = make_warc(
        "bomb.warc.gz", [html_page("https://ok.example.com/a"), bomb, html_page("https://ok.example.com/b")]
    )
    assert path.stat().st_size < 200_000  # 30 MB of page in a small file
    reader = WarcReader(max_record_bytes=1_000_000)
    assert [d.url for d in reader.read(path)] == ["https://ok.example.com/a", "https://ok.example.com/b"]
    assert reader.stats.dropped["too_large"] == 1


def test_extract_drops_an_oversized_page_before_parsing_it():
    from webcorpus.document import Document
    from webcorpus.stages.extract import TrafilaturaExtractor

    extractor = TrafilaturaExtractor(max_characters=1000)
    assert extractor.filter(Document("d", "u", "<html><body>" + "<p>x</p>" * 500 + "</body></html>")) == "too_large"
    assert extractor.stats.errors["too_large"] == 1


def _record_member(warc_headers: bytes, block: bytes) -> bytes:
    record = b"WARC/1.0\r\n" + warc_headers + b"Content-Length: %d\r\n\r\n" % len(block) + block + b"\r\n\r\n"
    return gzip.compress(record, mtime=0)


def test_a_record_with_a_header_line_or_block_over_the_bounds_is_dropped_and_the_file_read_on(tmp_path, make_warc):
    # warcio reads a header line to its end however long: a 3 GB line took 5 GB of memory.
    good = make_warc("good.warc.gz", [html_page("https://ok.example.com/a"), html_page("https://ok.example.com/b")])
    members = _members(good.read_bytes())  # warcinfo, then request, response, metadata per page
    response = b"WARC-Type: response\r\nContent-Type: application/http; msgtype=response\r\n"
    page = b"<html><body><p>A page after a hostile header.</p></body></html>"
    long_uri = b"WARC-Target-URI: https://bomb.example.com/" + b"a" * 3_000_000 + b"\r\n"
    warc_line = _record_member(response + long_uri, b"")
    http_line = _record_member(
        response + b"WARC-Target-URI: https://bomb.example.com/line\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nX-Bomb: " + b"b" * 3_000_000 + b"\r\n\r\n" + page,
    )
    http_block = _record_member(
        response + b"WARC-Target-URI: https://bomb.example.com/block\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n" + b"X-Many: ccccccccc\r\n" * 300_000 + b"\r\n" + page,
    )
    hostile = tmp_path / "hostile.warc.gz"
    hostile.write_bytes(b"".join(members[:4] + [warc_line, http_line] + members[4:] + [http_block]))
    reader = WarcReader(max_header_line_bytes=4096, max_header_bytes=65_536)
    assert [d.url for d in reader.read(hostile)] == ["https://ok.example.com/a", "https://ok.example.com/b"]
    assert reader.stats.dropped["header_too_large"] == 3 and reader.stats.errors["header_too_large"] == 3
    assert len(reader.stats.bad_files) == 3, reader.stats.bad_files  # nothing else: the file was read to its end
    assert all("HeaderTooLarge" in m and "read on after it" in m for m in reader.stats.bad_files)
    assert "header block longer than 65536 bytes" in reader.stats.bad_files[2]
    # Not gzipped per record: the next record cannot be found; what came before is kept.
    plain = make_warc("plain.warc", [html_page("https://ok.example.com/a")])
    plain.write_bytes(plain.read_bytes() + gzip.decompress(warc_line))
    reader = WarcReader(max_header_line_bytes=4096)
    assert [d.url for d in reader.read(plain)] == ["https://ok.example.com/a"]
    assert reader.stats.dropped["header_too_large"] == 1 and "the file ends there" in reader.stats.bad_files[0]

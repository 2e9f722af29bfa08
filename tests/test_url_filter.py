import io
import socket
import tarfile

import pytest
from click.testing import CliRunner

from webcorpus.cli import main
from webcorpus.document import Document
from webcorpus.stages.url_filter import UrlFilter


@pytest.fixture
def lists(tmp_path):
    folder = tmp_path / "lists"
    (folder / "domains").mkdir(parents=True)
    (folder / "urls").mkdir()
    (folder / "domains" / "mine.txt").write_text("# comment\nbad-site.com\nads.tracker.co.uk\n")
    (folder / "urls" / "mine.txt").write_text("http://www.news.example.com/story/42\n")
    (folder / "banned_words.txt").write_text("porn\n")
    (folder / "soft_banned_words.txt").write_text("hot\ngirls\nlive\n")
    (folder / "banned_subwords.txt").write_text("xxx\n")
    return folder


@pytest.fixture
def offline(monkeypatch):
    """Any attempt to open a network connection fails the test."""

    def refuse(*args, **kwargs):
        raise AssertionError("tried to use the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def verdict(url_filter: UrlFilter, url: str):
    return url_filter.filter(Document("id", url, "text"))


@pytest.mark.parametrize(
    "url,reason",
    [
        ("https://bad-site.com/page", "domain"),
        ("https://shop.bad-site.com/page", "domain"),  # every host under a registered domain
        ("https://ads.tracker.co.uk/pixel", "host"),
        ("https://news.example.com/story/42/", "url"),  # scheme, www. and trailing slash ignored
        ("https://example.org/free-PORN-videos", "banned_word"),
        ("https://example.org/hot-girls", "soft_banned_words"),
        ("https://example.org/freexxxvideos", "banned_subword"),
        ("https://example.org/hot-weather", None),  # one soft word is below the threshold of 2
        ("https://tracker.co.uk/about", None),  # only the listed host is blocked
        ("https://example.org/sporting-news", None),
        ("http://192.168.1.20/index.html", None),
        ("not a url", None),
    ],
)
def test_each_rule_keeps_and_drops(lists, offline, url, reason):
    assert verdict(UrlFilter(blocklists=str(lists)), url) == reason


def test_soft_word_threshold_is_an_option(lists, offline):
    assert verdict(UrlFilter(blocklists=str(lists), soft_word_threshold=1), "https://example.org/hot-weather") == (
        "soft_banned_words"
    )
    assert verdict(UrlFilter(blocklists=str(lists), soft_word_threshold=3), "https://example.org/hot-girls") is None


def test_bundled_blocklists_load_and_block(offline):
    url_filter = UrlFilter()
    assert verdict(url_filter, "https://www.xvideos.com/video1") == "domain"
    assert verdict(url_filter, "https://www.bbc.co.uk/news") is None


def test_drops_carry_the_rule_in_the_exclusion_reason(lists, offline):
    url_filter = UrlFilter(blocklists=str(lists))
    dropped = []
    url_filter.on_drop = lambda doc, reason: dropped.append(reason)
    kept = list(url_filter.run([Document("1", "https://bad-site.com/", "x"), Document("2", "https://ok.org/", "y")]))
    assert [d.id for d in kept] == ["2"]
    assert dropped == ["url_filter:domain"]
    assert url_filter.stats.dropped == {"domain": 1}


def test_missing_blocklist_folder_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="blocklist folder not found"):
        UrlFilter(blocklists=str(tmp_path / "nope"))


def _ut1_archive(path):
    with tarfile.open(path, "w:gz") as tar:
        for name, content in [
            ("blacklists/adult/domains", "adult-one.com\nadult-two.net\n"),
            ("blacklists/adult/urls", "adult-three.org/gallery\n"),
            ("blacklists/gambling/domains", "casino-four.com\n"),
        ]:
            data = content.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def test_ut1_import_produces_a_loadable_folder(tmp_path, offline):
    archive = tmp_path / "blacklists.tar.gz"
    _ut1_archive(archive)
    out = tmp_path / "imported"
    result = CliRunner().invoke(main, ["blocklists", "import", str(archive), "--out", str(out), "--category", "adult"])
    assert result.exit_code == 0, result.output
    assert "ut1-adult.txt: 2 entries" in result.output
    assert not (out / "domains" / "ut1-gambling.txt").exists()
    url_filter = UrlFilter(blocklists=str(out))
    assert verdict(url_filter, "https://www.adult-two.net/x") == "domain"
    assert verdict(url_filter, "http://adult-three.org/gallery") == "url"
    assert verdict(url_filter, "https://casino-four.com/") is None


def test_import_of_a_non_ut1_archive_fails_clearly(tmp_path):
    archive = tmp_path / "other.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        info = tarfile.TarInfo("readme.txt")
        info.size = 2
        tar.addfile(info, io.BytesIO(b"hi"))
    result = CliRunner().invoke(main, ["blocklists", "import", str(archive), "--out", str(tmp_path / "o")])
    assert result.exit_code == 1
    assert "is it a UT1 archive?" in result.output

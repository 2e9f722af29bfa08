"""trafilatura's regex XPath expressions as Python selectors: the same elements in the same order, and the
same extracted texts byte for byte (webcorpus/stages/trafilatura_xpath.py)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import trafilatura
from conftest import REPO, shared_warc
from lxml import etree
from trafilatura import xpaths
from trafilatura.deduplication import LRU_TEST
from trafilatura.utils import load_html
from warcio.archiveiterator import ArchiveIterator

from webcorpus.stages import trafilatura_xpath as tx

RE_NS = {"re": "http://exslt.org/regular-expressions"}
SAMPLES = sorted((REPO / "pipelines" / "sample").glob("*.warc.gz")) + [REPO / "tests/data/multilingual-test.warc.gz"]
FINEWEB = dict(favor_precision=True, include_comments=False, include_tables=True, deduplicate=True)


@pytest.fixture(autouse=True)
def original_xpaths() -> Iterator[None]:
    tx.uninstall()  # every test starts from trafilatura's own expressions and leaves them so
    yield
    tx.uninstall()


def pages(*warcs: Path) -> list[str]:
    found = []
    for warc in warcs:
        with open(warc, "rb") as stream:
            for record in ArchiveIterator(stream):
                if record.rec_type == "response":
                    found.append(record.content_stream().read().decode("utf-8", "replace"))
    return found


def selectors() -> list[tuple[str, int, tx.ElementSelector]]:
    found = []
    for name in tx.LISTS:
        for index, expression in enumerate(getattr(xpaths, name)):
            selector = tx.selector_for(expression)
            if selector is not None:
                found.append((name, index, selector))
    return found


# Attribute order, missing and empty attributes, nesting, siblings, comments and PIs, ol/ul, h1: the
# corners where a Python reading of the XPath could go wrong.
EDGE_HTML = """<html><body>
<!-- a comment --><?pi data?>
<div class="reply-x" id="main-content">a</div>
<div id="reply-y" class="x">b</div>
<div id="x" class="reply-z">c</div>
<span style="color: red" id="hidden-box">d</span>
<span id="box" style="hidden">e</span>
<p class="" id="">f</p>
<p role="Navigation">g</p><p role="NAV">g2</p>
<section data-lp-replacement-content="">h</section>
<div data-component="xMostPopularStoriesx">i</div>
<div class="cookie-banner"><div class="social"><span class="share-this">j</span></div></div>
<div id="cookie" class="fine">k</div><div class="fine" id="cookie">k2</div>
<div aria-hidden="true">l</div><div aria-hidden="TRUE">l2</div>
<div style="display:none">m</div><div style="display: none">m2</div><div style="DISPLAY:NONE">m3</div>
<div class="comments-title">n</div><div class="comments-title x">n2</div>
<ul id="comments"><li>o</li></ul><ol class="commentary">o2</ol><ul class="post-comments">o3</ul>
<div id="Comment-1">p</div><section class="article-comments">p2</section><details id="disqus_thread">p3</details>
<div class="infinite-scroll"><h1>q</h1></div><div class="infinite-scroll">q2</div>
<div id="mvp-post-add-box"><h1>q3</h1></div><aside class="infinitescroll"><p><h1>q4</h1></p></aside>
<div class="bottom-bar">r</div><div id="link">r2</div><div class="a link b">r3</div><span style="border: 1px">r4</span>
<div><article class="post">s</article><div class="entry">s2</div></div>
<main itemprop="articleBody"><section id="article-body">t<div class="articleBody">t2</div></section></main>
<div role="article">u</div><div class="FullText">u2</div><div class="story">u3</div>
<div class="Main-Content">v</div><div class="x-page-Content">v2</div><div id="content">v3</div>
<div class="teaser">w</div><header>x</header>
</body></html>"""


def test_every_selector_picks_what_its_xpath_picks_on_edge_cases() -> None:
    found = selectors()
    assert len(found) == 9, [f"{name}[{index}]" for name, index, _ in found]  # trafilatura 2.3.1's nine
    tree = load_html(EDGE_HTML)
    for name, index, selector in found:
        expected = etree.XPath(selector.path, namespaces=RE_NS)(tree)
        assert selector(tree) == expected, f"{name}[{index}]"
    # the corners above are really hit: each of these expressions matches something here
    hits = {f"{name}[{index}]": len(selector(tree)) for name, index, selector in found}
    assert all(count > 0 for count in hits.values()), hits


def test_attribute_order_decides_union_tests() -> None:
    """`starts-with(@id|@class, 'reply-')` reads whichever attribute comes first in the tag."""
    hidden = next(s for name, index, s in selectors() if name == "OVERALL_DISCARD_XPATH" and index == 1)
    tree = load_html("<html><body><div class='reply-a' id='x'>1</div><div id='x' class='reply-a'>2</div></body></html>")
    assert [element.text for element in hidden(tree)] == ["1"]
    assert hidden(tree) == etree.XPath(hidden.path, namespaces=RE_NS)(tree)


def test_a_changed_expression_keeps_trafilaturas_xpath() -> None:
    overall = xpaths.OVERALL_DISCARD_XPATH[0]
    assert tx.selector_for(overall) is not None
    reshaped = etree.XPath(overall.path.replace("self::span", "self::b"), namespaces=RE_NS)
    assert tx.selector_for(reshaped) is None
    # new tokens in the same shape keep the fast path, with the new tokens
    retokened = etree.XPath(overall.path.replace("'cookie'", "'biscuit'"), namespaces=RE_NS)
    tree = load_html("<html><body><div class='biscuit'>1</div><div class='cookie'>2</div></body></html>")
    assert tx.selector_for(retokened)(tree) == retokened(tree)
    # a pattern that matches the empty string would match elements without attributes: XPath kept
    assert tx.selector_for(etree.XPath(overall.path.replace("'cookie'", "'x*'"), namespaces=RE_NS)) is None


def test_install_is_idempotent_and_uninstall_restores() -> None:
    before = [[expression.path for expression in getattr(xpaths, name)] for name in tx.LISTS]
    assert sum(tx.install().values()) == 9
    assert sum(tx.install().values()) == 9
    assert isinstance(xpaths.OVERALL_DISCARD_XPATH[0], tx.ElementSelector)
    tx.uninstall()
    assert not any(isinstance(e, tx.ElementSelector) for name in tx.LISTS for e in getattr(xpaths, name))
    assert [[expression.path for expression in getattr(xpaths, name)] for name in tx.LISTS] == before


def extract_all(htmls: list[str]) -> list[str | None]:
    LRU_TEST.clear()
    return [trafilatura.extract(html, **FINEWEB) for html in htmls]


def same_everything(htmls: list[str]) -> None:
    trees = [tree for tree in (load_html(html) for html in htmls) if tree is not None]
    for name, index, selector in selectors():
        xpath = etree.XPath(selector.path, namespaces=RE_NS)
        assert all(selector(tree) == xpath(tree) for tree in trees), f"{name}[{index}]"
    expected = extract_all(htmls)
    tx.install()
    assert extract_all(htmls) == expected
    assert sum(text is not None for text in expected) > len(htmls) // 3


def test_same_elements_and_texts_on_the_sample_pages() -> None:
    htmls = pages(*SAMPLES)
    assert len(htmls) >= 20
    same_everything(htmls)


def test_same_elements_and_texts_on_the_dev_pages() -> None:
    htmls = pages(shared_warc("dev-00000.warc.gz"), shared_warc("dev-00001.warc.gz"))
    assert len(htmls) == 949
    same_everything(htmls)


def test_the_extract_step_installs_the_selectors() -> None:
    from webcorpus.stages.extract import TrafilaturaExtractor

    step = TrafilaturaExtractor()
    step.start_task()
    assert isinstance(xpaths.OVERALL_DISCARD_XPATH[0], tx.ElementSelector)
    assert re.search(r"\bElementSelector\(", repr(xpaths.BODY_XPATH[0]))

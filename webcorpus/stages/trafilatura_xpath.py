"""trafilatura's regex XPath expressions evaluated in Python: the same elements, in the same order, faster.

Why: with FineWeb's settings, much of trafilatura's time on an article goes into a few XPath
expressions that call `re:test` (EXSLT regular expressions). libxml2 walks the tree in C, but each
`re:test` is a call back into Python through lxml, for every candidate element, two or three times per
element. Walking the same elements with `iterdescendants` and running the same compiled patterns
directly does the same work without the callbacks (docs/benchmarks.md has the figures).

How it stays exact: each replaced expression has a template here, its XPath text with every `re:test`
pattern cut out as `{re}`. `install()` replaces an expression of trafilatura's lists only when the
installed trafilatura's text, whitespace aside, fits its template; the patterns are taken from
trafilatura's own text, never copied here, so a release that only changes its token lists keeps the fast
path, and one that changes an expression's shape keeps trafilatura's XPath. The replacement is an object
called like lxml's `XPath` (`expr(tree)` -> list of elements) that keeps the original's `.path`.
tests/test_trafilatura_xpath.py checks every replacement against the XPath it replaces on real pages and
on edge cases (attribute order, missing attributes, nested matches), and the extracted texts byte for byte.

XPath semantics reproduced (the parts these expressions use):
- `.//*[self::a or self::b]` is every descendant element with one of those tags, in document order.
- `re:test(@x, P)` is `re.search(P, value)` on the attribute's value, on '' when it is missing; for a
  union `@x|@y`, on the value of whichever of the two comes first in the tag (lxml takes the first node
  of the node-set, which libxml2 keeps in document order).
- `contains(@x, s)`, `starts-with(...)`, `translate(@x, 'N', 'n')`: on the value, '' when missing;
  `@x='v'`: the attribute exists with that value.
- `.//*[P][1]` is, for each element, its first child matching P (one per parent);
  `(.//*[P])[1]` is the first match in the whole tree.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, NamedTuple

from lxml import etree, html

Predicate = Callable[[Any], bool]

_RE_TEST = re.compile(r"re:test\((@[\w-]+(?:\|@[\w-]+)?), '([^']*)'(?:, '([^']*)')?\)")


def _normalised(path: str) -> str:
    return " ".join(path.split())


def template_and_patterns(path: str) -> tuple[str, list[re.Pattern[str]]]:
    """The expression with each `re:test` pattern replaced by `{re}`, and the patterns compiled as lxml
    compiles them (`re.search`, `re.IGNORECASE` for the flag 'i')."""
    patterns: list[re.Pattern[str]] = []

    def cut(match: re.Match[str]) -> str:
        flags = match.group(3) or ""
        patterns.append(re.compile(match.group(2), re.IGNORECASE if "i" in flags else 0))
        return f"re:test({match.group(1)}, '{{re}}'" + (f", '{flags}')" if match.group(3) is not None else ")")

    return _RE_TEST.sub(cut, _normalised(path)), patterns


def first_of(element: Any, first: str, second: str, first_value: str | None, second_value: str | None) -> str:
    """The XPath string value of `@first|@second` (their values given): whichever attribute comes first in
    the tag, '' when neither is there."""
    if first_value is None:
        return second_value or ""
    if second_value is None:
        return first_value
    keys = element.keys()
    return first_value if keys.index(first) < keys.index(second) else second_value


class ElementSelector:
    """Called like an lxml XPath: `selector(tree)` -> the matching elements below `tree`. Elements without
    attributes are passed over: every test here is false on them (`selector_for` checks the patterns)."""

    def __init__(self, path: str, tags: tuple[str, ...] | None, predicate: Predicate, pick: str) -> None:
        self.path = path  # the XPath this replaces, for anything that reads it
        self.tags = tags or (etree.Element,)  # etree.Element: elements only, as `*` (no comments or PIs)
        self.predicate = predicate
        self.pick = pick  # "all", "first" ((...)[1]) or "first_child_each" (.//*[P][1])

    def __call__(self, tree: Any) -> list[Any]:
        predicate = self.predicate
        matches = (element for element in tree.iterdescendants(*self.tags) if element.attrib and predicate(element))
        if self.pick == "first":
            first = next(matches, None)
            return [] if first is None else [first]
        if self.pick == "first_child_each":
            seen: set[Any] = set()
            picked = []
            for element in matches:
                parent = element.getparent()
                if parent not in seen:
                    seen.add(parent)
                    picked.append(element)
            return picked
        return list(matches)

    def __repr__(self) -> str:
        return f"ElementSelector({' '.join(self.path.split())[:60]!r}...)"


class Selection(NamedTuple):
    tags: tuple[str, ...] | None  # None: any element
    predicate: Predicate
    pick: str = "all"


_SIX = ("div", "item", "list", "p", "section", "span")
_BODY = ("article", "div", "main", "section")


# Each predicate reads an element's attributes once and runs the patterns in the expression's order of
# tests; `p` holds the patterns in the order they appear in the expression.


def _overall_discard_sections(p: list[re.Pattern[str]]) -> Selection:
    consent, by_id, by_class = p[0].search, p[1].search, p[2].search

    def predicate(element: Any) -> bool:
        get = element.get
        if get("data-lp-replacement-content") is not None:
            return True
        role, component = get("role"), get("data-component")
        if (role is not None and "nav" in role.replace("N", "n")) or (
            component is not None and "MostPopularStories" in component
        ):
            return True
        element_id, element_class = get("id"), get("class")
        return (
            consent(first_of(element, "id", "class", element_id, element_class)) is not None
            or (element_id is not None and by_id(element_id) is not None)
            or (element_class is not None and by_class(element_class) is not None)
        )

    return Selection(_SIX, predicate)


def _overall_discard_hidden(p: list[re.Pattern[str]]) -> Selection:
    hidden, by_id, by_class = p[0].search, p[1].search, p[2].search

    def predicate(element: Any) -> bool:
        get = element.get
        element_id, element_class, style = get("id"), get("class"), get("style")
        return (
            element_class == "comments-title"
            or first_of(element, "id", "class", element_id, element_class).startswith("reply-")
            or hidden(first_of(element, "id", "style", element_id, style)) is not None
            or (style is not None and ("display:none" in style or "display: none" in style))
            or (element_id is not None and by_id(element_id) is not None)
            or (element_class is not None and by_class(element_class) is not None)
            or get("aria-hidden") == "true"
        )

    return Selection(None, predicate)


def _by_id_or_class(id_pattern: re.Pattern[str], class_pattern: re.Pattern[str]) -> Predicate:
    by_id, by_class = id_pattern.search, class_pattern.search

    def predicate(element: Any) -> bool:
        element_id, element_class = element.get("id"), element.get("class")
        return (element_id is not None and by_id(element_id) is not None) or (
            element_class is not None and by_class(element_class) is not None
        )

    return predicate


def _comments(p: list[re.Pattern[str]]) -> Selection:
    return Selection(("div", "list", "section", "details"), _by_id_or_class(p[0], p[1]))


def _comments_and_lists(p: list[re.Pattern[str]]) -> Selection:
    comments, list_comments = _by_id_or_class(p[0], p[1]), _by_id_or_class(p[2], p[3])

    def predicate(element: Any) -> bool:
        return comments(element) and (element.tag not in ("ol", "ul") or list_comments(element))

    return Selection(("div", "list", "section", "details", "ol", "ul"), predicate)


def _appended_articles(p: list[re.Pattern[str]]) -> Selection:
    appended, own = _by_id_or_class(p[0], p[1]), _by_id_or_class(p[2], p[3])

    def predicate(element: Any) -> bool:
        return appended(element) and (next(element.iterdescendants("h1"), None) is None or own(element))

    return Selection(("div", "section", "aside"), predicate)


def _precision_discard(p: list[re.Pattern[str]]) -> Selection:
    bottom, link = p[0].search, p[1].search

    def predicate(element: Any) -> bool:
        get = element.get
        first = first_of(element, "id", "class", get("id"), get("class"))
        return bottom(first) is not None or link(first) is not None or "border" in get("style", "")

    return Selection(_SIX, predicate)


def _article_body(p: list[re.Pattern[str]]) -> Selection:
    by_id_or_class = _by_id_or_class(p[0], p[1])

    def predicate(element: Any) -> bool:
        get = element.get
        return (
            get("class") in ("post", "entry")
            or get("itemprop") == "articleBody"
            or get("id") == "articleContent"
            or by_id_or_class(element)
        )

    return Selection(_BODY, predicate, "first_child_each")


def _story(p: list[re.Pattern[str]]) -> Selection:
    by_id, fulltext, by_class = p[0].search, p[1].search, p[2].search
    classes = ("postarea", "art-postcontent", "text", "cell", "story")

    def predicate(element: Any) -> bool:
        get = element.get
        element_id, element_class = get("id"), get("class")
        return (
            get("role") == "article"
            or element_id in ("article", "story")
            or element_class in classes
            or (element_id is not None and by_id(element_id) is not None)
            or (element_class is not None and (fulltext(element_class) or by_class(element_class)) is not None)
        )

    return Selection(_BODY, predicate, "first")


def _main_content(p: list[re.Pattern[str]]) -> Selection:
    by_id_or_class = _by_id_or_class(p[0], p[1])

    def predicate(element: Any) -> bool:
        element_id, element_class = element.get("id", ""), element.get("class", "")
        return (
            element_id == "content"
            or element_class == "content"
            or by_id_or_class(element)
            or "main-content" in element_id.replace("C", "c").replace("M", "m")
            or "main-content" in element_class.replace("C", "c").replace("M", "m")
            or "page-content" in element_class.replace("C", "c").replace("P", "p")
        )

    return Selection(_BODY, predicate, "first")


# trafilatura 2.3.1's expressions, patterns cut out (whitespace normalised), and what evaluates them.
# `@x='v'` is false for a missing attribute; get(x, "") gives '' then, which equals no literal here.
TEMPLATES: dict[str, Callable[[list[re.Pattern[str]]], Selection]] = {
    ".//*[self::div or self::item or self::list or self::p or self::section or self::span][ "
    "@data-lp-replacement-content or contains(translate(@role, 'N', 'n'), 'nav') or "
    "contains(@data-component, 'MostPopularStories') or re:test(@id|@class, '{re}') or "
    "re:test(@id, '{re}') or re:test(@class, '{re}')]": _overall_discard_sections,
    ".//*[@class='comments-title' or starts-with(@id|@class, 'reply-') or re:test(@id|@style, '{re}') or "
    "contains(@style, 'display:none') or contains(@style, 'display: none') or re:test(@id, '{re}') or "
    "re:test(@class, '{re}') or @aria-hidden='true']": _overall_discard_hidden,
    ".//*[self::div or self::list or self::section or self::details][ re:test(@id, '{re}') or "
    "re:test(@class, '{re}')]": _comments,
    ".//*[self::div or self::list or self::section or self::details or self::ol or self::ul][ "
    "re:test(@id, '{re}') or re:test(@class, '{re}')][ not(self::ol or self::ul) or re:test(@id, '{re}') or "
    "re:test(@class, '{re}')]": _comments_and_lists,
    ".//*[self::div or self::section or self::aside][ re:test(@id, '{re}') or re:test(@class, '{re}')][ "
    "not(.//h1) or re:test(@id, '{re}') or re:test(@class, '{re}')]": _appended_articles,
    ".//*[self::div or self::item or self::list or self::p or self::section or self::span][ "
    "re:test(@id|@class, '{re}') or re:test(@id|@class, '{re}') or contains(@style, 'border')]": _precision_discard,
    ".//*[self::article or self::div or self::main or self::section][ @class='post' or @class='entry' or "
    "@itemprop='articleBody' or @id='articleContent' or re:test(@id, '{re}') or re:test(@class, '{re}') ][1]": (
        _article_body
    ),
    "(.//*[self::article or self::div or self::main or self::section][ @role='article' or @id='article' or "
    "@id='story' or @class='postarea' or @class='art-postcontent' or @class='text' or @class='cell' or "
    "@class='story' or re:test(@id, '{re}') or re:test(@class, '{re}', 'i') or re:test(@class, '{re}') ])[1]": (_story),
    "(.//*[self::article or self::div or self::main or self::section][ @id='content' or @class='content' or "
    "re:test(@id, '{re}') or re:test(@class, '{re}') or contains(translate(@id, 'CM','cm'), 'main-content') or "
    "contains(translate(@class, 'CM','cm'), 'main-content') or contains(translate(@class, 'CP','cp'), "
    "'page-content') ])[1]": _main_content,
}

LISTS = (
    "OVERALL_DISCARD_XPATH",
    "REMOVE_COMMENTS_XPATH",
    "REMOVE_COMMENTS_AND_LISTS_XPATH",
    "RAW_TREE_PRUNE_XPATH",
    "PRECISION_DISCARD_XPATH",
    "BODY_XPATH",
)


def selector_for(expression: Any) -> ElementSelector | None:
    """The Python selector equal to this lxml XPath, or None when its text fits no template."""
    path = getattr(expression, "path", None)
    if not isinstance(path, str):
        return None
    template, patterns = template_and_patterns(path)
    build = TEMPLATES.get(template)
    # the selectors skip elements without attributes: right only if no pattern matches ''
    if build is None or any(pattern.search("") for pattern in patterns):
        return None
    selection = build(patterns)
    return ElementSelector(path, *selection)


def html_class_lookup() -> etree.ElementNamespaceClassLookup:
    """lxml.html's element classes (HtmlElement, FormElement, ...), looked up in C. lxml.html's own lookup
    is a Python method called for every element object lxml makes, and the selectors make many."""
    lookup = etree.ElementNamespaceClassLookup(
        etree.ElementDefaultClassLookup(
            element=html.HtmlElement,
            comment=html.HtmlComment,
            pi=html.HtmlProcessingInstruction,
            entity=html.HtmlEntity,
        )
    )
    by_tag = lookup.get_namespace(None)
    for tag, element_class in html.HtmlElementClassLookup()._element_classes.items():
        by_tag[tag] = element_class
    return lookup


def install() -> dict[str, int]:
    """Replace, in place, the expressions of trafilatura's lists that fit a template (every module
    holding the lists sees the change), and give trafilatura's parser `html_class_lookup()`. Idempotent;
    returns how many expressions were replaced per list."""
    from trafilatura import utils, xpaths

    utils.HTML_PARSER.set_element_class_lookup(html_class_lookup())

    replaced: dict[str, int] = {}
    for name in LISTS:
        expressions = getattr(xpaths, name, None)
        if not isinstance(expressions, list):
            continue
        count = 0
        for index, expression in enumerate(expressions):
            if isinstance(expression, ElementSelector):
                count += 1
                continue
            selector = selector_for(expression)
            if selector is not None:
                expressions[index] = selector
                count += 1
        replaced[name] = count
    return replaced


def uninstall() -> None:
    """Put trafilatura's own XPath expressions and class lookup back (tests compare the two)."""
    from trafilatura import utils, xpaths

    utils.HTML_PARSER.set_element_class_lookup(html.HtmlElementClassLookup())

    for name in LISTS:
        expressions = getattr(xpaths, name, None)
        for index, expression in enumerate(expressions or []):
            if isinstance(expression, ElementSelector):
                expressions[index] = etree.XPath(
                    expression.path, namespaces={"re": "http://exslt.org/regular-expressions"}
                )

"""Writes the bundled sample WARC files (`pipelines/sample/`): our own pages, no crawled content.

The pages exercise every keep and drop path of the FineWeb first stage: articles wrapped in
navigation and footer boilerplate, several languages, a blocklisted domain and banned URL words,
non-HTML and non-200 responses, pages in Latin-1 and Shift_JIS, and a page with no main text.

    python -m webcorpus.testing.sample_warc pipelines/sample
"""

from __future__ import annotations

import sys
import uuid
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path

from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from webcorpus.atomic import atomic_path

NAMESPACE = uuid.UUID("5b0f3f0e-7a43-4b8e-9d4e-2f3c7f1b9a10")
NAV = """<header><nav><ul><li><a href="/">Home</a></li><li><a href="/news">News</a></li>
<li><a href="/about">About us</a></li><li><a href="/contact">Contact</a></li><li><a href="/login">Log in</a></li>
</ul></nav></header>"""
FOOTER = """<footer><p>Copyright 2024 {site}. All rights reserved.</p><ul><li><a href="/privacy">Privacy policy</a></li>
<li><a href="/terms">Terms of use</a></li><li><a href="/cookies">Cookie settings</a></li></ul>
<p>Subscribe to our newsletter for weekly updates.</p></footer>"""


@dataclass
class Page:
    url: str
    body: bytes
    content_type: str = "text/html; charset=UTF-8"
    status: str = "200 OK"


def article(site: str, title: str, paragraphs: list[str], lang: str = "en", meta_charset: str | None = "utf-8") -> str:
    meta = f'<meta charset="{meta_charset}">' if meta_charset else ""
    body = "\n".join(f"<p>{p}</p>" for p in paragraphs)
    sidebar = '<aside><h3>Popular</h3><ul><li><a href="/a">Top ten gadgets</a></li><li><a href="/b">Weekly quiz</a></li></ul></aside>'
    return (
        f'<!DOCTYPE html><html lang="{lang}"><head>{meta}<title>{title} | {site}</title></head><body>'
        f"{NAV}<main><article><h1>{title}</h1>{body}</article></main>{sidebar}{FOOTER.format(site=site)}</body></html>"
    )


ENGLISH = {
    "https://www.riverside-gardening.org/guides/composting-at-home": (
        "Composting at Home: A Practical Guide",
        [
            "Composting turns kitchen scraps and garden waste into a dark, crumbly material that plants love. "
            "It takes little more than a corner of the garden, a bin or a simple heap, and some patience.",
            "The secret is balance. Green materials such as vegetable peelings, coffee grounds and fresh grass "
            "clippings supply nitrogen, while brown materials such as dry leaves, straw and shredded cardboard "
            "supply carbon. A heap made mostly of greens turns slimy and smells; a heap made mostly of browns "
            "hardly breaks down at all. Aim for roughly equal volumes of each and mix them as you add them.",
            "Air and water matter just as much. Turn the heap with a fork every couple of weeks so that the "
            "microbes doing the work get the oxygen they need, and keep the material about as damp as a wrung-out "
            "sponge. In dry weather, a watering can helps; in wet weather, a lid or an old carpet keeps the rain off.",
            "After three to six months the compost at the bottom of the heap should be ready. It smells of "
            "forest soil, and you can no longer tell what it was made from. Spread it on beds in spring, mix it "
            "into potting soil, or use it as a mulch around shrubs.",
        ],
    ),
    "https://news.harbourtown-gazette.com/2024/05/library-reopens": (
        "Town Library Reopens After Two-Year Renovation",
        [
            "The Harbourtown public library reopened its doors on Saturday after a renovation that lasted more "
            "than two years and cost the town council just under four million pounds.",
            "Visitors queued along the high street before the opening ceremony. Inside, they found a new "
            "children's wing, a reading room with views over the harbour, and a small recording studio that "
            "residents can book free of charge for podcasts and music.",
            "The head librarian said the building had been designed around the way people use libraries today. "
            '"People still come for books, but they also come to study, to meet, to print a form or to get help '
            'with a job application. We wanted space for all of that," she told the crowd.',
            "The library will be open seven days a week during the summer. The council plans to review the "
            "opening hours in the autumn, once it knows how many people use the new building in the evenings.",
        ],
    ),
    "https://blog.quietkitchen.net/recipes/lentil-soup": (
        "A Simple Red Lentil Soup",
        [
            "This soup is what I cook when the cupboard looks empty and everyone is hungry. It needs one pot, "
            "about thirty minutes, and ingredients that keep for months.",
            "Soften a chopped onion, two carrots and a stick of celery in olive oil over a medium heat. Add two "
            "cloves of garlic, a teaspoon of ground cumin and a pinch of chilli, and stir for a minute until the "
            "spices smell toasty.",
            "Rinse two hundred grams of red lentils, add them to the pot with a litre of stock and a tin of "
            "chopped tomatoes, and let everything simmer for twenty minutes, until the lentils have collapsed. "
            "Blend half of the soup if you like it thicker, season with salt and lemon juice, and serve it with "
            "bread. It keeps well in the fridge for three days and tastes even better the next day.",
        ],
    ),
    "https://www.northfield-astronomy.org/articles/observing-jupiter": (
        "Observing Jupiter With a Small Telescope",
        [
            "Jupiter is the most rewarding planet for beginners. Even a small telescope shows its disc, the two "
            "dark equatorial belts and, on a steady night, the four large moons discovered by Galileo.",
            "The moons change position from one night to the next, and sometimes within an hour. Keep a simple "
            "sketchbook and draw what you see at the same time each evening; within a week you will have tracked "
            "their orbits yourself.",
            "Patience pays off. The atmosphere above you is rarely still, so the view will blur and sharpen "
            "again and again. Wait for the moments of calm, and details such as the Great Red Spot or the shadow "
            "of a moon crossing the planet will appear for a few seconds at a time.",
        ],
    ),
}

FOREIGN = {
    "https://www.stadtgarten-verein.de/berichte/fruehjahrsputz": (
        "de",
        "Frühjahrsputz im Stadtgarten",
        [
            "Am vergangenen Samstag trafen sich mehr als vierzig Mitglieder unseres Vereins, um den Stadtgarten "
            "für die neue Saison vorzubereiten. Die Beete wurden umgegraben, die Wege gekehrt und die Bänke frisch gestrichen.",
            "Besonders gefreut hat uns, dass viele Familien mit Kindern gekommen sind. Die Kinder haben Sonnenblumen "
            "gesät und ein Insektenhotel gebaut, das nun neben dem Teich steht.",
            "Das nächste Treffen findet im Juni statt. Wer mitmachen möchte, ist herzlich eingeladen.",
        ],
    ),
    "https://www.velo-club-lyon.fr/sorties/printemps": (
        "fr",
        "Sortie de printemps dans les monts du Lyonnais",
        [
            "Dimanche dernier, une trentaine de cyclistes du club ont pris la route des monts du Lyonnais pour la "
            "première grande sortie de la saison. Le parcours de quatre-vingts kilomètres comptait plusieurs montées exigeantes.",
            "Le temps était frais le matin, mais le soleil est apparu avant midi. Nous avons déjeuné sur la place "
            "d'un petit village, où le boulanger nous a gentiment ouvert sa boutique.",
            "La prochaine sortie aura lieu le mois prochain. Pensez à vérifier vos pneus et vos freins avant le départ.",
        ],
    ),
    "https://www.cocina-de-la-abuela.es/recetas/tortilla": (
        "es",
        "La tortilla de patatas de mi abuela",
        [
            "Mi abuela preparaba la tortilla de patatas todos los domingos. Cortaba las patatas en láminas finas y "
            "las freía lentamente en mucho aceite de oliva, junto con una cebolla.",
            "Después batía seis huevos, mezclaba las patatas todavía calientes y dejaba reposar la mezcla unos minutos "
            "antes de cuajarla en la sartén. El momento de darle la vuelta con un plato era siempre el más emocionante.",
        ],
    ),
}


# English pages that pass extraction and language ID but fail one quality filter each.
QUALITY_DROPS = {
    # Gopher repetition: one phrase over and over.
    "https://www.cheap-watch-deals.example.com/best-watches": (
        "Best Cheap Watches",
        ["Buy the best cheap watches online today at the best price. " * 12],
    ),
    # Gopher quality: fewer than 50 words (long enough that no n-gram dominates it).
    "https://www.harbourtown-gazette.com/notices/road-closure": (
        "Road Closure on the Harbour Road",
        [
            "The harbour road will be closed on Monday while engineers repair the sea wall. Buses will use the "
            "bridge instead, and residents can reach their homes through Mill Lane. Works should finish by Friday."
        ],
    ),
    # C4: a curly bracket (code) anywhere drops the page.
    "https://blog.quietkitchen.net/posts/recipe-scaler": (
        "Scaling Recipes With a Little Code",
        [
            "I wrote a tiny function to scale my recipes up and down, because doing the sums by hand on a busy "
            "evening always went wrong. It multiplies every ingredient by the same factor and rounds the result.",
            "The whole thing is one line: <code>scale = (recipe, factor) => recipe.map(i => { return i * factor; })</code>. "
            "You can paste it into the browser console and try it on your own recipes.",
            "It is not clever, but it has saved me from a few very salty soups. Next I want it to convert cups to grams, "
            "which is where most of my mistakes come from. If you have ideas, send them over and I will share the results.",
        ],
    ),
    # FineWeb quality: a list whose lines do not end in punctuation.
    "https://www.riverside-market.example.org/this-week": (
        "This Week at the Market",
        [
            "<br>".join(
                [
                    "Crisp apples picked on Tuesday",
                    "Pears from the orchard by the river",
                    "Red onions and shallots",
                    "Sweet carrots with their tops",
                    "New potatoes washed and bagged",
                    "Runner beans in season",
                    "Plums for jam and baking",
                    "Goat cheese with wild herbs",
                    "Free range eggs by the dozen",
                    "Sourdough loaves baked at dawn",
                    "Cut flowers for your table",
                    "Local honey in glass jars",
                    "Smoked fish from Northfield harbour",
                    "Pickled beetroot with dill",
                    "Fresh mint and basil plants",
                ]
            )
        ],
    ),
}


def _page(url: str, html: str, **kwargs) -> Page:
    return Page(url, html.encode("utf-8"), **kwargs)


def sample_pages() -> list[list[Page]]:
    """The pages of each sample file, in order."""
    english = [_page(url, article(url.split("/")[2], title, paras)) for url, (title, paras) in ENGLISH.items()]
    foreign = [
        _page(url, article(url.split("/")[2], title, paras, lang=lang)) for url, (lang, title, paras) in FOREIGN.items()
    ]
    latin1_html = article(
        "www.petites-annonces-brest.fr",
        "Les marchés de Noël en Bretagne",
        [
            "Chaque année, les marchés de Noël de Bretagne attirent des milliers de visiteurs. On y trouve des crêpes, "
            "du cidre chaud, des décorations faites à la main et des jouets en bois.",
            "À Brest, le marché s'installe sur la place de la Liberté pendant tout le mois de décembre. Les enfants "
            "peuvent y rencontrer le père Noël chaque après-midi.",
        ],
        lang="fr",
        meta_charset=None,
    )
    shift_jis_html = article(
        "www.yamanote-sanpo.jp",
        "秋の京都を歩く",
        [
            "秋の京都は紅葉がとても美しい季節です。朝早く出かけると、観光客が少なく、静かなお寺の庭をゆっくり楽しむことができます。",
            "昼ごろには小さな食堂で湯豆腐を食べました。温かくてやさしい味で、歩き疲れた体がほっとしました。",
        ],
        lang="ja",
        meta_charset="shift_jis",
    )
    boilerplate_only = (
        "<!DOCTYPE html><html><head><title>Login</title></head><body>"
        f"{NAV}<form><input name='user'><input type='password' name='pw'><button>Sign in</button></form>"
        f"{FOOTER.format(site='members.example-portal.com')}</body></html>"
    )
    no_language = article(
        "www.parts-catalogue.example.com",
        "SKU 4471-220",
        ["4471-220 / 4471-221 / 4471-222 / 4471-223 / 4471-224 — 12 x 220 mm — EUR 4,20 / 4,40 / 4,60 — 0% 5% 10%"],
    )
    # No charset anywhere (header or <meta>): the reader has to detect windows-1252.
    undeclared_html = article(
        "www.seaside-cafe-reviews.co.uk",
        "Café Review: The Lighthouse Tearoom",
        [
            "The Lighthouse Tearoom sits at the very end of the promenade, and on a windy afternoon it feels like the "
            "warmest room in the county. The owner calls it \u201ca café for people who like to stay a while\u201d, and "
            "she means it: nobody hurries you, and the pot of tea is refilled without asking.",
            "We ordered the crab sandwiches, a slice of lemon cake and two scones with clotted cream. Everything was "
            "fresh and generous, and the bill came to just under twenty pounds \u2013 good value for the seaside.",
        ],
        meta_charset=None,
    )
    file_one = (
        english[:2]
        + foreign[:1]
        + [
            Page(
                "https://www.seaside-cafe-reviews.co.uk/reviews/lighthouse-tearoom",
                undeclared_html.encode("cp1252"),
                content_type="text/html",
            ),
            Page(
                "https://www.petites-annonces-brest.fr/marches-de-noel",
                latin1_html.encode("iso-8859-1"),
                content_type="text/html; charset=iso-8859-1",
            ),
            _page(
                "https://www.xvideos.com/video12345/sample",
                article("xvideos.com", "Blocked domain", ENGLISH[next(iter(ENGLISH))][1]),
            ),
            Page(
                "https://www.riverside-gardening.org/files/composting.pdf",
                b"%PDF-1.4\n% sample\n",
                content_type="application/pdf",
            ),
            _page(
                "https://www.riverside-gardening.org/old-page",
                "<html><body>Moved</body></html>",
                status="301 Moved Permanently",
            ),
            _page("https://members.example-portal.com/login", boilerplate_only),
        ]
    )
    quality = [_page(url, article(url.split("/")[2], title, paras)) for url, (title, paras) in QUALITY_DROPS.items()]
    # A syndicated copy of the first article, lightly edited, on another site in the other file:
    # it passes every filter of the first stage and is removed by near-duplicate detection.
    title, paragraphs = next(iter(ENGLISH.values()))
    syndicated = [paragraphs[0].replace("little more than", "not much more than"), *paragraphs[1:]]
    copy = _page(
        "https://www.weekend-gardener.example.com/2024/composting",
        article("www.weekend-gardener.example.com", title, syndicated),
    )
    file_one += quality[:2]
    file_two = (
        english[2:]
        + foreign[1:]
        + quality[2:]
        + [copy]
        + [
            Page(
                "https://www.yamanote-sanpo.jp/kyoto/autumn",
                shift_jis_html.encode("shift_jis"),
                content_type="text/html",
            ),
            _page(
                "https://free-porn-videos.example.net/watch/hot-girls",
                article("free-porn-videos.example.net", "Banned words", ENGLISH[next(iter(ENGLISH))][1]),
            ),
            _page("https://www.parts-catalogue.example.com/sku/4471-220", no_language),
            Page(
                "https://www.northfield-astronomy.org/img/jupiter.png",
                b"\x89PNG\r\n\x1a\n" + bytes(32),
                content_type="image/png",
            ),
            _page(
                "https://news.harbourtown-gazette.com/missing",
                "<html><body>Not found</body></html>",
                status="404 Not Found",
            ),
            Page(
                "https://api.harbourtown-gazette.com/v1/events.json", b'{"events": []}', content_type="application/json"
            ),
        ]
    )
    return [file_one, file_two]


def write_warc(
    path: str | Path, pages: list[Page], date: str = "2024-05-01T12:00:00Z", crawl: str | None = None
) -> None:
    """Write `pages` CommonCrawl-style (warcinfo, then request/response/metadata per page), deterministically;
    `crawl` is the warcinfo's `isPartOf` (CommonCrawl's: CC-MAIN-2024-10), none by default."""
    path = Path(path)
    with atomic_path(path) as tmp, open(tmp, "wb") as raw:
        writer = WARCWriter(raw, gzip=path.name.endswith(".gz"))

        def record(url: str, kind: str, payload: bytes, content_type: str | None = None, http=None):
            headers = {
                "WARC-Date": date,
                "WARC-Record-ID": f"<urn:uuid:{uuid.uuid5(NAMESPACE, f'{kind} {url} {path.name}')}>",
            }
            return writer.create_warc_record(
                url,
                kind,
                payload=BytesIO(payload),
                http_headers=http,
                warc_headers_dict=headers,
                warc_content_type=content_type,
            )

        info = b"software: webcorpus sample writer\r\nformat: WARC File Format 1.1\r\n"
        if crawl is not None:
            info += f"isPartOf: {crawl}\r\n".encode()
        writer.write_record(record("", "warcinfo", info, "application/warc-fields"))
        for page in pages:
            request = StatusAndHeaders(
                f"GET /{page.url.split('/', 3)[-1]} HTTP/1.1", [("Host", page.url.split("/")[2])], is_http_request=True
            )
            writer.write_record(record(page.url, "request", b"", http=request))
            response = StatusAndHeaders(
                page.status,
                [("Content-Type", page.content_type), ("Content-Length", str(len(page.body)))],
                protocol="HTTP/1.1",
            )
            writer.write_record(record(page.url, "response", page.body, http=response))
            writer.write_record(record(page.url, "metadata", b"fetchTimeMs: 120\r\n", "application/warc-fields"))


def write_sample(folder: str | Path) -> list[Path]:
    folder = Path(folder)
    paths = []
    for index, pages in enumerate(sample_pages()):
        path = folder / f"sample-{index:05d}.warc.gz"
        write_warc(path, pages)
        paths.append(path)
    return paths


if __name__ == "__main__":
    for written in write_sample(sys.argv[1] if len(sys.argv) > 1 else "pipelines/sample"):
        print(written)

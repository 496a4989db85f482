"""The one decoder of pages and feeds (`ingest.fetch.charset`), alone and end to end.

The Polish and Russian texts are written for these tests (border-crisis reporting of the kind
the project monitors); the end-to-end tests serve them in legacy encodings from a real local
server, run the real pipeline and find them by searching the real Elasticsearch.
"""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import format_datetime
from html import escape

import pytest
from elasticsearch import Elasticsearch
from pytest_httpserver import HTTPServer

from ingest import store
from ingest.analysis.search import SearchFilters, search_articles
from ingest.config import Settings
from ingest.fetch.charset import decode, encoding_of
from ingest.models import Feed
from ingest.pipeline import run_feeds

POLISH = [
    "Straż Graniczna poinformowała w środę, że w pobliżu Kuźnicy na granicy z Białorusią "
    "zatrzymano dwieście osób, wśród nich kobiety i dzieci.",
    "Żołnierze i funkcjonariusze pilnują przejścia granicznego, a mieszkańcy okolicznych wsi "
    "mówią o napięciu, które rośnie z każdym dniem.",
    "Wojewoda podlaski ogłosił, że strefa stanu wyjątkowego zostanie przedłużona. Źródła w "
    "ministerstwie twierdzą, że sytuacja jest poważna, ale opanowana.",
]
RUSSIAN = [
    "Пограничная служба Польши сообщила в среду, что у пункта пропуска Кузница на границе "
    "с Белоруссией задержаны двести человек, среди них женщины и дети.",
    "Солдаты и пограничники охраняют переход, а жители соседних деревень говорят о "
    "напряжении, которое растёт с каждым днём.",
    "Власти объявили, что режим чрезвычайного положения будет продлён. Источники в "
    "министерстве утверждают, что ситуация серьёзная, но под контролем.",
]


def article_page(title: str, paragraphs: list[str], lang: str, meta: str = "") -> str:
    body = "".join(f"<p>{escape(p)}</p>\n" for p in paragraphs)
    return f"""<!DOCTYPE html><html lang="{lang}"><head>{meta}<title>{escape(title)}</title>
<script>var config = {{"ads": [1, 2, 3]}};</script></head>
<body><nav><a href="/">Start</a> <a href="/kraj">Kraj</a></nav>
<article><h1>{escape(title)}</h1>{body}</article><footer>(c) 2021</footer></body></html>"""


# -- the decoder alone ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("paragraphs", "codec", "header"),
    [
        (POLISH, "iso-8859-2", None),  # no charset anywhere
        (POLISH, "cp1250", None),
        (POLISH, "iso-8859-2", "utf-8"),  # a declared UTF-8 that does not decode is a lie
        (RUSSIAN, "cp1251", "utf-8"),
        (RUSSIAN, "cp1251", None),
        (RUSSIAN, "koi8-r", None),
    ],
)
def test_undeclared_or_lying_legacy_pages_are_detected(
    paragraphs: list[str], codec: str, header: str | None
) -> None:
    html = article_page("Granica", paragraphs, "pl")
    text = decode(html.encode(codec), header)
    assert all(paragraph in text for paragraph in paragraphs), encoding_of(html.encode(codec))
    # The bare text too, without markup to lean on: one paragraph is enough.
    assert decode(paragraphs[0].encode(codec), header) == paragraphs[0]


def test_a_fitting_declaration_is_believed() -> None:
    html = article_page("Granica", POLISH, "pl", '<meta charset="iso-8859-2">')
    assert POLISH[1] in decode(html.encode("iso-8859-2"))
    assert POLISH[1] in decode(html.encode("cp1250"), "windows-1250")
    # The HTTP header lies, the document's own declaration is right: the document wins.
    russian = article_page("Граница", RUSSIAN, "ru", '<meta charset="windows-1251">')
    assert RUSSIAN[2] in decode(russian.encode("cp1251"), "utf-8")


def test_utf8_beats_a_wrong_single_byte_declaration() -> None:
    text = "Poolse grens: Łoekasjenko, café, “vluchtelingen”"
    assert decode(text.encode(), "iso-8859-1") == text
    assert decode(text.encode(), "windows-1252") == text
    meta = f'<meta http-equiv="Content-Type" content="text/html; charset=latin-1">{text}'
    assert decode(meta.encode(), None) == meta


def test_utf8_with_a_stray_byte_stays_utf8() -> None:
    text = "Straż Graniczna, Kuźnica, " * 20
    stray = text.encode() + b" caf\xe9"  # one windows-1252 byte pasted into a UTF-8 page
    assert decode(stray, "utf-8") == text + " caf\ufffd"
    assert decode(stray) == text + " caf\ufffd"


def test_western_text_keeps_windows_1252() -> None:
    text = "café à la crème, “quoted”, Ñandú, Zürich"
    assert decode(text.encode("cp1252"), "iso-8859-1") == text  # WHATWG: latin-1 = cp1252
    assert decode(text.encode("cp1252")) == text  # undeclared: the web's default on a tie
    meta = f'<meta charset="windows-1252"><p>{text}'
    assert decode(meta.encode("cp1252"), None) == meta
    assert decode("Größe".encode("iso-8859-15"), None) == "Größe"


def test_byte_order_marks_and_utf16() -> None:
    assert decode("ÿþ".encode("utf-16"), "iso-8859-1") == "ÿþ"  # the BOM wins
    assert decode(codecs_bom("utf-8") + "Straż".encode()) == "Straż"
    assert decode("<rss>Straż</rss>".encode("utf-16-le")) == "<rss>Straż</rss>"  # no BOM
    assert decode("<rss>Straż</rss>".encode("utf-16-be")) == "<rss>Straż</rss>"


def codecs_bom(name: str) -> bytes:
    return "\ufeff".encode(name)


def test_never_raises() -> None:
    assert decode(b"plain", "no-such-charset") == "plain"
    assert decode(b"plain", "base64") == "plain"
    assert decode("<meta charset=utf-8>é".encode(), "utf-8") == "<meta charset=utf-8>é"
    assert decode(b"\x81\x8d\x8f\x90\x9d", "windows-1252")  # undefined in cp1252: U+FFFD
    assert decode(b"") == ""


def test_xml_declaration_is_read_for_feeds() -> None:
    document = f'<?xml version="1.0" encoding="windows-1251"?><rss>{RUSSIAN[0]}</rss>'
    assert decode(document.encode("cp1251")) == document
    # A declaration readable as ASCII cannot be UTF-16: ignored, the bytes decide.
    lying = f'<?xml version="1.0" encoding="UTF-16"?><rss>{POLISH[0]}</rss>'
    assert decode(lying.encode()) == lying


# -- end to end: served, run, searched --------------------------------------------------------


def rss(items: list[tuple[str, str]], xml_encoding: str | None = None) -> str:
    declaration = f'<?xml version="1.0" encoding="{xml_encoding}"?>' if xml_encoding else ""
    rows = "".join(
        f"<item><title>{escape(title)}</title><link>{escape(link)}</link>"
        f"<pubDate>{format_datetime(datetime(2021, 11, 17, 9, tzinfo=UTC))}</pubDate></item>"
        for title, link in items
    )
    return f'{declaration}<rss version="2.0"><channel><title>T</title>{rows}</channel></rss>'


def found(es: Elasticsearch, settings: Settings, query: str) -> list[str]:
    store.refresh(es, store.IndexNames(settings.index_prefix))
    _, hits = search_articles(es, store.IndexNames(settings.index_prefix), query, SearchFilters())
    return [hit.url for hit in hits]


@pytest.mark.es
def test_legacy_encoded_pages_and_feeds_are_indexed_readably(
    httpserver: HTTPServer, es: Elasticsearch, settings: Settings
) -> None:
    s = httpserver
    s.expect_request("/robots.txt").respond_with_data("User-agent: *\nAllow: /\n")
    # Polish in ISO-8859-2 with no charset in the header or the page.
    polish = article_page("Straż Graniczna pod Kuźnicą", POLISH, "pl")
    s.expect_request("/pl/granica").respond_with_data(
        polish.encode("iso-8859-2"), content_type="text/html"
    )
    # Russian in windows-1251, served as UTF-8.
    russian = article_page("Граница у Кузницы", RUSSIAN, "ru")
    s.expect_request("/ru/granica").respond_with_data(
        russian.encode("cp1251"), content_type="text/html; charset=utf-8"
    )
    # A feed in windows-1251 that only the HTTP header declares.
    feed_items = [
        ("Straż Graniczna pod Kuźnicą", s.url_for("/pl/granica")),
        ("Граница у Кузницы", s.url_for("/ru/granica")),
    ]
    s.expect_request("/pl.xml").respond_with_data(
        rss(feed_items[:1]).encode("iso-8859-2"), content_type="application/rss+xml"
    )
    s.expect_request("/ru.xml").respond_with_data(
        rss(feed_items[1:]).encode("cp1251"),
        content_type="application/rss+xml; charset=windows-1251",
    )
    feeds = [Feed("pl", s.url_for("/pl.xml")), Feed("ru", s.url_for("/ru.xml"))]

    report = run_feeds(feeds, settings, es)

    assert report.counts["articles.new"] == 2, report.failures
    assert "page:no_text" not in report.failures
    names = store.IndexNames(settings.index_prefix)
    docs = {
        hit["_source"]["url"]: hit["_source"]
        for hit in es.search(index=names.articles, size=10)["hits"]["hits"]
    }
    pl, ru = docs[s.url_for("/pl/granica")], docs[s.url_for("/ru/granica")]
    assert (pl["extraction"]["status"], ru["extraction"]["status"]) == ("ok", "ok")
    assert (pl["language"], ru["language"]) == ("pl", "ru")
    assert POLISH[0] in pl["body"] and RUSSIAN[0] in ru["body"]
    assert found(es, settings, "Straż") == [s.url_for("/pl/granica")]
    assert found(es, settings, "Kuźnicy") == [s.url_for("/pl/granica")]
    assert found(es, settings, "пограничники") == [s.url_for("/ru/granica")]

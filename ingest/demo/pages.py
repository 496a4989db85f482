"""News pages of the demo's fictional outlets, rendered from the corpus (`ingest.demo.corpus`).

A page carries what real news pages carry around the article, so extraction has real work:
a cookie banner, the site's navigation, a breadcrumb, the byline with a `<time>`, a lazy
image, `article:published_time` and JSON-LD dates, related links, a most-read list and
reader comments. A paywalled page shows the headline and one teaser sentence; a video page
only a player. The skeleton is `examples/demo/templates/page.html`; rendering is
deterministic, so a rebuild gives the same bytes (and the same ETag).
"""

from __future__ import annotations

import html
import json
import string
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from ingest.config import REPOSITORY
from ingest.demo.corpus import Article, Corpus, Version
from ingest.errors import ConfigError

__all__ = ["TEMPLATE", "page_path", "render_page"]

TEMPLATE = REPOSITORY / "examples" / "demo" / "templates" / "page.html"
_PIXEL = "data:image/gif;base64,R0lGODlhAQABAAAAACH5BAEKAAEALAAAAAABAAEAAAICTAEAOw=="
_RELATED = 3
_MOST_READ = 4


def page_path(article: Article) -> str:
    """The path of an article on its outlet's site (the same in every pass)."""
    return f"/{article.published:%Y/%m/%d}/{article.id}"


def render_page(
    article: Article,
    corpus: Corpus,
    pass_number: int,
    base_url: str,
    template: Path = TEMPLATE,
) -> bytes:
    """The article's page as its site serves it in demo pass `pass_number`, encoded in the
    article's charset. `base_url` is where the outlet is served (`http://host.localhost:port`).
    """
    version = article.version(pass_number)
    ui = corpus.ui[article.outlet.language]
    # The link boxes list the outlet's articles of the first pass, with their first titles:
    # so between the passes only the pages that really changed change (bytes and ETag).
    siblings = [
        a
        for a in corpus.articles
        if a.outlet is article.outlet and a.in_pass(1) and a is not article
    ]
    esc = html.escape
    fields = {
        "lang": article.outlet.language,
        "charset": article.charset,
        "title": esc(version.title),
        "site_name": esc(article.outlet.name),
        "description": esc(article.summary or _first_words(version.paragraphs)),
        "canonical_url": esc(base_url + page_path(article)),
        "feed_format": article.outlet.feed_format,
        "feed_url": esc(base_url + article.outlet.feed_path),
        "og_type": "video.other" if article.kind == "video" else "article",
        "published": article.published.isoformat(),
        "modified": version.at.isoformat(),
        "section": esc(article.section),
        "section_slug": esc(_slug(article.section)),
        "json_ld": _json_ld(article, version, base_url),
        "body_class": f"page-{article.kind}",
        "cookie_text": esc(ui["cookie"]),
        "cookie_accept": esc(ui["accept"]),
        "home": esc(ui["home"]),
        "nav": "\n".join(
            f'        <li><a href="/{esc(_slug(s))}">{esc(s)}</a></li>'
            for s in article.outlet.sections
        ),
        "main": _main(article, version, ui),
        "read_also": esc(ui["read_also"]),
        "related": _links(_nearest(article, siblings)[:_RELATED]),
        "comments": _comments(article, ui) if article.kind == "article" else "",
        "most_read": esc(ui["most_read"]),
        "most_read_items": _links(siblings[:_MOST_READ]),
    }
    try:
        page = string.Template(template.read_text(encoding="utf-8")).substitute(fields)
    except OSError as exc:
        raise ConfigError(f"cannot read the demo page template {template}: {exc}") from None
    try:
        # Characters outside a legacy charset become references (&#8230;), as such sites do.
        return page.encode(article.charset, errors="xmlcharrefreplace")
    except LookupError:
        raise ConfigError(f"demo article {article.id}: unknown charset {article.charset}") from None


def _main(article: Article, version: Version, words: Mapping[str, Any]) -> str:
    esc = html.escape
    if article.kind == "video":
        # Only a player a script fills in: nothing for an extractor, as on real video pages.
        return f'    <div class="video-player" data-video-id="{esc(article.id)}"></div>'
    byline = (
        f'      <p class="byline">{esc(str(words["by"]))} <span class="author">'
        f"{esc(article.author)}</span> · "
        f'<time datetime="{article.published.isoformat()}">{_display(article.published)}</time></p>'
    )
    figure = (
        f'      <figure class="lead-image"><img src="{_PIXEL}" loading="lazy" '
        f'data-src="/images/{esc(article.id)}.jpg" alt="{esc(version.title)}">'
        f"<figcaption>{esc(str(words['photo']))}: {esc(article.outlet.name)}</figcaption></figure>"
    )
    paragraphs = version.paragraphs
    if article.kind == "paywall":
        paragraphs = paragraphs[:1]
    body = "\n".join(f"        <p>{esc(p)}</p>" for p in paragraphs)
    paywall = ""
    if article.kind == "paywall":
        paywall = (
            f'\n      <div class="paywall"><p>{esc(str(words["subscribe"]))}</p>'
            '<a class="button" href="/subscribe">€</a></div>'
        )
    return (
        '    <article class="article">\n'
        f"      <h1>{esc(version.title)}</h1>\n{byline}\n{figure}\n"
        f'      <div class="article-body">\n{body}\n      </div>{paywall}\n'
        "    </article>"
    )


def _json_ld(article: Article, version: Version, base_url: str) -> str:
    data = {
        "@context": "https://schema.org",
        "@type": "VideoObject" if article.kind == "video" else "NewsArticle",
        "headline": version.title,
        "datePublished": article.published.isoformat(),
        "dateModified": version.at.isoformat(),
        "author": {"@type": "Person", "name": article.author},
        "publisher": {"@type": "Organization", "name": article.outlet.name},
        "mainEntityOfPage": base_url + page_path(article),
        "inLanguage": article.outlet.language,
        "isAccessibleForFree": article.kind != "paywall",
    }
    # `</` could end the script element early; JSON allows the escape.
    return json.dumps(data, ensure_ascii=False).replace("</", "<\\/")


def _nearest(article: Article, siblings: Sequence[Article]) -> list[Article]:
    """The outlet's other articles nearest in time: what a "read also" box links to."""
    return sorted(siblings, key=lambda a: abs((a.published - article.published).total_seconds()))


def _links(articles: Sequence[Article]) -> str:
    return "\n".join(
        f'        <li><a href="{page_path(a)}">{html.escape(a.versions[0].title)}</a></li>'
        for a in articles
    )


def _comments(article: Article, words: Mapping[str, Any]) -> str:
    commenters = list(words.get("commenters") or [])
    if not commenters:
        return ""
    # Two of the language's sample comments, picked by the id so every rebuild agrees.
    start = sum(map(ord, article.id)) % len(commenters)
    chosen = [commenters[(start + i) % len(commenters)] for i in range(min(2, len(commenters)))]
    items = "\n".join(
        f'        <li class="comment"><span class="comment-author">{html.escape(str(name))}</span>'
        f"<p>{html.escape(str(text))}</p></li>"
        for name, text in chosen
    )
    return (
        f'    <section class="comments">\n      <h2>{html.escape(str(words["comments"]))}</h2>\n'
        f"      <ol>\n{items}\n      </ol>\n    </section>"
    )


def _display(moment: datetime) -> str:
    return f"{moment:%d.%m.%Y %H:%M}"


def _first_words(paragraphs: Sequence[str], limit: int = 160) -> str:
    text = " ".join(paragraphs)
    return text if len(text) <= limit else text[:limit].rsplit(" ", 1)[0] + "…"


def _slug(section: str) -> str:
    return "-".join(section.lower().split())

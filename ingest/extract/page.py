"""Article text and metadata from one fetched HTML page.

trafilatura finds the main text, and its readers of meta tags and JSON-LD give the authors,
site name, description and tags. The page's own structured data decides two things where
it says more than those heuristics:

- the title: the headline a reader sees, i.e. the JSON-LD headline or the Open Graph,
  Twitter or `<title>` title (site-name suffix removed) that matches one of the page's
  `<h1>`; with no such match, the JSON-LD headline, else the first title found;
- the publication time: the most precise of the JSON-LD `datePublished`, the meta tags
  (`article:published_time`, `date`, ...) and the article's `<time datetime>` that agrees
  with the first of them on the day; htmldate's finding when none has a zone. Its precision
  goes with it (`ingest.extract.dates`), so that the pipeline can prefer the feed's time to a day.

The page is parsed once: the metadata is read from the tree that trafilatura then extracts.
"""

from __future__ import annotations

import html as html_entities
import json
import re
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any
from urllib.parse import urljoin, urlsplit

from htmldate import find_date
from lxml import etree
from lxml.html import HtmlElement
from trafilatura import bare_extraction, load_html
from trafilatura.metadata import examine_meta, extract_meta_json
from trafilatura.settings import Document, Extractor, use_config

from ingest.errors import ExtractionError
from ingest.extract import dates
from ingest.extract.language import count_words, normalise_language_code
from ingest.models import Extraction

__all__ = [
    "EXTRACTION_PASSES",
    "MAX_BODY_CHARS",
    "MIN_WORDS",
    "clean_text",
    "cut_text",
    "extract_page",
]

MIN_WORDS = 20  # a body shorter than this is navigation, a teaser or a paywall stub
# A long-read is 10,000-40,000 characters; past 200,000 a "body" is a live blog's whole
# history, a document dump or a page built to be huge. The rest is cut (and the article
# flagged `extraction.truncated`): one oversized page must not make a bulk request too big
# for Elasticsearch (413, retried forever) or hold a batch's memory.
MAX_BODY_CHARS = 200_000

# Compared on the corpus (tests/test_extract.py): precision mode keeps the recall of the default
# mode with less boilerplate (mean shingle precision 0.96 against 0.93). Tables stay: in news
# they are content.
_EXTRACTOR_OPTIONS: dict[str, Any] = {
    "output_format": "python",
    "comments": False,
    "tables": True,
    "with_metadata": False,  # read by _page_metadata
}
# The cascade: the second pass runs only when the first found no article text (fewer than
# MIN_WORDS words). The first is fast precision mode; the second adds trafilatura's own
# fallbacks (its readability and jusText ports, fast=False), which cost up to 10x on the pages
# where they run. Chosen on the development set (benchmarks/extraction_quality.py, README
# "Extraction"): on 91 article pages of mozilla/readability's test pages the second pass
# rescued every page the first left empty (F1 0.908 -> 0.940, 3 second passes); on the shared
# corpus the first pass always sufficed. Not done: a second pass for short but non-empty first
# results (under 100-500 words, keeping the longer) changed no F1 there; a third pass
# favouring recall was never needed there, and took a paywalled page's byline and "subscribe"
# prompt (41 words) for an article in the demo corpus. The pass is `Extraction.method`.
EXTRACTION_PASSES: tuple[tuple[str, dict[str, Any]], ...] = (
    ("precision", {"fast": True, "precision": True}),
    ("precision_fallbacks", {"fast": False, "precision": True}),
)
# trafilatura's shipped settings, parsed once per process (re-reading the file for every page
# cost ~1.5 ms of a ~40 ms page) and ours rather than its module global, which other code in
# the process could change; Extractor only reads it.
_TRAFILATURA_CONFIG = use_config()
# htmldate: the original publication date, with its time where the page gives one; no
# extensive search through the page's free text (slow, and it guesses).
_DATE_PARAMS: dict[str, Any] = {
    "extensive_search": False,
    "original_date": True,
    "outputformat": "%Y-%m-%dT%H:%M:%S%z",
}

_XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
_ARTICLE_TYPE = re.compile(r"(?:Article|BlogPosting|Report)$")  # NewsArticle, LiveBlogPosting…
# Meta tags that carry the publication time (lowercase). Not `DC.date.issued` nor
# `cXenseParse:recs:publishtime`: publishers fill those with the update time or the wrong zone.
_PUBLISHED_META = (
    "article:published_time",
    "og:article:published_time",
    "datepublished",
    "pubdate",
    "publishdate",
    "date",
)
# Class names that mark an article-body container (a subset of trafilatura's own list).
_BODY_CLASS = re.compile(
    r"\b(?:article(?:__|-|_)?(?:body|content|text)|story[-_]?(?:body|content)"
    r"|(?:entry|post)[-_](?:body|content))\b",
    re.IGNORECASE,
)
# "Headline | Site", "Headline - Site", "見出し：サイト名"
_TITLE_SEPARATOR = re.compile(r"\s+(?:[|\-–—·•»]|::)\s+|\s*[｜：]\s*")
# Removed from text: soft hyphen, zero-width space, word joiner, byte-order mark, and C0 control
# characters other than tab and line breaks. A character class, not a str.translate table:
# translate looks every character of a body up in a dict (0.31 ms of a shared corpus page's
# 0.42 ms of cleaning; the regex, 0.02 ms).
_INVISIBLE = re.compile("[\xad\u200b\u2060\ufeff\x1f\x7f\x00-\x08\x0e-\x1b]")


def extract_page(
    html: str, url: str, passes: Sequence[tuple[str, dict[str, Any]]] = EXTRACTION_PASSES
) -> Extraction:
    """Main text and metadata of the article page `html` fetched from `url`, from the first
    of `passes` (name, trafilatura options) that finds at least `MIN_WORDS` words.

    Raises `ExtractionError("no_text")` when no pass finds article text of at least
    `MIN_WORDS` words, and `ExtractionError("parse_error")` when the parser gives up.
    """
    try:
        tree = load_html(html) if html.strip() else None
        if tree is None:
            raise ExtractionError("no_text", url)
        metadata = _page_metadata(tree, url)  # first: extraction changes the tree
        body, method = _first_text(html, tree, url, metadata.title, passes)
    except (etree.LxmlError, ValueError, TypeError, RecursionError) as exc:
        raise ExtractionError("parse_error", url) from exc
    body, truncated = cut_text(body, MAX_BODY_CHARS)
    return replace(metadata, body=body, truncated=truncated, method=method)


def _first_text(
    html: str,
    tree: HtmlElement,
    url: str,
    title: str,
    passes: Sequence[tuple[str, dict[str, Any]]],
) -> tuple[str, str]:
    """The body from the first pass that finds `MIN_WORDS` words, and that pass's name."""
    for position, (method, options) in enumerate(passes):
        if position:  # bare_extraction prunes the tree it is given: start again
            tree = load_html(html)
        body = _main_text(tree, url, options, title)
        # A prefix never has more words than the whole text, so the first 1,000 characters
        # decide for almost every body without counting a long-read's every word.
        if count_words(body[:1000]) >= MIN_WORDS or count_words(body) >= MIN_WORDS:
            return body, method
    raise ExtractionError("no_text", url)


def _main_text(tree: HtmlElement, url: str, options: dict[str, Any], title: str) -> str:
    """The article text trafilatura finds with these options, cleaned ("" for none)."""
    _join_split_body(tree)
    extractor = Extractor(config=_TRAFILATURA_CONFIG, url=url, **_EXTRACTOR_OPTIONS, **options)
    document = bare_extraction(tree, options=extractor)
    if not isinstance(document, Document):  # None: trafilatura found no main text
        return ""
    return _without_leading_title(clean_text(document.text or ""), title)


def cut_text(text: str, limit: int) -> tuple[str, bool]:
    """`text` cut to at most `limit` characters, at a paragraph or word break where one is
    near (within the last tenth), and whether it was cut."""
    if len(text) <= limit:
        return text, False
    head = text[:limit]
    floor = limit - limit // 10
    for separator in ("\n\n", " "):
        at = head.rfind(separator)
        if at >= floor:
            return head[:at].rstrip(), True
    return head, True  # no break near the end (e.g. CJK without spaces): cut mid-run


def clean_text(text: str) -> str:
    """Normalise extracted or feed text for indexing.

    Unicode NFC; invisible characters (soft hyphens, zero-width spaces, control characters)
    removed; every run of spaces, tabs, no-break or ideographic spaces becomes one space.
    Each line break ends a paragraph (trafilatura puts one block per line): paragraphs
    come out separated by exactly one blank line, with no blank paragraphs and no outer
    whitespace.
    """
    lines = _INVISIBLE.sub("", unicodedata.normalize("NFC", text)).splitlines()
    return "\n\n".join(paragraph for line in lines if (paragraph := " ".join(line.split())))


def _clean_line(text: str) -> str:
    """`clean_text` for a one-line field (title, author, tag): line breaks become spaces."""
    return " ".join(_INVISIBLE.sub("", unicodedata.normalize("NFC", text)).split())


def _page_metadata(tree: HtmlElement, url: str) -> Extraction:
    """Everything but the body, from what the page states about itself.

    trafilatura's readers of meta tags and JSON-LD give authors, description, site name and
    tags; its costlier heuristics (bylines and tag links in the HTML, licence) are skipped:
    they were a quarter of the extraction time, for little on the corpus.
    """
    stated = extract_meta_json(tree, examine_meta(tree))
    article = _json_ld_article(tree) or {}
    meta = _meta_tags(tree)
    # The article's own `<time datetime>`: marked as the publication time, else the first one
    # in the article (its header's; later ones are updates, comments or related articles).
    # lxml's iter and a test of the attributes find the same elements as the XPaths
    # `//time[@datetime][@itemprop='datePublished' or @pubdate]` and
    # `//article//time[@datetime][1]` did, in a third of their time.
    marked: list[str] = []
    in_article: list[str] = []
    for element in tree.iter("time"):
        moment = element.get("datetime")
        if moment is None:
            continue
        if not marked and (
            element.get("itemprop") == "datePublished" or "pubdate" in element.attrib
        ):
            marked.append(moment)
        if not in_article and next(element.iterancestors("article"), None) is not None:
            in_article.append(moment)
        if marked and in_article:
            break
    publisher = article.get("publisher")
    sites = [publisher.get("name") if isinstance(publisher, dict) else None]
    # trafilatura falls back on the Twitter account ("@kleinezeitung") or its URL
    sites += [meta.get("og:site_name"), (stated.sitename or "").lstrip("@")]
    site_names = _unique(_clean_meta(name) for name in sites)
    titles = [
        article.get("headline"),
        meta.get("og:title"),
        meta.get("twitter:title"),
        tree.findtext(".//title"),
        stated.title,
    ]
    published = _publication_time(
        tree,
        url,
        [
            article.get("datePublished"),
            *(meta.get(key) for key in _PUBLISHED_META),
            *marked,
            *in_article,
        ],
    )
    return Extraction(
        title=_choose_title(
            [_clean_meta(title) for title in titles],
            {_key(h1.text_content()) for h1 in tree.iter("h1")},
            _site_keys(site_names, url),
        ),
        authors=_unique(_clean_meta(name) for name in (stated.author or "").split(";")),
        site_name=next((name for name in site_names if "://" not in name), ""),
        description=_clean_meta(stated.description),
        tags=_unique(
            _clean_meta(tag)
            for field in [*(stated.categories or ()), *(stated.tags or ())]
            for tag in field.split(",")  # meta keywords arrive as one comma-separated string
        ),
        published_at=published[0] if published else None,
        date_precision=published[1] if published else "",
        date_source="page" if published else "",
        html_lang=normalise_language_code(tree.get("lang") or tree.get(_XML_LANG)),
        canonical_link=_canonical_link(tree, url),
    )


def _canonical_link(tree: HtmlElement, url: str) -> str:
    """The page's first `<link rel="canonical" href>`, made absolute against `url`."""
    for element in tree.iter("link"):
        rel = (element.get("rel") or "").lower().split()
        href = str(element.get("href") or "").strip()
        if "canonical" in rel and href:
            try:
                return urljoin(url, href)
            except ValueError:  # an unparsable href (bad IPv6 literal): as if there were none
                return ""
    return ""


def _meta_tags(tree: HtmlElement) -> dict[str, str]:
    """`<meta>` contents by property, name or itemprop (lowercase); the first one wins."""
    meta: dict[str, str] = {}
    for element in tree.iter("meta"):
        key = element.get("property") or element.get("name") or element.get("itemprop")
        if key and element.get("content"):
            meta.setdefault(key.strip().lower(), element.get("content", ""))
    return meta


def _json_ld_article(tree: HtmlElement) -> dict[str, Any] | None:
    """The first Article-typed object of the page's JSON-LD (NewsArticle, BlogPosting, …)."""
    for script in tree.iter("script"):
        if "ld+json" not in (script.get("type") or ""):
            continue
        try:
            data = json.loads(script.text or "", strict=False)
        except ValueError:  # broken JSON-LD is common; the page still has its meta tags
            continue
        for item in _json_ld_items(data):
            kinds = item.get("@type")
            kinds = kinds if isinstance(kinds, list) else [kinds]
            if any(isinstance(kind, str) and _ARTICLE_TYPE.search(kind) for kind in kinds):
                return item
    return None


def _json_ld_items(data: object) -> Iterator[dict[str, Any]]:
    """Top-level JSON-LD objects, through lists and `@graph` (not into nested values)."""
    if isinstance(data, list):
        for item in data:
            yield from _json_ld_items(item)
    elif isinstance(data, dict):
        if "@graph" in data:
            yield from _json_ld_items(data["@graph"])
        else:
            yield data


def _join_split_body(tree: HtmlElement) -> None:
    """Put an article body that the publisher split around ad slots back into one container.

    trafilatura reads only the first article-body container it finds; on pages that repeat
    the container (`div.article__content`, `div.articleBody`) between ads, everything after
    the first ad is lost. Later containers of the same tag whose classes mostly agree with
    the first one's, close to it in the tree and not nested in it, are emptied into it.
    """
    containers = [
        element
        for element in tree.iter("div", "article", "section", "main")
        if element.get("itemprop") == "articleBody" or _BODY_CLASS.search(element.get("class", ""))
    ]
    if len(containers) < 2:
        return
    first = containers[0]
    near = set(list(first.iterancestors())[:5])
    for other in containers[1:]:
        ancestors = list(other.iterancestors())
        if first in ancestors or other in near or near.isdisjoint(ancestors):
            continue
        if other.tag == first.tag and _similar_classes(first, other):
            first.extend(list(other))


def _similar_classes(first: HtmlElement, other: HtmlElement) -> bool:
    """At least half of the two elements' class names are shared."""
    ours, theirs = (set((element.get("class") or "").split()) for element in (first, other))
    return bool(ours) and len(ours & theirs) * 2 >= len(ours | theirs)


def _choose_title(titles: list[str], h1s: set[str], site_keys: set[str]) -> str:
    """The first title that, without its site-name suffix, is one of the page's <h1>;
    else the first title found."""
    candidates = _unique(_strip_site_suffix(title, site_keys) for title in titles)
    for title in candidates:
        if _key(title) in h1s:
            return title
    return candidates[0] if candidates else ""


def _site_keys(sites: Iterable[str], url: str) -> set[str]:
    """Comparison keys for the site's name: its stated names and its host name's parts."""
    host = (urlsplit(url).hostname or "").removeprefix("www.")
    labels = host.split(".")[:-1]  # not the top-level domain
    return {key for name in [*sites, host, *labels] if len(key := _alnum_key(name)) >= 3}


def _strip_site_suffix(title: str, site_keys: set[str]) -> str:
    """`Headline | CBC News` → `Headline`: cut before the last segment that names the site."""
    cuts = list(_TITLE_SEPARATOR.finditer(title))
    if not cuts:
        return title
    ends = [cut.start() for cut in cuts[1:]] + [len(title)]
    for cut, end in reversed(list(zip(cuts, ends, strict=True))):
        segment = _alnum_key(title[cut.end() : end])
        if cut.start() and any(_names_site(segment, key) for key in site_keys):
            return title[: cut.start()]
    return title


def _names_site(segment: str, site_key: str) -> bool:
    """`cbcnews` names `cbc`; `canadacom` names `canada`; `news` names `newsorfat`."""
    return segment.startswith(site_key) or (len(segment) >= 3 and site_key.startswith(segment))


def _without_leading_title(body: str, title: str) -> str:
    """Drop a first paragraph that only repeats the title."""
    first, _, rest = body.partition("\n\n")
    return rest if title and _key(first) == _key(title) else body


def _publication_time(
    tree: HtmlElement, url: str, stated: list[object]
) -> tuple[datetime, str] | None:
    """The most precise time the page states that agrees with its first statement, and its
    precision (`ingest.extract.dates`); on a tie, the earlier statement.

    `stated` comes most trustworthy first (JSON-LD, meta tags, `<time>` elements), so a
    `<time>` in a sidebar that names another day does not win over the page's own date.
    htmldate is asked only when none of them is a timestamp with a zone.
    """
    parsed = [moment for value in stated if (moment := dates.parse(value))]
    if all(moment.precision != dates.ZONED for moment in parsed):
        found = dates.parse(find_date(tree, url=url, **_DATE_PARAMS))
        parsed += [found] if found else []
    if not parsed:
        return None
    agreeing = [moment for moment in parsed if dates.agree(parsed[0], moment)]
    best = max(agreeing, key=lambda moment: dates.RANK[moment.precision])
    return best.aware(), best.precision


def _clean_meta(value: object) -> str:
    """A metadata string as text: entities decoded (publishers double-escape), one line."""
    return _clean_line(html_entities.unescape(value)) if isinstance(value, str) else ""


def _key(text: str) -> str:
    """Comparison key for titles: case and spacing ignored."""
    return _clean_line(text).casefold()


def _alnum_key(text: str) -> str:
    """Comparison key for site names: letters and digits only, accents and case ignored."""
    decomposed = unicodedata.normalize("NFKD", text).casefold()
    return "".join(char for char in decomposed if char.isalnum())


def _unique(values: Iterable[str]) -> tuple[str, ...]:
    """Non-empty values, first occurrence kept, in order."""
    return tuple(dict.fromkeys(value for value in values if value))

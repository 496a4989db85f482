"""Feed documents -> entries: an RSS, Atom or JSON Feed document, fetched, made into `FeedEntry`s.

Fetching is `ingest.fetch.client`'s job: feedparser only ever parses bytes we fetched ourselves, so
every request goes through the egress guard, the size cap and the timeouts, and any
Content-Encoding has been undone there, with a bound. Nothing here decompresses.

A feed document is hostile input. Before feedparser 6 sees one, `parse_feed`

- decodes it with `ingest.fetch.charset`, the decoder pages use too, and hands feedparser UTF-8
  in a BytesIO: given *bytes*, `feedparser.parse` first tries them as a file
  name, so a body of b"/etc/passwd" or b"/dev/zero" would be read from this machine's disk;
- refuses a DTD that declares entities (`feed:dtd_entities`): billion laughs, quadratic
  blow-up, external entities. Expat's amplification limit only starts after 8 MiB of output,
  and feedparser's loose parser, which takes over when expat gives up, expands the entities
  it keeps without any limit. Neither parser fetches external entities or DTDs (see
  tests/test_feeds_hostile.py), and no news feed needs to declare an entity;
- replaces character references to no character (`&#x110000;`, `&#xD800;`), on which
  feedparser raises, and drops the control characters XML forbids;
- cuts the document after MAX_ENTRIES entries or MAX_MARKUP of markup (`entry:over_limit`):
  feedparser spends 0.1-0.3 ms per element (more in its loose parser) and some µs per
  entity reference, so a 10 MB feed of small entries took minutes.

JSON Feed (https://jsonfeed.org/version/1.1) is parsed here with the json module. Every entry
field comes out as plain text without control characters, every URL as absolute http(s).
"""

from __future__ import annotations

import bisect
import calendar
import email.utils
import html
import io
import json
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urljoin, urlsplit

import feedparser
import lxml.etree
import lxml.html

from ingest.feeds.file import LANGUAGE_CODE
from ingest.fetch import charset
from ingest.models import Feed, FeedEntry

# A date this far in the future is a publisher's error (year 9999 ...), not a date; one from
# before the web is a placeholder (0001-01-01, the Unix epoch), not a date either.
MAX_FUTURE = timedelta(days=2)
EARLIEST = datetime(1991, 1, 1, tzinfo=UTC)
# A large news feed has 500 entries of ~20 tags; these keep feedparser to a few seconds.
MAX_ENTRIES = 2_000
MAX_MARKUP = 40_000  # tags, plus entity references at 1/16 each: see _markup
MAX_URL = 2_048  # what browsers, servers and sitemaps take
MAX_SHORT = 1_000  # a title, guid, author or tag
MAX_SUMMARY = 10_000
MAX_NAMES = 50  # authors or tags of one entry
_OUTCOMES = {
    "feed:empty": "empty",
    "feed:not_a_feed": "not_a_feed",
    "feed:compressed": "unsupported",
}


@dataclass
class ParsedFeed:
    """Entries found in one feed document, and what was wrong with it.

    `len(entries) + sum(skipped.values())` is the number of entries the document had.
    """

    entries: list[FeedEntry]
    title: str = ""
    language: str | None = None
    language_declared_by: str | None = None  # "configured" (feeds file) or "feed" (<language>)
    malformed: bool = False  # not a clean feed, `reason` says why (entries may still be there)
    # feed:empty, feed:not_a_feed, feed:compressed, feed:malformed, feed:dtd_entities,
    # feed:too_complex, feed:parser_error
    reason: str | None = None
    skipped: Counter[str] = field(default_factory=Counter)  # entries left out, by reason

    @property
    def outcome(self) -> str:
        """What the document was: ok, malformed, not_a_feed, empty or unsupported."""
        return _OUTCOMES.get(self.reason, "malformed") if self.reason else "ok"


def parse_feed(
    content: bytes,
    feed: Feed,
    feed_url: str,
    now: datetime | None = None,
    declared_charset: str | None = None,
) -> ParsedFeed:
    """Parse a fetched RSS, Atom or JSON Feed document into entries; never raises on bad input.

    `declared_charset` is the HTTP header's; `ingest.fetch.charset` weighs it against the bytes.
    """
    now = now or datetime.now(UTC)
    if content.startswith(_COMPRESSED):  # compressed twice: fetch.client undoes one layer, no more
        return _refused("feed:compressed")
    text = _XML_JUNK.sub("", charset.decode(content, declared_charset))
    if not text.strip():
        return _refused("feed:empty")
    if text.lstrip().startswith("{"):
        return _parse_json_feed(text, feed, feed_url, now)
    if (doctype := _DOCTYPE.search(text)) and _ENTITY_DECL.search(text, doctype.end()):
        return _refused("feed:dtd_entities")
    bounded, over_limit = _within_budget(text)
    if bounded is None:
        return _refused("feed:too_complex")
    document = _CHAR_REF.sub(_char_ref, bounded).encode("utf-8")
    try:
        parsed = feedparser.parse(
            io.BytesIO(document),  # never bytes: see the module docstring
            response_headers={"content-location": feed_url, "content-type": _UTF8_XML},
            sanitize_html=False,  # entry text goes through html_to_text instead
            resolve_relative_uris=False,
        )
    except Exception:  # a large parser fed hostile text: count it, never fail the poll
        return _refused("feed:parser_error")
    if not parsed.entries and not parsed.get("version"):
        return _refused("feed:not_a_feed")
    result = _new_result(parsed.feed, feed, malformed=bool(parsed.bozo))
    _add_entries(result, parsed.entries, feed, feed_url, now)
    if over_limit:
        result.skipped["entry:over_limit"] += over_limit
    return result


def _refused(reason: str) -> ParsedFeed:
    return ParsedFeed([], malformed=True, reason=reason)


def _new_result(meta: Any, feed: Feed, *, malformed: bool) -> ParsedFeed:
    # The feeds file is the user's word, so it wins over what the feed declares.
    own = _language_code(meta.get("language"))
    language = feed.language or own
    declared_by = "configured" if feed.language else "feed" if own else None
    title = _clean(_str(meta.get("title")), MAX_SHORT)
    reason = "feed:malformed" if malformed else None
    return ParsedFeed([], title, language, declared_by, malformed, reason)


def _add_entries(
    result: ParsedFeed, raws: list[Any], feed: Feed, feed_url: str, now: datetime
) -> None:
    for raw in raws:
        entry, skip_reason = _entry(raw, feed, feed_url, result, now)
        if entry is None:
            result.skipped[skip_reason] += 1
        else:
            result.entries.append(entry)


# -- the document, before feedparser sees it --------------------------------------------

_COMPRESSED = (b"\x1f\x8b", b"\x28\xb5\x2f\xfd", b"BZh", b"\xfd7zXZ\x00", b"PK\x03\x04")
_UTF8_XML = "application/xml; charset=utf-8"
_DOCTYPE = re.compile(r"<!DOCTYPE", re.IGNORECASE)
_ENTITY_DECL = re.compile(r"<!ENTITY", re.IGNORECASE)
_CHAR_REF = re.compile(r"&#(?:[xX]([0-9a-fA-F]+)|([0-9]+));")
_XML_JUNK = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")  # not XML 1.0 characters
_ENTRY_START = re.compile(r"<(?:[A-Za-z_][\w.-]*:)?(?:item|entry)[\s/>]")
_LAST_ENTRY_END = re.compile(r".*</(?:[A-Za-z_][\w.-]*:)?(?:item|entry)\s*>", re.DOTALL)


def _char_ref(match: re.Match[str]) -> str:
    """A character reference if it names an XML character, else U+FFFD."""
    hex_digits, digits = match.groups()
    if len(hex_digits or digits) <= 8:
        code = int(hex_digits, 16) if hex_digits else int(digits)
        if code in (0x9, 0xA, 0xD) or 0x20 <= code <= 0xD7FF or 0xE000 <= code <= 0xFFFD:
            return match.group(0)
        if 0x10000 <= code <= 0x10FFFF:
            return match.group(0)
    return "\ufffd"


def _within_budget(text: str) -> tuple[str | None, int]:
    """The document without its entries past MAX_ENTRIES or past MAX_MARKUP, and how many
    entries it left out; None if the markup outside the entries is over MAX_MARKUP already."""
    starts = [match.start() for match in _ENTRY_START.finditer(text)]
    if len(starts) <= MAX_ENTRIES and _markup(text) <= MAX_MARKUP:
        return text, 0
    if not starts:
        return None, 0
    # The closing tags after the last entry, unless the document was cut off inside it.
    last_end = _LAST_ENTRY_END.match(text)
    tail = text[last_end.end() :] if last_end and last_end.end() > starts[-1] else ""
    budget = MAX_MARKUP - _markup(tail)
    # Cutting at starts[k] keeps k entries; find the most that stay within the budget.
    cuts = range(min(len(starts) - 1, MAX_ENTRIES) + 1)
    fits = bisect.bisect_right(cuts, budget, key=lambda k: _markup(text, starts[k]))
    if fits == 0:
        return None, 0
    keep = fits - 1
    return text[: starts[keep]] + tail, len(starts) - keep


def _markup(text: str, end: int | None = None) -> int:
    """What parsing text[:end] costs feedparser, in tags: a tag is one or two SAX events, each
    an entity reference splits text into one more (measured: ~16 references cost a tag)."""
    return text.count("<", 0, end) + text.count("&", 0, end) // 16


# -- JSON Feed ----------------------------------------------------------------------------


def _parse_json_feed(text: str, feed: Feed, feed_url: str, now: datetime) -> ParsedFeed:
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):  # bad JSON, a 5,000-digit number, [[[[... too deep
        return _refused("feed:malformed" if "jsonfeed.org" in text[:2000] else "feed:not_a_feed")
    version = data.get("version") if isinstance(data, dict) else None
    if not isinstance(version, str) or not version.startswith("https://jsonfeed.org/version/"):
        return _refused("feed:not_a_feed")
    items = data.get("items")
    result = _new_result(data, feed, malformed=not isinstance(items, list))
    if isinstance(items, list):
        _add_entries(result, [_json_item(i) for i in items[:MAX_ENTRIES]], feed, feed_url, now)
        if len(items) > MAX_ENTRIES:
            result.skipped["entry:over_limit"] += len(items) - MAX_ENTRIES
    return result


def _json_item(item: Any) -> dict[str, Any]:
    """A JSON Feed item in feedparser's shape, so that one `_entry` serves both."""
    if not isinstance(item, dict):
        return {"malformed": True}
    html_body, summary = _str(item.get("content_html")), _str(item.get("summary"))
    text = summary or _str(item.get("content_text"))
    return {
        "link": _str(item.get("url")) or _str(item.get("external_url")),
        "id": _str(item.get("id")),
        "title": _str(item.get("title")),
        "title_detail": {"type": "text/plain"},
        "summary": text or html_body,
        "summary_detail": {"type": "text/plain" if text else "text/html"},
        "published": _str(item.get("date_published")),
        "published_parsed": _iso_date(item.get("date_published")),
        "updated": _str(item.get("date_modified")),
        "updated_parsed": _iso_date(item.get("date_modified")),
        "authors": item.get("authors") or [item.get("author")],  # 1.1, or 1.0's one author
        "tags": item.get("tags"),
    }


def _iso_date(value: Any) -> time.struct_time | None:
    try:
        moment = datetime.fromisoformat(_str(value))
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return moment.astimezone(UTC).timetuple()
    except (ValueError, OverflowError):
        return None


# -- entries ------------------------------------------------------------------------------


def _entry(
    raw: Any, feed: Feed, feed_url: str, document: ParsedFeed, now: datetime
) -> tuple[FeedEntry | None, str]:
    if raw.get("malformed"):
        return None, "entry:malformed"
    link, guid = _str(raw.get("link")), _str(raw.get("id"))
    if not link.strip() and guid.startswith(("http://", "https://")):
        link = guid
    url, problem = _entry_url(link, feed_url)
    title, summary = _text(raw, "title", MAX_SHORT), _text(raw, "summary", MAX_SUMMARY)
    published_at, guid = _entry_date(raw, now), _clean(guid, MAX_SHORT)
    identity = None
    if url is None:
        if not (title or summary):  # nothing a reader could be shown
            return None, problem
        # Still coverage: kept as a feed-only article with a stable identity of its own.
        when = published_at.isoformat() if published_at else ""
        identity = "\n".join([feed_url, guid] if guid else [feed_url, title, when])
    return (
        FeedEntry(
            feed_name=feed.name,
            url=url or "",
            title=title,
            summary=summary,
            published_at=published_at,
            guid=guid or None,
            authors=_names(raw.get("authors"), "name"),
            tags=_names(raw.get("tags"), "term"),
            language=document.language,
            language_declared_by=document.language_declared_by,
            # The feeds file wins; an aggregator's per-item <source> names the publisher.
            source=feed.source or _item_source(raw),
            link_problem=problem or None,
            identity=identity,
            feed_url=feed_url,
        ),
        "",
    )


def _entry_url(link: str, base: str) -> tuple[str | None, str]:
    """`link` made absolute against `base`, or None and why it is unusable."""
    link = _URL_BREAKS.sub("", link.strip())  # as browsers do (WHATWG URL Standard)
    if not link:
        return None, "entry:no_link"
    if len(link) > MAX_URL:
        return None, "entry:link_too_long"
    try:
        url = urljoin(base, link).replace(" ", "%20")
        parts = urlsplit(url)
        parts.port  # noqa: B018 -- raises ValueError on a port that is not a number
    except ValueError:
        return None, "entry:bad_link"
    if parts.scheme not in ("http", "https"):
        return None, "entry:bad_scheme"
    if not parts.hostname or _CONTROL.search(url):
        return None, "entry:bad_link"
    return url, ""


_URL_BREAKS = re.compile("[\t\n\r]")


def _text(raw: Any, key: str, limit: int) -> str:
    """Plain text of a title or summary, which feedparser may hand over as HTML."""
    detail = raw.get(f"{key}_detail")
    kind = detail.get("type", "") if isinstance(detail, dict) else "text/html"
    value = _str(raw.get(key))[: limit * 20]  # enough markup for `limit` characters of text
    return (html_to_text(value) if "html" in kind else _clean(value))[:limit]


def _names(items: Any, key: str) -> tuple[str, ...]:
    if not isinstance(items, list):
        return ()
    values = (i.get(key) if isinstance(i, dict) else i for i in items)  # JSON Feed: strings
    found = (_clean(_str(value), MAX_SHORT) for value in values)
    return tuple(name for name in found if name)[:MAX_NAMES]


def _item_source(raw: Any) -> str | None:
    source = raw.get("source")
    title = source.get("title") if isinstance(source, dict) else None
    return _clean(title, MAX_SHORT) or None if isinstance(title, str) else None


def _entry_date(raw: Any, now: datetime) -> datetime | None:
    for key in ("published", "updated", "created"):
        value = raw.get(f"{key}_parsed")
        if value:
            try:
                moment = datetime.fromtimestamp(calendar.timegm(value), UTC)
            except (OverflowError, ValueError, OSError):
                continue
            if EARLIEST <= moment <= now + MAX_FUTURE:
                return _in_stated_zone(moment, _str(raw.get(key)))
    return None


def _in_stated_zone(moment: datetime, text: str) -> datetime:
    """`moment` (feedparser's, in UTC) in the zone the feed wrote it in, where the text
    reads back as the same instant (RFC 822 or RFC 3339 with an offset)."""
    for parse in (email.utils.parsedate_to_datetime, datetime.fromisoformat):
        try:
            stated = parse(text.strip())
        except (TypeError, ValueError, IndexError, OverflowError):
            continue
        if stated.tzinfo is not None and stated == moment:
            return stated
    return moment


def _language_code(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    code = value.strip().lower().replace("_", "-").split("-")[0]
    code = {"nb": "no", "nn": "no"}.get(code, code)
    return code if LANGUAGE_CODE.match(code) else None


def html_to_text(markup: str) -> str:
    """Plain text of a bit of feed HTML (a summary, an HTML title), without scripts or styles."""
    if not markup or not markup.strip():
        return ""
    if "<" not in markup:
        return _clean(html.unescape(markup))
    try:
        tree = lxml.html.fragment_fromstring(markup, create_parent="div")
        lxml.etree.strip_elements(tree, "script", "style", with_tail=False)
        return _clean(tree.text_content())
    except (lxml.etree.LxmlError, ValueError):
        return _clean(html.unescape(re.sub(r"<[^>]*>", " ", markup)))


# C0 and C1 controls, and lone surrogates (which no UTF-8 encoder takes)
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")


def _clean(text: str, limit: int | None = None) -> str:
    return " ".join(_CONTROL.sub(" ", text).split())[:limit]


def _str(value: Any) -> str:
    """A string field of a hostile document: a string, a number as text, or ""."""
    if isinstance(value, str):
        return value
    return str(value) if isinstance(value, int | float) and not isinstance(value, bool) else ""

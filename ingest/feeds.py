"""Feeds: the feeds file, and turning a fetched feed document into entries.

Fetching is `ingest.http`'s job: feedparser only ever parses bytes we fetched ourselves, so
every request goes through the egress guard, the size cap and the timeouts.
"""

from __future__ import annotations

import calendar
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import feedparser
import lxml.html
import yaml
from lxml.etree import ParserError

from ingest.errors import ConfigError
from ingest.models import Feed, FeedEntry

FEED_KEYS = {"name", "url", "language", "source", "tags"}
_LANGUAGE = re.compile(r"^[a-z]{2}$")
# feedparser flags these as "bozo", but the document parsed fine: not worth a failure.
_BENIGN = (
    feedparser.NonXMLContentType,
    feedparser.CharacterEncodingOverride,
)
# A feed date this far in the future is a publisher's error (year 9999 ...), not a date.
MAX_FUTURE = timedelta(days=2)


def load_feeds(path: Path) -> list[Feed]:
    """Read and validate a feeds file: `feeds: [{name, url, language?, source?, tags?}]`.

    Every problem is collected and raised as one `ConfigError` naming the file and each
    feed, so a user fixes the whole file in one go.
    """
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the feeds file ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("feeds"), list):
        raise ConfigError(f"{path}: expected a mapping with a list under 'feeds'")
    feeds: list[Feed] = []
    problems: list[str] = []
    seen: set[str] = set()
    for position, item in enumerate(data["feeds"], start=1):
        feed, item_problems = _validate_feed(item, position)
        problems.extend(item_problems)
        if feed is None:
            continue
        if feed.name in seen:
            problems.append(f"feed {feed.name!r}: duplicate name")
            continue
        seen.add(feed.name)
        feeds.append(feed)
    if problems:
        raise ConfigError(f"{path}: " + "; ".join(problems))
    if not feeds:
        raise ConfigError(f"{path}: the 'feeds' list is empty")
    return feeds


def _validate_feed(item: Any, position: int) -> tuple[Feed | None, list[str]]:
    if not isinstance(item, dict):
        return None, [f"feed #{position}: expected a mapping, got {type(item).__name__}"]
    label = f"feed {item['name']!r}" if isinstance(item.get("name"), str) else f"feed #{position}"
    problems = [f"{label}: unknown key {key!r}" for key in sorted(set(item) - FEED_KEYS)]
    name, url = item.get("name"), item.get("url")
    if not isinstance(name, str) or not name.strip():
        problems.append(f"{label}: missing 'name'")
    if not isinstance(url, str) or not url.strip():
        problems.append(f"{label}: missing 'url'")
    elif urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).hostname:
        problems.append(f"{label}: url {url!r} is not an http(s) URL")
    language = item.get("language")
    if language is not None and (not isinstance(language, str) or not _LANGUAGE.match(language)):
        problems.append(f"{label}: language {language!r} is not a two-letter ISO 639-1 code")
    tags = item.get("tags", [])
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        problems.append(f"{label}: tags must be a list of strings")
    source = item.get("source")
    if source is not None and not isinstance(source, str):
        problems.append(f"{label}: source must be a string")
    if problems:
        return None, problems
    assert isinstance(name, str) and isinstance(url, str)
    return Feed(name.strip(), url.strip(), language, source, tuple(tags)), []


@dataclass
class ParsedFeed:
    """Entries found in one feed document, and what was wrong with it."""

    entries: list[FeedEntry]
    title: str = ""
    language: str | None = None
    malformed: bool = False  # parsed with errors (entries may still be there)
    reason: str | None = None  # feed:malformed, feed:not_a_feed, feed:empty
    skipped: Counter[str] = field(default_factory=Counter)  # entries left out, by reason


def parse_feed(
    content: bytes, feed: Feed, feed_url: str, now: datetime | None = None
) -> ParsedFeed:
    """Parse a fetched RSS/Atom document into entries; never raises on bad input."""
    now = now or datetime.now(UTC)
    if not content.strip():
        return ParsedFeed([], malformed=True, reason="feed:empty")
    # content-location makes feedparser resolve relative links against the feed's URL.
    parsed = feedparser.parse(content, response_headers={"content-location": feed_url})
    title = _clean(parsed.feed.get("title", ""))
    # The feeds file is the user's word, so it wins over what the feed declares.
    declared = feed.language or _language_code(parsed.feed.get("language"))
    result = ParsedFeed([], title=title, language=declared)
    if parsed.bozo and not isinstance(parsed.get("bozo_exception"), _BENIGN):
        result.malformed = True
        result.reason = "feed:malformed"
    if not parsed.entries and not parsed.version:
        result.malformed = True
        result.reason = "feed:not_a_feed"
        return result
    for raw in parsed.entries:
        entry, skip_reason = _entry(raw, feed, feed_url, declared, now)
        if entry is None:
            result.skipped[skip_reason] += 1
        else:
            result.entries.append(entry)
    return result


def _entry(
    raw: Any, feed: Feed, feed_url: str, language: str | None, now: datetime
) -> tuple[FeedEntry | None, str]:
    link = (raw.get("link") or "").strip()
    if not link and str(raw.get("id", "")).startswith(("http://", "https://")):
        link = raw["id"]
    if not link:
        return None, "entry:no_link"
    link = urljoin(feed_url, link)
    if urlsplit(link).scheme not in ("http", "https"):
        return None, "entry:bad_scheme"
    return (
        FeedEntry(
            feed_name=feed.name,
            url=link,
            title=_clean(raw.get("title", "")),
            summary=html_to_text(raw.get("summary", "")),
            published_at=_entry_date(raw, now),
            guid=raw.get("id"),
            authors=tuple(a["name"] for a in raw.get("authors", []) if a.get("name")),
            tags=tuple(t["term"] for t in raw.get("tags", []) if t.get("term")),
            language=language,
            # The feeds file wins; an aggregator's per-item <source> names the publisher.
            source=feed.source or _item_source(raw),
        ),
        "",
    )


def _item_source(raw: Any) -> str | None:
    source = raw.get("source")
    title = source.get("title") if isinstance(source, dict) else None
    return _clean(title) or None if isinstance(title, str) else None


def _entry_date(raw: Any, now: datetime) -> datetime | None:
    for key in ("published_parsed", "updated_parsed", "created_parsed"):
        value = raw.get(key)
        if value:
            try:
                moment = datetime.fromtimestamp(calendar.timegm(value), UTC)
            except (OverflowError, ValueError, OSError):
                continue
            if moment <= now + MAX_FUTURE:
                return moment
    return None


def _language_code(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    code = value.strip().lower().replace("_", "-").split("-")[0]
    code = {"nb": "no", "nn": "no"}.get(code, code)
    return code if _LANGUAGE.match(code) else None


def html_to_text(markup: str) -> str:
    """Plain text of a feed's HTML summary."""
    if not markup or not markup.strip():
        return ""
    if "<" not in markup:
        return _clean(markup)
    try:
        return _clean(lxml.html.fromstring(markup).text_content())
    except (ParserError, ValueError):
        return _clean(re.sub(r"<[^>]*>", " ", markup))


def _clean(text: str) -> str:
    return " ".join(str(text).split())
